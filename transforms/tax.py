"""Tax code, rate and amount (DESIGN.md §5 "Tax").

The code comes from the first matching rule in tax_rules.csv, never a guess; the rate is the
one valid on the line's rate date (``tax_rate_date``: service begin or end, order or invoice
date). The tax *period* is decided by another date (``tax_period_date``, default the invoice
date): under Swiss agreed consideration (MWSTG art. 40) the tax is due in the period the
invoice is issued, while the date of the service still decides the rate; under German
Soll-Besteuerung (UStG § 13 Abs. 1 Nr. 1a) it is due for the period the service is performed
in. Each line keeps both dates (``tax_date`` for the rate, ``tax_period_date``); the invoice's
tax date is the latest period date of its lines (see compose). With ``tax_rounding = "invoice"`` the tax of each invoice and
rate is rounded once, ``round(Σ net × rate / 100)``, and allocated to its lines by largest
remainder, so the lines add up to it exactly; with ``"line"`` every line is rounded.

>>> import numpy as np
>>> tax_amounts(np.array([333, 333, 334]), np.array([81000] * 3), np.array(["a"] * 3),
...     "invoice").tolist()
[27, 27, 27]
>>> tax_amounts(np.array([333, 333, 334]), np.array([81000] * 3), np.array(["a"] * 3),
...     "line").tolist()
[27, 27, 27]
"""

from __future__ import annotations

import fnmatch

import numpy as np
import pandas as pd

from schemas.problems import Reason

from . import money
from .steps import Billing, Context, Rejection, distinct_rows, first_rows

HUNDRED_PERCENT = 100 * money.PERCENT_SCALE


def _matches(values: pd.Series, pattern) -> pd.Series:
    if pattern is None or pd.isna(pattern) or pattern == "*":
        return pd.Series(True, index=values.index)
    regex = fnmatch.translate(str(pattern))
    return values.astype("str").fillna("").str.match(regex).fillna(False).astype(bool)


def assign_tax_code(b: Billing, ctx: Context) -> Billing:
    lines = b.lines
    rules = ctx.tables["tax_rules"]
    # the rules look at three fields; an export repeats a few hundred combinations of them, so
    # the rules are matched once per distinct combination and the codes mapped back
    fields = ["cost_center", "product_ref", "country_code"]
    combo = distinct_rows(lines, fields)
    reps = lines[fields].iloc[first_rows(combo)]
    code = pd.Series(None, index=reps.index, dtype="object")
    # rules are few (tens); each is applied to all combinations at once
    for rule in rules.itertuples(index=False):
        hit = (code.isna() & _matches(reps["cost_center"], rule.cost_center)
               & _matches(reps["product_ref"], rule.product_ref)
               & _matches(reps["country_code"], rule.country))
        code[hit] = rule.tax_code
    tax_code = pd.Series(code.to_numpy(), dtype="str").take(combo).set_axis(lines.index)
    b = Billing(lines.assign(tax_code=tax_code), b.problems, notes=b.notes)
    return b.reject_first([Rejection(
        tax_code.isna(), Reason.NO_TAX_RULE.name, "cost_center",
        value=lambda rows: (rows["cost_center"].fillna("") + " / "
                            + rows["product_ref"].fillna("") + " / "
                            + rows["country"].fillna("")))])


#: the deprecated names of tax_date_basis, read as the date they meant
_OLD_BASIS = {"service_date": "service_begin"}


def tax_dates(lines: pd.DataFrame, basis: str, invoice_date) -> pd.Series:
    """Each line's date named by ``basis`` (a line column, or ``invoice_date``); a line
    without one takes the invoice date, the date the tax arises at the latest."""
    inv = pd.Timestamp(invoice_date)
    basis = _OLD_BASIS.get(basis, basis)
    if basis == "invoice_date":
        d = pd.Series(pd.NaT, index=lines.index, dtype="datetime64[ns]")
    elif basis in ("service_begin", "service_end", "order_date"):
        d = lines[basis]
    else:
        raise ValueError(f"unknown tax date basis {basis!r}")
    return d.fillna(inv).astype("datetime64[ns]")


