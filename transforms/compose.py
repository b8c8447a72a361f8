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

from .billing import Billing, Context

INVOICE_FIELDS = {
    "invoice_to_name": "name", "invoice_to_addition": "addition",
    "address_line_1": "address_line_1", "address_line_2": "address_line_2",
    "address_line_3": "address_line_3", "address_line_4": "address_line_4",
    "po_box": "po_box", "zip": "zip", "city": "city", "region": "region",
    "country": "country_code",
}


def booking_sort_key(booking_number: pd.Series) -> pd.Series:
    """Numeric booking numbers in numeric order, others after them in text order."""
    bn = booking_number.astype("str")
    digits = bn.str.fullmatch(r"\d+").fillna(False).astype(bool)
    return pd.Series(np.where(digits, "0" + bn.str.zfill(30), "1" + bn), index=bn.index)


def compose(b: Billing, ctx: Context) -> Billing:
    lines = b.lines
    company = ctx.settings.code
    po = lines["po_number"].fillna("")
    key = (company + " | " + lines["invoice_to_bp"] + " | " + lines["currency"] + " | "
           + lines["payment_terms"] + " | " + po)
    single = ~lines["combine"].astype(bool)
    key = key.where(~single, key + " | " + lines["booking_number"])
    lines = lines.assign(invoice_key=key.astype("str"),
                         _sort=booking_sort_key(lines["booking_number"]))
    lines = (lines.sort_values(["invoice_key", "_sort", "charge_type"], kind="stable")
             .drop(columns="_sort").reset_index(drop=True))
    lines["line_number"] = lines.groupby("invoice_key", sort=False).cumcount() + 1
    first = lines.drop_duplicates("invoice_key", keep="first")
    invoices = pd.DataFrame({
        "invoice_key": first["invoice_key"].to_numpy(),
        "financial_company": company,
        "composition_reference": first["invoice_key"].to_numpy(),
        "invoice_to_bp": first["invoice_to_bp"].to_numpy(),
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
    invoices["line_count"] = lines.groupby("invoice_key", sort=False).size().to_numpy()
    tax_date = lines.groupby("invoice_key", sort=False)["tax_date"].max()
    invoices["tax_date"] = tax_date.to_numpy()
    return Billing(lines, b.problems, invoices, b.taxes, b.notes)
