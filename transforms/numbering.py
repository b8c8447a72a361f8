"""Provisional invoice numbers and the final shape of the three output tables.

A draft's numbers are provisional (DESIGN.md §5): deterministic within the run, in the order
of the composition key, so the same input gives the same numbers. Final gapless numbers come
from the state store, which assigns them in the transaction that records the delivery.

>>> provisional_numbers(3, "R1A2B3C4").tolist()
['P-R1A2B3C4-00001', 'P-R1A2B3C4-00002', 'P-R1A2B3C4-00003']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import payment_reference
from .steps import Billing, Context, distinct_rows, first_rows, positions, sort_codes

DRAFT_STATUS = "ready_to_print"
INVOICE = "invoice"


def provisional_numbers(count: int, run_id: str) -> np.ndarray:
    seq = pd.Series(np.arange(1, count + 1)).astype("str").str.zfill(5)
    return ("P-" + run_id + "-" + seq).to_numpy(dtype=object)


def number_invoices(b: Billing, ctx: Context) -> Billing:
    inv = b.invoices.sort_values("invoice_key", kind="stable").reset_index(drop=True)
    inv["invoice_number"] = provisional_numbers(len(inv), ctx.run_id)
    inv["invoice_status"] = DRAFT_STATUS
    inv["document_type"] = INVOICE
    inv["linked_invoice_number"] = None
    inv["invoice_run"] = ctx.run_id
    inv["payment_reference"] = payment_reference.assign(inv, ctx.settings.code,
                                                        ctx.settings.qr_iban is not None)
    number = dict(zip(inv["invoice_key"], inv["invoice_number"]))
    lines = in_number_order(b.lines, inv)
    names = lines[["orderer_first_name", "orderer_last_name"]]
    combo = distinct_rows(names, list(names.columns))  # a name is joined once, not per line
    reps = names.iloc[first_rows(combo)]
    joined = (reps["orderer_first_name"].fillna("") + " "
              + reps["orderer_last_name"].fillna("")).str.strip().replace("", None)
    lines["orderer_name"] = joined.reset_index(drop=True).take(combo).set_axis(lines.index)
    taxes = b.taxes.assign(invoice_number=b.taxes["invoice_key"].map(number))
    taxes = taxes.sort_values(["invoice_number", "tax_code", "tax_rate"], kind="stable") \
        .reset_index(drop=True)
    return Billing(lines, b.problems, inv, taxes, b.notes)


def in_number_order(lines: pd.DataFrame, inv: pd.DataFrame) -> pd.DataFrame:
    """The lines with their invoice's number, sorted by number and line number. Lines that
    compose left in key order are in number order already and are not permuted again."""
    pos = positions(lines["invoice_key"], inv["invoice_key"])
    if (pos < 0).any():
        raise ValueError("lines of an invoice that is not there")
    numbers = inv["invoice_number"].astype("str").reset_index(drop=True)
    out = lines.assign(invoice_number=numbers.take(pos).set_axis(lines.index))
    if not len(out):
        return out.reset_index(drop=True)
    rank = sort_codes(numbers)[pos]  # numbers sort as text: P-…-100000 before P-…-99999
    line = lines["line_number"].to_numpy(np.int64)
    span = int(line.max()) - int(line.min()) + 1
    key = rank * span + (line - int(line.min()))
    if not (key[1:] >= key[:-1]).all():
        out = out.take(np.argsort(key, kind="stable"))
    return out.reset_index(drop=True)


PRINTED = "printed"


def final_order(invoices: pd.DataFrame) -> list[str]:
    """Provisional numbers in the order final numbers are given: credit notes first (by the
    number they credit), then invoices (by composition key)."""
    credit = invoices["document_type"] == "credit_note"
    first = invoices[credit].sort_values("linked_invoice_number", kind="stable")
    rest = invoices[~credit].sort_values("invoice_number", kind="stable")
    return list(first["invoice_number"]) + list(rest["invoice_number"])


def apply_numbers(b: Billing, mapping: dict[str, str], status: str = PRINTED,
                  company: str | None = None, qr: bool = False) -> Billing:
    """Replace provisional numbers by the given ones in all three tables (and, given the
    company, derive the payment references from the new numbers)."""
    def renumber(frame):
        out = frame.assign(invoice_number=frame["invoice_number"].map(mapping)
                           .fillna(frame["invoice_number"]))
        return out
    inv = renumber(b.invoices).assign(invoice_status=status)
    if company is not None:
        inv["payment_reference"] = payment_reference.assign(inv, company, qr)
    inv = inv.sort_values("invoice_number", kind="stable").reset_index(drop=True)
    lines = renumber(b.lines).sort_values(["invoice_number", "line_number"], kind="stable") \
        .reset_index(drop=True)
    taxes = renumber(b.taxes).sort_values(["invoice_number", "tax_code", "tax_rate"],
                                          kind="stable").reset_index(drop=True)
    return Billing(lines, b.problems, inv, taxes, b.notes)
