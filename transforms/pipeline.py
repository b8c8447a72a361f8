"""From canonical booking orders to the workbook's tables: the billing steps in their order.

``bill`` is pure: the same orders, settings, parameters and tables give the same tables.
"""

from __future__ import annotations

import pandas as pd

from schemas.workbook import INVOICES, LINES, REJECTED, TAXES

from .billable import classify
from .billing import Billing, Context, run_steps
from .compose import compose
from .currency import convert
from .customers import attach_customers
from .exchange import assign_exchange_rates
from .numbering import number_invoices
from .periods import assign_periods
from .reconcile import rejected_sheet
from .tax import assign_tax_code, assign_tax_rate, compute_tax
from .terms import apply_terms
from .totals import invoice_totals

STEPS = [
    classify, attach_customers, assign_tax_code, assign_tax_rate, compose,
    assign_exchange_rates, compute_tax, invoice_totals, apply_terms, convert, assign_periods,
    number_invoices,
]


def bill(orders: pd.DataFrame, problems: pd.DataFrame, ctx: Context, progress=None):
    billing, timings = run_steps(Billing(orders, problems), ctx, STEPS, progress)
    return billing, timings


def output_tables(billing: Billing, language: str) -> dict[str, pd.DataFrame]:
    """The frames of the Invoices, Lines, Taxes and Rejected sheets, checked against their
    contracts (strict: no missing or extra column)."""
    tables = {
        "invoices": billing.invoices[INVOICES.ids],
        "lines": billing.lines[LINES.ids],
        "taxes": billing.taxes[TAXES.ids],
        "rejected": rejected_sheet(billing.problems, language),
    }
    for sheet in (INVOICES, LINES, TAXES, REJECTED):
        tables[sheet.id] = _conform(tables[sheet.id], sheet)
        sheet.schema().validate(tables[sheet.id], lazy=True)
    return tables


def _conform(frame: pd.DataFrame, sheet) -> pd.DataFrame:
    out = {}
    for c in sheet.cols:
        s = frame[c.id]
        if c.kind == "date":
            out[c.id] = pd.to_datetime(s).astype("datetime64[ns]")
        elif c.kind == "text":
            out[c.id] = s.astype("str")
        elif c.nullable:
            out[c.id] = s.astype("Int64")
        else:
            out[c.id] = s.astype("int64")
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)
