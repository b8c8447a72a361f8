"""From canonical booking orders to the workbook's tables: the billing steps in their order.

``bill`` is pure: the same orders, settings, parameters and tables give the same tables.
"""

from __future__ import annotations

import pandas as pd

from schemas.columns import DATE
from schemas.settings import Settings
from schemas.workbook import DEFERRALS, INVOICES, LINES, REJECTED, TAXES

from .billability import classify
from .steps import Billing, Context, run_steps
from .compose import compose
from .home_currency import convert
from .customers import attach_customers
from .deferrals import deferral_table
from .exchange_rates import assign_exchange_rates
from .numbering import number_invoices
from .partition import merge
from .periods import assign_periods
from .reconcile import rejected_sheet
from .tax import assign_tax_code, assign_tax_rate, compute_tax
from .terms import apply_terms
from .totals import invoice_totals

#: the steps each partition runs on its own: nothing in them looks across invoice-to parties
PARTITION_STEPS = [
    classify, attach_customers, assign_tax_code, assign_tax_rate, compose,
    assign_exchange_rates, compute_tax, invoice_totals, apply_terms, convert, assign_periods,
]
#: the steps that need the whole company at once, after the partitions are merged
MERGED_STEPS = [number_invoices]
STEPS = PARTITION_STEPS + MERGED_STEPS


def bill_partition(orders: pd.DataFrame, ctx: Context, progress=None):
    """Bill one partition up to (not including) numbering; its problems are its own only."""
    return run_steps(Billing(orders), ctx, PARTITION_STEPS, progress)


def finish(problems: pd.DataFrame, parts: list[Billing], ctx: Context, progress=None):
    """Merge billed partitions and number the invoices (see transforms.partition.merge)."""
    return run_steps(merge(problems, parts), ctx, MERGED_STEPS, progress)


def bill(orders: pd.DataFrame, problems: pd.DataFrame, ctx: Context, progress=None):
    """All steps in this process: one partition, the same path as a partitioned run."""
    part, t1 = bill_partition(orders, ctx, progress)
    billing, t2 = finish(problems, [part], ctx, progress)
    return billing, t1 + t2


def output_tables(billing: Billing, language: str,
                  settings: Settings | None = None) -> dict[str, pd.DataFrame]:
    """The frames of the Invoices, Lines, Taxes and Rejected sheets, checked against their
    contracts (strict: no missing or extra column); with ``settings`` of a company that has
    ``deferrals`` on, the Deferrals sheet's frame as well (from the Lines and Invoices sheets',
    so its totals are their net to the unit)."""
    tables = {
        "invoices": billing.invoices,
        "lines": billing.lines,
        "taxes": billing.taxes,
        "rejected": rejected_sheet(billing.problems, language),
    }
    for sheet in (INVOICES, LINES, TAXES, REJECTED):
        tables[sheet.id] = _conform(tables[sheet.id], sheet)
        sheet.validate(tables[sheet.id])
    if settings is not None and settings.deferrals:
        tables["deferrals"] = _conform(deferral_table(
            tables["lines"], tables["invoices"], settings.fiscal_year_start_month), DEFERRALS)
        DEFERRALS.validate(tables["deferrals"])
    return tables


def _conform(frame: pd.DataFrame, sheet) -> pd.DataFrame:
    """The sheet's columns in their contract's dtypes (``Col.dtype``), on a 0.. index. Most
    columns have their dtype already: they are kept, not converted or copied, and the few
    that are not are replaced in the sheet's selection (a frame built anew from a hundred
    columns cost twice as much)."""
    have = frame.dtypes
    out = None
    for c in sheet.cols:
        want = c.dtype().type
        if have[c.id] == want:
            continue
        if out is None:
            out = frame[sheet.ids]
        s = frame[c.id]
        out[c.id] = pd.to_datetime(s).astype(want) if c.kind == DATE else s.astype(want)
    if out is None:  # a frame of its own either way: the sheet's is never the billing's
        out = frame.copy(deep=False) if list(frame.columns) == sheet.ids else frame[sheet.ids]
    index = out.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        out = out.reset_index(drop=True)
    return out
