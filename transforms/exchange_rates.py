"""Exchange rates into the home currencies (DESIGN.md §4 exchange_rates.csv, §5 "Currency").

The rate valid on a date is the latest with ``valid_from`` on or before it. A missing rate is
an error for the invoices that need it, never a silent 1; a rate older than
``max_rate_age_days`` is used but reported, so stale reference data is seen.

"Wechselkurs vom" (``exchange_rate_date``) is the date of the rate used — the ``valid_from`` of
the rate row, not the date it was looked up for: an invoice of 1 December converted at the
rate of 30 October says 30 October. With several home currencies it is the oldest of the rates
used (the one a reader must know is old); an invoice converted at none (every home currency is
its own) keeps the date asked for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas.problems import Reason

from . import money
from .steps import Billing, Context, Rejection, distinct_rows, first_rows


def lookup_rates(wanted: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """``wanted`` has rate_type, from_currency, to_currency, date; adds rate, factor and
    valid_from (missing where no rate is valid). Same currency is rate 1, factor 1."""
    keys = ["rate_type", "from_currency", "to_currency"]
    wanted = wanted.reset_index(drop=True).assign(
        _pos=lambda f: np.arange(len(f)), date=lambda f: f["date"].astype("datetime64[ns]"),
        # same key dtype as the table even when nothing is wanted (an empty object column)
        **{c: (lambda f, c=c: f[c].astype("str")) for c in keys})
    probe = wanted.sort_values("date")
    rates = rates.assign(valid_from=rates["valid_from"].astype("datetime64[ns]"))
    found = pd.merge_asof(probe, rates.sort_values("valid_from")[
        ["rate_type", "from_currency", "to_currency", "valid_from", "rate", "factor"]],
        left_on="date", right_on="valid_from", by=["rate_type", "from_currency", "to_currency"],
        direction="backward").sort_values("_pos").reset_index(drop=True)
    same = (found["from_currency"] == found["to_currency"]).to_numpy()
    found["rate"] = found["rate"].astype("Int64").where(~same, money.RATE_SCALE)
    found["factor"] = found["factor"].astype("Int64").where(~same, 1)
    found["valid_from"] = found["valid_from"].where(~same, found["date"])
    return found.drop(columns="_pos")


def assign_exchange_rates(b: Billing, ctx: Context) -> Billing:
    inv = b.invoices
    rates = ctx.tables["exchange_rates"]
    homes = ctx.settings.home_currencies
    # looked up once per distinct (rate type, currency, date): a run has a handful
    fields = ["exchange_rate_type", "currency", "exchange_rate_date"]
    combo = distinct_rows(inv, fields)
    each = inv[fields].iloc[first_rows(combo)].reset_index(drop=True)
    missing = np.zeros(len(each), dtype=bool)
    why = np.full(len(each), "", dtype=object)
    stale_notes = []
    out = inv.copy()
    used_from = each["exchange_rate_date"].astype("datetime64[ns]").to_numpy().copy()
    # one lookup for all home currencies, one block of rows per home currency
    m = len(each)
    all_found = lookup_rates(pd.DataFrame({
        "rate_type": np.tile(each["exchange_rate_type"].to_numpy(), len(homes)),
        "from_currency": np.tile(each["currency"].to_numpy(), len(homes)),
        "to_currency": np.repeat(np.array(homes, dtype=object), m),
        "date": np.tile(each["exchange_rate_date"].to_numpy(), len(homes))}), rates)
    for k in (1, 2, 3):
        if k > len(homes):
            out[f"home_currency_{k}"] = None
            out[f"exchange_rate_{k}"] = pd.array([None] * len(out), dtype="Int64")
            out[f"rate_factor_{k}"] = pd.array([None] * len(out), dtype="Int64")
            continue
        h = homes[k - 1]
        found = all_found.iloc[(k - 1) * m:k * m].reset_index(drop=True)
        miss = found["rate"].isna().to_numpy()
        first_miss = miss & ~missing
        why[first_miss] = (each["currency"] + "→" + h + " (" + each["exchange_rate_type"]
                           + ")").to_numpy()[first_miss]
        missing |= miss
        # rate 1 to its own currency has no rate row: it leaves the date as it is
        own = (found["from_currency"] == found["to_currency"]).to_numpy()
        vf = found["valid_from"].to_numpy(dtype="datetime64[ns]")
        # a rate row is valid from on or before the date asked: the oldest one used wins
        used_from = np.where(~miss & ~own, np.minimum(vf, used_from), used_from)
        age = (found["date"] - found["valid_from"]).dt.days
        stale = (age > ctx.settings.max_rate_age_days) & ~miss
        for row in found.loc[stale, ["from_currency", "to_currency", "rate_type", "valid_from"]] \
                .drop_duplicates().itertuples(index=False):
            stale_notes.append(("flags", "stale_exchange_rate", row.from_currency,
                                f"{row.from_currency}→{row.to_currency} {row.rate_type} "
                                f"{row.valid_from:%Y-%m-%d}"))
        out[f"home_currency_{k}"] = h
        out[f"exchange_rate_{k}"] = found["rate"].astype("Int64").array.take(combo)
        out[f"rate_factor_{k}"] = found["factor"].astype("Int64").array.take(combo)
    out["exchange_rate_date"] = used_from[combo]
    missing = pd.Series(missing[combo], index=inv.index)
    why = pd.Series(why[combo], index=inv.index)
    notes = b.notes + tuple(stale_notes)
    if not missing.any():
        return Billing(b.lines, b.problems, out.reset_index(drop=True), b.taxes, notes)
    bad_keys = inv.loc[missing, "invoice_key"]
    why_of = dict(zip(inv["invoice_key"], why))
    b = b.reject_first([Rejection(
        b.lines["invoice_key"].isin(bad_keys), Reason.NO_EXCHANGE_RATE.name, "price",
        detail=lambda rows: rows["invoice_key"].map(why_of),
        value=pd.Timestamp(ctx.params.exchange_rate_date
                           or ctx.params.invoice_date).strftime("%Y-%m-%d"))])
    out = out.loc[~missing].reset_index(drop=True)
    taxes = b.taxes
    if taxes is not None:
        taxes = taxes[~taxes["invoice_key"].isin(bad_keys)].reset_index(drop=True)
    return Billing(b.lines, b.problems, out, taxes, notes)