def assign_tax_rate(b: Billing, ctx: Context) -> Billing:
    s, inv = ctx.settings, ctx.params.invoice_date
    rate_date = tax_dates(b.lines, s.tax_rate_date, inv)
    period_date = (rate_date if s.tax_period_date == s.tax_rate_date
                   else tax_dates(b.lines, s.tax_period_date, inv))
    lines = b.lines.assign(tax_date=rate_date, tax_period_date=period_date)
    codes = ctx.tables["tax_codes"].sort_values("valid_from")
    # looked up once per distinct (tax code, tax date): an export has a few hundred
    combo = distinct_rows(lines, ["tax_code", "tax_date"])
    wanted = lines[["tax_code", "tax_date"]].iloc[first_rows(combo)].reset_index(drop=True)
    probe = wanted.reset_index().sort_values("tax_date")
    found = pd.merge_asof(probe, codes[["tax_code", "valid_from", "valid_to", "rate"]],
                          left_on="tax_date", right_on="valid_from", by="tax_code",
                          direction="backward").set_index("index").reindex(wanted.index)
    found_valid = found["rate"].notna() & ~(found["valid_to"] < found["tax_date"])
    rate = found["rate"].where(found_valid).fillna(0).astype(np.int64).to_numpy()
    valid = found_valid.to_numpy()[combo]
    lines = lines.assign(tax_rate=rate[combo])
    b = Billing(lines, b.problems, notes=b.notes)
    return b.reject_first([Rejection(
        ~valid, Reason.NO_TAX_RATE.name, "tax_code", detail=lines["tax_code"],
        value=lambda rows: rows["tax_date"].dt.strftime("%Y-%m-%d"))])


def tax_amounts(net, rate, group, rounding: str, mode: str = money.HALF_UP) -> np.ndarray:
    """Tax per line from net minor units and rates (scaled percent) within ``group``s of one
    invoice and rate; ``mode`` is the company's rounding mode (the ERP's)."""
    net = np.asarray(net, dtype=np.int64)
    rate = np.asarray(rate, dtype=np.int64)
    if rounding == "line":
        return money.mul_div_round(net, rate, HUNDRED_PERCENT, mode)
    groups = group if isinstance(group, money.Groups) else money.Groups(group)
    group_tax = money.mul_div_round(groups.sum(net), rate, HUNDRED_PERCENT, mode)
    return money.allocate(group_tax, net, groups)


def net_from_gross(gross, rate, mode: str = money.HALF_UP) -> np.ndarray:
    """Net of a tax-inclusive price, round(price × 100 / (100 + rate)), per line."""
    rate = np.asarray(rate, dtype=np.int64)
    return money.mul_div_round(np.asarray(gross, dtype=np.int64), HUNDRED_PERCENT,
                               HUNDRED_PERCENT + rate, mode)


def compute_tax(b: Billing, ctx: Context) -> Billing:
    lines = b.lines
    amount = lines["amount"].to_numpy(np.int64)
    rate = lines["tax_rate"].to_numpy(np.int64)
    keys = ["invoice_key", "tax_code", "tax_rate"]
    groups = money.Groups(distinct_rows(lines, keys))  # one per invoice and rate
    if ctx.settings.prices_include_tax:
        net = net_from_gross(amount, rate, ctx.settings.rounding)
        tax = amount - net
    else:
        net = amount
        tax = tax_amounts(net, rate, groups, ctx.settings.tax_rounding, ctx.settings.rounding)
    lines = lines.assign(quantity=1, unit_price=amount, net_amount=net, tax_amount=tax,
                         line_amount=net + tax)
    # the tax summary: one row per invoice, code and rate, in key order
    first = groups.first()
    taxes = (lines[keys].iloc[first].reset_index(drop=True)
             .assign(tax_base=groups.totals(net), tax_amount=groups.totals(tax),
                     currency=lines["currency"].iloc[first].to_numpy())
             .sort_values(keys, kind="stable").reset_index(drop=True))
    straddle = taxes.groupby(["invoice_key", "tax_code"])["tax_rate"].transform("nunique") > 1
    notes = tuple(("flags", "tax_rate_change", None, key)
                  for key in taxes.loc[straddle, "invoice_key"].unique())
    return Billing(lines, b.problems, b.invoices, taxes, b.notes + notes)
