"""Amounts in the home currencies (DESIGN.md §5 "Currency").

home amount = round_h(amount / factor × rate); net, tax and invoice amount are converted on
their own, and the rounding difference home(invoice) − home(net) − home(tax) is shown as the
ERP's "Betrag Rundungsdifferenz". Line and tax-summary home amounts are allocated from the
invoice's so they add up to it exactly.

>>> import numpy as np
>>> to_home(np.array([100000]), np.array([2]), np.array([936500]), np.array([1]), np.array([2])).tolist()
[93650]
>>> to_home(np.array([1500000]), np.array([0]), np.array([568300]), np.array([100]), np.array([2])).tolist()
[852450]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import minor_units, money
from .steps import Billing, Context, positions


def to_home(amount, exp_from, rate, factor, exp_to, mode: str = money.HALF_UP) -> np.ndarray:
    """Minor units of one currency into minor units of another: amount / factor × rate,
    rounded once in the company's rounding ``mode``."""
    amount = np.asarray(amount, np.int64)
    num = np.asarray(rate, np.int64) * (10 ** np.asarray(exp_to, np.int64))
    den = (10 ** np.asarray(exp_from, np.int64)) * money.RATE_SCALE * np.asarray(factor, np.int64)
    return money.mul_div_round(amount, num, den, mode)


def convert(b: Billing, ctx: Context) -> Billing:
    inv = b.invoices.copy()
    taxes = b.taxes.copy()
    new_lines = {}  # the lines get columns only: no copy of the (large) frame
    e_from = minor_units.exponents(inv["currency"])
    homes = ctx.settings.home_currencies
    # each line's and tax row's invoice as its position: the groups of the allocations
    line_pos = positions(b.lines["invoice_key"], inv["invoice_key"])
    tax_pos = positions(taxes["invoice_key"], inv["invoice_key"])
    if (line_pos < 0).any() or (tax_pos < 0).any():
        raise ValueError("lines or taxes of an invoice that is not there")
    line_groups, tax_groups = money.Groups(line_pos), money.Groups(tax_pos)
    for k in (1, 2, 3):
        names = [f"{m}_hc_{k}" for m in ("net_amount", "tax_amount", "invoice_amount",
                                         "rounding_difference")]
        if k > len(homes) or not len(inv):
            for n in names:
                inv[n] = _missing(len(inv))
            new_lines[f"net_amount_hc_{k}"] = _missing(len(b.lines))
            new_lines[f"home_currency_{k}"] = None
            for n in (f"tax_base_hc_{k}", f"tax_amount_hc_{k}"):
                taxes[n] = _missing(len(taxes))
            taxes[f"home_currency_{k}"] = None
            continue
        h = homes[k - 1]
        e_to = minor_units.exponent(h)
        rate = inv[f"exchange_rate_{k}"].to_numpy(np.int64)
        factor = inv[f"rate_factor_{k}"].to_numpy(np.int64)
        conv = {m: to_home(inv[m].to_numpy(np.int64), e_from, rate, factor, e_to,
                           ctx.settings.rounding)
                for m in ("net_amount", "tax_amount", "invoice_amount")}
        inv[names[0]], inv[names[1]], inv[names[2]] = (conv["net_amount"], conv["tax_amount"],
                                                       conv["invoice_amount"])
        inv[names[3]] = conv["invoice_amount"] - conv["net_amount"] - conv["tax_amount"]
        new_lines[f"net_amount_hc_{k}"] = money.allocate(
            conv["net_amount"][line_pos], b.lines["net_amount"].to_numpy(np.int64), line_groups)
        new_lines[f"home_currency_{k}"] = h
        taxes[f"home_currency_{k}"] = h
        taxes[f"tax_base_hc_{k}"] = money.allocate(
            conv["net_amount"][tax_pos], taxes["tax_base"].to_numpy(np.int64), tax_groups)
        taxes[f"tax_amount_hc_{k}"] = money.allocate(
            conv["tax_amount"][tax_pos], taxes["tax_amount"].to_numpy(np.int64), tax_groups)
    return Billing(b.lines.assign(**new_lines), b.problems, inv, taxes, b.notes)


def _missing(n: int) -> pd.arrays.IntegerArray:
    """A column of ``n`` missing amounts (no such home currency)."""
    return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
