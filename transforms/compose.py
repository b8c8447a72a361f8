"""Composition of billable lines into invoices (DESIGN.md §5 "Composition").

Lines are combined per financial company, invoice-to party, currency, payment terms and PO
number; a customer who does not combine gets one invoice per booking order. The composition
reference names that key, so an accountant can see why lines share an invoice. Line and invoice
order is a pure function of the data, which keeps provisional numbers and the workbook's bytes
the same for the same input (DESIGN.md §9.4).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .steps import Billing, Context, sort_codes

INVOICE_FIELDS = {
    "invoice_to_name": "name", "invoice_to_addition": "addition",
    "address_line_1": "address_line_1", "address_line_2": "address_line_2",
    "address_line_3": "address_line_3", "address_line_4": "address_line_4",
    "po_box": "po_box", "zip": "zip", "city": "city", "region": "region",
    "country": "country_code",
}


#: invoice column -> line column set by attach_customers
PARTY_FIELDS = {
    "invoice_to_vat_id": "customer_vat_id", "invoice_to_language": "customer_language",
    "invoice_to_email": "customer_email", "invoice_to_is_address": "invoice_to_is_address",
}


def booking_sort_key(booking_number: pd.Series) -> pd.Series:
    """Numeric booking numbers in numeric order, others after them in text order."""
    bn = booking_number.astype("str")
    digits = bn.str.fullmatch(r"\d+").fillna(False).astype(bool)
    return pd.Series(np.where(digits, "0" + bn.str.zfill(30), "1" + bn), index=bn.index)


def booking_rank(booking_number: pd.Series) -> np.ndarray:
    """Integers in the order of :func:`booking_sort_key`. When every booking number is a
    number of at most 18 digits (OpenOlat's are), the number itself; else the rank of the key."""
    bn = booking_number.astype("str")
    digits = bn.str.fullmatch(r"\d+").fillna(False).astype(bool)
    if len(bn) and digits.all() and bn.str.len().max() <= 18:
        try:
            return pc.cast(pa.array(bn), pa.int64()).to_numpy()
        except pa.ArrowInvalid:  # digits Arrow does not read as a number: rank the keys
            pass
    return sort_codes(booking_sort_key(bn))


def composition_key(lines: pd.DataFrame, company: str) -> pd.Series:
    """company | invoice-to party | currency | payment terms | PO number, and the booking
    number for a customer who does not combine (joined by Arrow in one pass per line)."""
    sep = pa.scalar(" | ", pa.large_string())
    parts = [pa.scalar(company, pa.large_string()),
             *(_text(lines[c]) for c in ("invoice_to_bp", "currency", "payment_terms")),
             _text(lines["po_number"].fillna(""))]
    key = pc.binary_join_element_wise(*parts, sep)
    single = ~lines["combine"].astype(bool).to_numpy()
    if single.any():
        alone = pc.binary_join_element_wise(key, _text(lines["booking_number"]), sep)
        key = pc.if_else(pa.array(single), alone, key)
    return pd.Series(pd.arrays.ArrowStringArray(key), index=lines.index, dtype="str")


def _text(column: pd.Series) -> pa.Array:
    return pa.array(column.astype("str").array).cast(pa.large_string())


def compose(b: Billing, ctx: Context) -> Billing:
    lines = b.lines
    company = ctx.settings.code
    key = composition_key(lines, company)
    # sorted by key, booking number and charge type (stable), on integer codes of the three:
    # the frame is permuted once
    invoice = sort_codes(key)
    order = np.lexsort((sort_codes(lines["charge_type"]), booking_rank(lines["booking_number"]),
                        invoice))
    invoice = invoice[order]
    starts = np.flatnonzero(np.r_[True, invoice[1:] != invoice[:-1]]) if len(order) \
        else np.zeros(0, dtype=np.int64)
    count = np.diff(np.r_[starts, len(order)])
    first = lines.iloc[order[starts]]
    first_key = key.iloc[order[starts]].to_numpy()
    lines = lines.assign(invoice_key=key).take(order).reset_index(drop=True)
    lines["line_number"] = np.arange(len(lines), dtype=np.int64) - np.repeat(starts, count) + 1
    invoices = pd.DataFrame({
        "invoice_key": first_key,
        "financial_company": company,
        "composition_reference": first_key,
        "invoice_to_bp": first["invoice_to_bp"].to_numpy(),
        # the party's own details from customers.csv (transforms/customers.py); every line of
        # an invoice has the same invoice-to party, so its first line's are the invoice's
        **{out: (first[src].to_numpy() if src in first else None)
           for out, src in PARTY_FIELDS.items()},
        **{out: first[src].to_numpy() for out, src in INVOICE_FIELDS.items()},
        "po_number": first["po_number"].to_numpy(),
        "currency": first["currency"].to_numpy(),
        "payment_terms": first["payment_terms"].to_numpy(),
        "exchange_rate_type": first["exchange_rate_type"].to_numpy(),
        "invoice_date": pd.Timestamp(ctx.params.invoice_date),
        "exchange_rate_date": pd.Timestamp(ctx.params.exchange_rate_date
                                           or ctx.params.invoice_date),
    })
    for c in ("invoice_date", "exchange_rate_date"):
        invoices[c] = invoices[c].astype("datetime64[ns]")
    invoices["line_count"] = count.astype(np.int64)
    # the invoice's tax date decides its tax period: the latest period date of its lines
    invoices["tax_date"] = latest(lines["tax_period_date"].to_numpy(), starts)
    return Billing(lines, b.problems, invoices, b.taxes, b.notes)


def latest(dates: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The latest date of each run of rows beginning at ``starts`` (NaT only if all are)."""
    dates = dates.astype("datetime64[ns]")
    if not len(starts):
        return dates[:0]
    return np.maximum.reduceat(dates.view(np.int64), starts).view("datetime64[ns]")
