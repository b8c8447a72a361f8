"""Payment terms: due date and up to three early-payment discounts (Skonto), DESIGN.md §5.

due date = invoice date + net days; discount date k = invoice date + days k;
discount amount k = round(invoice amount × percent k / 100), in the company's rounding mode
(half away from zero unless ``rounding = "half_even"``).

>>> import numpy as np
>>> discount_amounts(np.array([12345, 100]), np.array([20000, 15000])).tolist()
[247, 2]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import money
from .steps import Billing, Context

HUNDRED_PERCENT = 100 * money.PERCENT_SCALE


def discount_amounts(amount, percent, mode: str = money.HALF_UP) -> np.ndarray:
    return money.mul_div_round(np.asarray(amount, np.int64), np.asarray(percent, np.int64),
                               HUNDRED_PERCENT, mode)


def apply_terms(b: Billing, ctx: Context) -> Billing:
    terms = ctx.tables["payment_terms"]
    inv = b.invoices
    t = inv[["payment_terms"]].merge(terms, left_on="payment_terms", right_on="code", how="left",
                                     validate="many_to_one")
    t.index = inv.index
    date = inv["invoice_date"]
    out = inv.assign(due_date=date + pd.to_timedelta(t["net_days"].astype("int64"), unit="D"))
    for k in (1, 2, 3):
        days = t[f"discount_days_{k}"]
        pct = t[f"discount_percent_{k}"]
        has = days.notna() & pct.notna()
        out[f"discount_date_{k}"] = (date + pd.to_timedelta(days.fillna(0).astype("int64"),
                                                            unit="D")).where(has)
        amt = discount_amounts(inv["invoice_amount"], pct.fillna(0).astype("int64"),
                               ctx.settings.rounding)
        out[f"discount_amount_{k}"] = pd.Series(amt, index=inv.index, dtype="Int64").where(has)
    return Billing(b.lines, b.problems, out, b.taxes, b.notes)
