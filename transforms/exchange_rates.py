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
import pyarrow as pa
import pyarrow.compute as pc

from schemas.problems import Reason

from . import money
from .steps import Billing, Context, Rejection, distinct_rows, first_rows


def lookup_rates(wanted: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """``wanted`` has rate_type, from_currency, to_currency, date; adds valid_from, rate and
    factor (missing where no rate is valid). Same currency is rate 1, factor 1.

    The rates are sorted by key and date and each wanted row finds its rate by one binary
    search: a run wants a few dozen rates from a table of tens of thousands, which a
    ``merge_asof`` by three text keys sorted and hashed in full every run (a property test
    holds the two to the same rows)."""
    keys = ["rate_type", "from_currency", "to_currency"]
    wanted = wanted.reset_index(drop=True).assign(
        date=lambda f: f["date"].astype("datetime64[ns]"),
        # same key dtype as the table even when nothing is wanted (an empty object column)
        **{c: (lambda f, c=c: f[c].astype("str")) for c in keys})
    # each key coded by the values the wanted rates have, a table row's key found by one
    # hash lookup a column; only the rows whose every key is one a wanted rate has can be its
    # rate: the table's other currencies are not sorted nor searched
    near = np.ones(len(rates), dtype=bool)
    code_of_rate = np.zeros(len(rates), dtype=np.int64)
    code_of_wanted = np.zeros(len(wanted), dtype=np.int64)
    for c in keys:
        codes, values = pd.factorize(wanted[c], use_na_sentinel=False)
        at_rate = pc.fill_null(pc.index_in(pa.array(rates[c].astype("str").array),
                                           value_set=pa.array(values)), -1).to_numpy()
        near &= at_rate >= 0
        code_of_rate = code_of_rate * len(values) + at_rate
        code_of_wanted = code_of_wanted * len(values) + codes
    near = np.flatnonzero(near)
    n = len(near)
    # numbered anew: few enough codes that a code and a day share one int64 below
    code = pd.factorize(np.concatenate([code_of_rate[near], code_of_wanted]))[0].astype(np.int64)
    day = np.concatenate([_days(rates["valid_from"].iloc[near]), _days(wanted["date"])])
    at = code * _DAY_SPAN + day  # one sortable integer per row: the key's code, then the day
    dated = np.flatnonzero(day[:n] >= 0)  # (a rate without a date stops the table's load)
    order = dated[np.argsort(at[:n][dated], kind="stable")]
    pos = np.searchsorted(at[:n][order], at[n:], side="right") - 1
    hit = (pos >= 0) & (day[n:] >= 0)
    hit[hit] = code[:n][order[pos[hit]]] == code[n:][hit]
    row = np.full(len(pos), -1, dtype=np.int64)
    row[hit] = near[order[pos[hit]]]
    found = wanted.assign(**{c: pd.Series(rates[c].astype(t).array.take(row, allow_fill=True))
                             for c, t in (("valid_from", "datetime64[ns]"), ("rate", "Int64"),
                                          ("factor", "Int64"))})
    same = (found["from_currency"] == found["to_currency"]).to_numpy()
    found["rate"] = found["rate"].where(~same, money.RATE_SCALE)
    found["factor"] = found["factor"].where(~same, 1)
    found["valid_from"] = found["valid_from"].where(~same, found["date"])
    return found


#: days are counted from 1600-01-01, before any date a frame holds (pandas' begin in 1677),
#: and stay below 2**20 until the year 4470
_DAY_ZERO = np.datetime64("1600-01-01", "D")
_DAY_SPAN = np.int64(2**20)


def _days(dates: pd.Series) -> np.ndarray:
    """Whole days since :data:`_DAY_ZERO`; a missing date is -1."""
    d = dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    return np.where(np.isnat(d), -1, (d - _DAY_ZERO).astype(np.int64))


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
        if first_miss.any():
            why[first_miss] = (each["currency"] + "→" + h + " (" + each["exchange_rate_type"]
                               + ")").to_numpy()[first_miss]
        missing |= miss
        # rate 1 to its own currency has no rate row: it leaves the date as it is
        own = (found["from_currency"] == found["to_currency"]).to_numpy()
        vf = found["valid_from"].to_numpy(dtype="datetime64[ns]")
        # a rate row is valid from on or before the date asked: the oldest one used wins
        used_from = np.where(~miss & ~own, np.minimum(vf, used_from), used_from)
        age = (found["date"] - found["valid_from"]).dt.days
        stale = ((age > ctx.settings.max_rate_age_days) & ~miss).to_numpy(bool)
        used = (found.loc[stale, ["from_currency", "to_currency", "rate_type", "valid_from"]]
                .drop_duplicates().itertuples(index=False) if stale.any() else ())
        for row in used:
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
