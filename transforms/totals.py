"""Invoice totals and cash rounding (DESIGN.md §5, §9.2).

net = Σ line net, tax = Σ line tax, and invoice amount = net + tax + cash rounding, where cash
rounding brings the amount to the currency's payable increment (e.g. CHF 0.05) when configured.

>>> import numpy as np
>>> cash_rounding(np.array([10032, 10038, 10025]), np.array([5, 5, 5])).tolist()
[-2, 2, 0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import minor_units, money
from .steps import Billing, Context


def cash_rounding(gross, increment, mode: str = money.HALF_UP) -> np.ndarray:
    """Adjustment that brings ``gross`` to a multiple of ``increment`` (both minor units);
    an increment of 1 means off."""
    return money.round_to_increment(gross, increment, mode) - np.asarray(gross, dtype=np.int64)


def increments(currency: pd.Series, table: dict[str, str]) -> np.ndarray:
    # parsed once per distinct currency (an invoice's currency is one of a few)
    codes, uniques = pd.factorize(currency, use_na_sentinel=False)
    uniques = pd.Series(uniques, dtype="object")
    exps = minor_units.exponents(uniques)
    text = uniques.map(table).fillna("0")
    inc, ok = money.to_minor(text, np.maximum(exps, 0))
    inc = np.where(ok & (inc > 0), inc, 1)
    return inc.astype(np.int64)[codes]


def invoice_totals(b: Billing, ctx: Context) -> Billing:
    sums = b.lines.groupby("invoice_key", sort=False)[["net_amount", "tax_amount"]].sum()
    inv = b.invoices.merge(sums, left_on="invoice_key", right_index=True, how="left",
                           validate="one_to_one")
    gross = (inv["net_amount"] + inv["tax_amount"]).to_numpy(np.int64)
    adj = cash_rounding(gross, increments(inv["currency"], ctx.settings.cash_rounding),
                        ctx.settings.rounding)
    inv = inv.assign(cash_rounding_amount=adj, invoice_amount=gross + adj)
    return Billing(b.lines, b.problems, inv, b.taxes, b.notes)
