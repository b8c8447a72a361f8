"""Credit notes: the exact negation of a delivered invoice (DESIGN.md §5, §9.6).

A credit note is built from the invoice as it was delivered (kept in the state store), not
recomputed: every amount — lines, taxes, home currencies at the original rates, rounding
differences, discount amounts — is negated, so invoice + credit note is zero to the unit in
every currency.
It references the original (linked_invoice_number) and is dated, and falls into the periods
of, the run that issues it.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from schemas.columns import AMOUNT, DATE
from schemas.workbook import INVOICES, LINES, TAXES

from .steps import Billing
from .periods import fiscal, tax_period

CREDIT_NOTE = "credit_note"
CREDIT = "credit"


def _frame(records: list[dict], sheet) -> pd.DataFrame:
    # column by column as Python objects: a None among integers must not turn them into floats
    frame = pd.DataFrame({c: pd.Series([r.get(c) for r in records], dtype="object")
                          for c in sheet.ids})
    for c in sheet.cols:
        if c.kind == DATE:
            frame[c.id] = pd.to_datetime(frame[c.id]).astype("datetime64[ns]")
        elif c.kind == AMOUNT or c.kind in ("int", "percent", "rate"):
            frame[c.id] = pd.array([None if v is None else int(v) for v in frame[c.id]],
                                   dtype="Int64")
    return frame


def _negate(frame: pd.DataFrame, sheet) -> pd.DataFrame:
    out = frame.copy()
    for c in sheet.cols:
        if c.kind == AMOUNT:
            out[c.id] = -out[c.id]
    return out


def credit_notes(originals: dict[str, dict], invoice_date, run_id: str) -> tuple[pd.DataFrame, ...]:
    """Invoices, Lines and Taxes rows of one credit note per original invoice, numbered
    provisionally ``C-<run>-00001`` in the order of the original numbers."""
    inv_rows, line_rows, tax_rows = [], [], []
    for seq, number in enumerate(sorted(originals), start=1):
        data = originals[number]
        credit_no = f"C-{run_id}-{seq:05d}"
        inv_rows.append({**data["invoice"], "invoice_number": credit_no})
        line_rows += [{**r, "invoice_number": credit_no} for r in data["lines"]]
        tax_rows += [{**r, "invoice_number": credit_no} for r in data["taxes"]]
    inv = _negate(_frame(inv_rows, INVOICES), INVOICES)
    lines = _negate(_frame(line_rows, LINES), LINES)
    taxes = _negate(_frame(tax_rows, TAXES), TAXES)
    date = pd.Timestamp(invoice_date)
    inv["linked_invoice_number"] = [r["invoice_number"] for r in
                                    (originals[n]["invoice"] for n in sorted(originals))]
    inv["document_type"] = CREDIT_NOTE
    inv["invoice_run"] = run_id
    for c in ("invoice_date", "tax_date", "due_date"):
        inv[c] = date
    # discount amounts are negated like every other amount (the discount the original
    # granted is reversed with it); their dates stay those of the original's terms
    inv["payment_reference"] = None
    lines["charge_type"] = CREDIT
    return inv, lines, taxes


def with_credit_notes(billing: Billing, originals: dict[str, dict], invoice_date, run_id: str,
                      settings) -> Billing:
    """``billing`` with a credit note for each of ``originals`` appended: the credit notes fall
    into the fiscal, reporting and tax periods of the run that issues them (its invoice date,
    the company's fiscal calendar and tax period) and are ready to print like its invoices."""
    if not originals:
        return billing
    inv, lines, taxes = credit_notes(originals, invoice_date, run_id)
    fy, fp = fiscal(inv["invoice_date"], settings.fiscal_year_start_month)
    ty, tp = tax_period(inv["tax_date"], settings.tax_period)
    inv = inv.assign(fiscal_year=fy, fiscal_period=fp, reporting_year=fy, reporting_period=fp,
                     tax_year=ty, tax_period=tp, invoice_status="ready_to_print")
    return replace(billing,
                   invoices=pd.concat([billing.invoices, inv], ignore_index=True),
                   lines=pd.concat([billing.lines, lines], ignore_index=True),
                   taxes=pd.concat([billing.taxes, taxes], ignore_index=True))


def as_records(frame: pd.DataFrame, sheet) -> list[dict]:
    """Rows as JSON-safe dicts (ints, ISO dates, None) for the state store."""
    out = []
    for row in frame[sheet.ids].to_dict(orient="records"):
        clean = {}
        for c in sheet.cols:
            v = row[c.id]
            if v is None or v is pd.NA or (isinstance(v, float) and v != v) or v is pd.NaT:
                clean[c.id] = None
            elif c.kind == DATE:
                clean[c.id] = pd.Timestamp(v).date().isoformat()
            elif c.kind == "text":
                clean[c.id] = str(v)
            else:
                clean[c.id] = int(v)
        out.append(clean)
    return out
