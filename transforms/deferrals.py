"""Deferred revenue: each line's net spread over the months of its service period.

The workbook books a line's revenue in the invoice's fiscal period; a course invoiced in
October and held from January to March is revenue of January to March for an accountant who
recognises revenue as the service is performed (IFRS 15, and OR 958b's accruals for a Swiss
annual account). The sheet "Abgrenzung / Deferrals" gives, per line and month of its service,
the part of its net, and per fiscal period the totals and what lies past the invoice's period —
the figure of the period-end deferral posting.

The rule:

- the service period is ``service_begin`` .. ``service_end``, both days included; the net is
  split in proportion to the service days in each month (the usual basis for courses, and the
  one a day-count of the period gives without a calendar of lessons);
- the parts are exact to the minor unit by largest remainder (:func:`transforms.money.allocate`):
  they add up to the line's net, each within one unit of its exact share, ties to the earlier
  month; no half is rounded, so the rounding mode does not enter;
- a line whose service begins and ends in one month has its whole net in that month; a line
  with a begin and no end, in the month of its begin; a line without a service date, in the
  month of its invoice date. Their ``days`` are blank where there is no service period to count;
- a month's fiscal year and period come from the fiscal calendar (periods are months);
  ``deferred_amount`` is the part of a month after the invoice's fiscal period (0 otherwise).

>>> import pandas as pd
>>> lines = pd.DataFrame({"invoice_number": ["R1"], "line_number": [1], "booking_number": ["7"],
...     "service_begin": pd.to_datetime(["2026-10-20"]), "service_end": pd.to_datetime(["2026-11-08"]),
...     "net_amount": [100000], "currency": ["CHF"]})
>>> invoices = pd.DataFrame({"invoice_number": ["R1"], "invoice_date": pd.to_datetime(["2026-10-30"]),
...     "fiscal_year": [2026], "fiscal_period": [10]})
>>> t = deferral_table(lines, invoices, 1)
>>> t[["deferral_row", "fiscal_period", "days", "net_amount", "deferred_amount"]].values.tolist()
[['line', 10, 12, 60000, 0], ['line', 11, 8, 40000, 40000], ['total', 10, <NA>, 60000, 0], ['total', 11, <NA>, 40000, 40000]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import money
from .periods import fiscal

LINE, TOTAL = "line", "total"
_DAY = np.timedelta64(1, "D")


def service_months(begin: pd.Series, end: pd.Series, fallback: pd.Series):
    """The months each line's service touches: ``(line, month_start, days, counted)`` with one
    entry per line and month, lines in order and months ascending. ``counted`` is false for a
    line without a complete service period (its one month carries the whole net)."""
    counted = (begin.notna() & end.notna()).to_numpy()
    b = begin.fillna(end).fillna(fallback).to_numpy().astype("datetime64[D]")
    e = end.where(begin.notna()).to_numpy().astype("datetime64[D]")
    e = np.where(counted, np.maximum(e, b), b)
    bm = b.astype("datetime64[M]").astype(np.int64)
    em = e.astype("datetime64[M]").astype(np.int64)
    count = em - bm + 1
    line = np.repeat(np.arange(len(b), dtype=np.int64), count)
    starts = np.r_[0, np.cumsum(count)[:-1]] if len(count) else np.zeros(0, np.int64)
    offset = np.arange(len(line), dtype=np.int64) - np.repeat(starts, count)
    month = (bm[line] + offset).astype("datetime64[M]")
    first = month.astype("datetime64[D]")
    last = (month + 1).astype("datetime64[D]") - _DAY
    days = (np.minimum(e[line], last) - np.maximum(b[line], first)) // _DAY + 1
    return line, first, days.astype(np.int64), counted[line]


def deferral_table(lines: pd.DataFrame, invoices: pd.DataFrame,
                   fiscal_year_start_month: int) -> pd.DataFrame:
    """The rows of the Deferrals sheet from the Lines and Invoices sheets' frames: one per line
    and service month, then one total per currency and fiscal period."""
    inv = invoices.set_index("invoice_number")
    pos = inv.index.get_indexer(lines["invoice_number"])
    if (pos < 0).any():
        raise ValueError("lines of an invoice that is not there")
    invoice_date = pd.Series(inv["invoice_date"].to_numpy()[pos], index=lines.index)
    line, month, days, counted = service_months(lines["service_begin"], lines["service_end"],
                                                invoice_date)
    net = lines["net_amount"].to_numpy(np.int64)
    part = money.allocate(net[line], np.where(counted, days, 1), line)
    fy, fp = fiscal(pd.Series(month.astype("datetime64[ns]")), fiscal_year_start_month)
    inv_fy = inv["fiscal_year"].to_numpy(np.int64)[pos][line]
    inv_fp = inv["fiscal_period"].to_numpy(np.int64)[pos][line]
    later = (fy > inv_fy) | ((fy == inv_fy) & (fp > inv_fp))
    rows = pd.DataFrame({
        "deferral_row": LINE,
        "invoice_number": lines["invoice_number"].to_numpy()[line],
        "line_number": lines["line_number"].to_numpy(np.int64)[line],
        "booking_number": lines["booking_number"].to_numpy()[line],
        "service_begin": lines["service_begin"].to_numpy()[line],
        "service_end": lines["service_end"].to_numpy()[line],
        "invoice_fiscal_year": inv_fy,
        "invoice_fiscal_period": inv_fp,
        "month": month.astype("datetime64[ns]"),
        "fiscal_year": fy,
        "fiscal_period": fp,
        "days": pd.array(np.where(counted, days, 0), dtype="Int64"),
        "currency": lines["currency"].to_numpy()[line],
        "net_amount": part,
        "deferred_amount": np.where(later, part, 0).astype(np.int64),
    })
    rows.loc[~counted, "days"] = pd.NA
    keys = ["currency", "fiscal_year", "fiscal_period"]
    totals = (rows.groupby(keys, sort=True)
              .agg(month=("month", "first"), net_amount=("net_amount", "sum"),
                   deferred_amount=("deferred_amount", "sum"))
              .reset_index())
    totals = totals.assign(deferral_row=TOTAL, invoice_number=None, booking_number=None,
                           line_number=pd.NA, service_begin=pd.NaT, service_end=pd.NaT,
                           invoice_fiscal_year=pd.NA, invoice_fiscal_period=pd.NA,
                           days=pd.NA)
    out = pd.concat([rows, totals[rows.columns]], ignore_index=True)
    for c in ("line_number", "invoice_fiscal_year", "invoice_fiscal_period", "days"):
        out[c] = out[c].astype("Int64")
    for c in ("net_amount", "deferred_amount", "fiscal_year", "fiscal_period"):
        out[c] = out[c].astype(np.int64)
    return out
