"""Fiscal, reporting and tax periods (DESIGN.md §5 "Periods").

Fiscal and reporting year and period come from the invoice date and the fiscal calendar (a year
is named by the calendar year it starts in); tax year and period from the tax date and the tax
period length (month, quarter, half year).

>>> import pandas as pd
>>> fiscal(pd.Series(pd.to_datetime(["2026-06-30", "2026-07-01"])), 7)
(array([2025, 2026]), array([12,  1]))
>>> tax_period(pd.Series(pd.to_datetime(["2026-11-24"])), "quarter")
(array([2026]), array([4]))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .steps import Billing, Context

_MONTHS = {"month": 1, "quarter": 3, "half_year": 6}


def fiscal(dates: pd.Series, start_month: int) -> tuple[np.ndarray, np.ndarray]:
    month = dates.dt.month.to_numpy()
    year = dates.dt.year.to_numpy()
    period = (month - start_month) % 12 + 1
    fy = np.where(month >= start_month, year, year - 1)
    return fy.astype(np.int64), period.astype(np.int64)


def tax_period(dates: pd.Series, length: str) -> tuple[np.ndarray, np.ndarray]:
    month = dates.dt.month.to_numpy()
    return dates.dt.year.to_numpy().astype(np.int64), ((month - 1) // _MONTHS[length] + 1).astype(np.int64)


def assign_periods(b: Billing, ctx: Context) -> Billing:
    inv = b.invoices
    fy, fp = fiscal(inv["invoice_date"], ctx.settings.fiscal_year_start_month)
    ty, tp = tax_period(inv["tax_date"], ctx.settings.tax_period)
    inv = inv.assign(fiscal_year=fy, fiscal_period=fp, reporting_year=fy, reporting_period=fp,
                     tax_year=ty, tax_period=tp)
    return Billing(b.lines, b.problems, inv, b.taxes, b.notes)
