"""Parse the text of a booking-order export into typed values, reporting every bad cell.

Parsing comes before validation (STYLE.md, pandera traps): a value that cannot be read is a
problem record naming its row, column and text, and never hides the other bad cells of its
column. Money text such as ``CHF\u00a01250.00`` becomes integer minor units without rounding,
in whichever format OpenOlat wrote it (``CHF\u00a01'250.00``, ``CHF\u00a01.250,00`` …: one
format per file, see :mod:`transforms.amounts`).

>>> raw = pd.DataFrame({"booking_number": ["7"], "booking_status": ["Bezahlt"],
...     "order_date": ["2026-05-12 00:00:00.0"], "price": ["CHF\u00a01250.00"],
...     "billing_address_id": ["BA-1"], "source": ["x.csv"], "source_row": [2]})
>>> frame, probs = parse_booking_orders(raw)
>>> frame.loc[0, "price"], frame.loc[0, "price_currency"], frame.loc[0, "booking_status"]
(np.int64(125000), 'CHF', 'PAYED')
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas import booking_order as bo
from schemas.problems import PROBLEM_COLUMNS, Reason, concat, problems

from . import amounts, minor_units, money
from .country import normalise

_MONEY_RE = (r"^\s*(?P<cur>[A-Za-z]{3})?[\s\u00a0\u202f]*"
             r"(?P<num>-?[0-9](?:[0-9.,' \u00a0\u202f]*[0-9])?)\s*(?P<cur2>[A-Za-z]{3})?\s*$")


# every way to write "null" that lower-cases to it: only ASCII letters lower-case to n, u, l
_NULLS = ["".join(p) for p in itertools.product(*zip("null", "NULL"))]
_BLANK_TEXTS = pa.array(["", *_NULLS])


def _stripped_blank(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    t = s.astype("str").str.strip()
    # one Arrow look-up instead of three pandas comparisons: a run checks every column twice
    blank = pc.is_in(pa.array(t), value_set=_BLANK_TEXTS).to_numpy(zero_copy_only=False)
    return t, pd.Series(s.isna().to_numpy() | blank, index=s.index, name=s.name)


def stripped_blanks(frame: pd.DataFrame, cols) -> dict[str, tuple[pd.Series, pd.Series]]:
    """:func:`_stripped_blank` of each of ``cols``, all their cells in one pass: a table of
    few rows and many columns pays pandas' and Arrow's cost per call, not per cell."""
    cols = list(cols)
    if len(cols) < 2 or len(frame) == 0:
        return {c: _stripped_blank(frame[c]) for c in cols}
    _, t, blank = _stacked(frame, cols)
    return _unstacked(frame, cols, (t.array, blank.to_numpy()))


def clean_texts(frame: pd.DataFrame, cols) -> dict[str, tuple[pd.Series, pd.Series, pd.Series]]:
    """``(stripped, blank, clean)`` of each of ``cols``: :func:`stripped_blanks` and
    :func:`_clean_text`, all their cells in one pass."""
    cols = list(cols)
    n = len(frame)
    if len(cols) < 2 or n == 0:
        return {c: (*pair, _clean_text(frame[c], pair))
                for c, pair in ((c, _stripped_blank(frame[c])) for c in cols)}
    texts, t, blank = _stacked(frame, cols)
    blanks = blank.to_numpy()
    # strip keeps a missing cell missing: equal, or both missing
    same = pc.fill_null(pc.equal(pa.array(t), pa.array(texts)), True).to_numpy(
        zero_copy_only=False).reshape(len(cols), n).all(axis=1)
    same &= ~blanks.reshape(len(cols), n).any(axis=1)
    clean = t.where(~blank, None).astype("str").array
    out = _unstacked(frame, cols, (t.array, blanks, clean))
    for i, c in enumerate(cols):
        if frame[c].dtype != _STR:  # another text type: judged on its own, as before
            out[c] = (*out[c][:2], _clean_text(frame[c], out[c][:2]))
        elif same[i]:
            out[c] = (*out[c][:2], frame[c])  # nothing to clean: the source's own text
    return out


_STR = pd.Series([], dtype="str").dtype


def _stacked(frame: pd.DataFrame, cols: list[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The cells of ``cols`` one after another as text, stripped, and judged blank."""
    texts = pd.concat([frame[c] if frame[c].dtype == _STR else frame[c].astype("str")
                       for c in cols], ignore_index=True)
    return (texts, *_stripped_blank(texts))


def _unstacked(frame: pd.DataFrame, cols: list[str], arrays: tuple) -> dict[str, tuple]:
    n = len(frame)
    return {c: tuple(pd.Series(a[i * n:(i + 1) * n], index=frame.index, name=c)
                     for a in arrays) for i, c in enumerate(cols)}


def _blank(s: pd.Series) -> pd.Series:
    return _stripped_blank(s)[1]


def _clean_text(s: pd.Series, stripped: tuple[pd.Series, pd.Series] | None = None) -> pd.Series:
    """``s`` stripped, blank cells missing; ``stripped`` is :func:`_stripped_blank` of ``s``
    when the caller has it already."""
    t, blank = stripped if stripped is not None else _stripped_blank(s)
    if s.dtype == "str" and not blank.any() and t.equals(s):
        return s  # nothing to clean: keep the source's text rather than a copy of it
    return t.where(~blank, None).astype("str")


def _distinct(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes and distinct values of a column, a missing value being one of them. An export
    repeats a few hundred prices, dates and countries over all its rows: the parsers below
    read each distinct text once and :func:`_spread` the result back to the rows."""
    codes, values = pd.factorize(s, use_na_sentinel=False)
    return codes, pd.Series(values, name=s.name)


def _spread(result, codes: np.ndarray, index: pd.Index):
    out = result.iloc[codes]
    out.index = index
    return out


def parse_dates(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates from ISO text (with or without time, as older exports write), ``DD.MM.YYYY`` or
    real date values; returns ``(dates, bad)``. Blank and ``null`` are missing, not bad."""
    dates, bad, _ = dates_in_range(s)
    return dates, bad


def dates_in_range(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """:func:`parse_dates` and which of the bad cells hold a real date outside
    ``bo.DATE_RANGE``: ``(dates, bad, outside)``. The frame keeps nanosecond dates (pandas'
    end in 2262) and Excel's begin in 1900, so such a date is rejected on its row rather than
    stopping the run."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return _in_range(s.dt.normalize(), pd.Series(False, index=s.index))
    codes, values = _distinct(s)
    dates, bad, outside = _parse_date_texts(values)
    return (_spread(dates, codes, s.index), _spread(bad, codes, s.index),
            _spread(outside, codes, s.index))


def dates_in_range_columns(frame: pd.DataFrame, cols) -> dict[str, tuple]:
    """:func:`dates_in_range` of each of ``cols``; text columns read together, their distinct
    texts parsed once for all of them."""
    cols = list(cols)
    n = len(frame)
    if len(cols) < 2 or n == 0 or any(pd.api.types.is_datetime64_any_dtype(frame[c])
                                      for c in cols):
        return {c: dates_in_range(frame[c]) for c in cols}
    both = dates_in_range(pd.concat([frame[c] for c in cols], ignore_index=True))
    return _unstacked(frame, cols, [r.to_numpy() if r.dtype == bool else r.array for r in both])


def _in_range(dates: pd.Series, bad: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    lo, hi = (pd.Timestamp(d) for d in bo.DATE_RANGE)
    wide = dates.astype("datetime64[s]")  # holds years 1 to 9999
    outside = wide.notna() & ((wide < lo) | (wide > hi))
    return wide.where(~outside).astype("datetime64[ns]"), bad | outside, outside


def _parse_date_texts(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    blank = _blank(s)
    text = s.astype("str").str.strip()
    iso = pd.to_datetime(text.str.slice(0, 10).where(text.str.match(
        r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"), None),
        format="%Y-%m-%d", errors="coerce")
    de = pd.to_datetime(text.where(text.str.match(r"^\d{1,2}\.\d{1,2}\.\d{4}$"), None),
                        format="%d.%m.%Y", errors="coerce")
    dates = iso.astype("datetime64[s]").fillna(de.astype("datetime64[s]"))
    bad = dates.isna() & ~blank
    return _in_range(dates.where(~blank), bad)


def parse_money(s: pd.Series, price_format: str = amounts.DETECT) -> pd.DataFrame:
    """Amount texts like ``CHF 1'250.00`` into minor units and currency, with a reason per bad
    cell (``reason`` column, None when fine). Blank cells are missing, not bad. The column is
    read as one file: in ``price_format`` (a name of :data:`transforms.amounts.FORMATS`), or in
    the format most of its amounts have (``detect``)."""
    codes, values = _distinct(s)
    texts = _parse_money_texts(values)
    fmt = _file_format([(codes, texts)], price_format)
    return _spread(_judge_money(texts, fmt), codes, s.index)


def _parse_money_texts(s: pd.Series) -> pd.DataFrame:
    """What each text says on its own: its amount (read in any format it fits: all give the
    same), currency and the formats it fits (``fits``, a bit mask). Whether it fits the file's
    format is judged by :func:`_judge_money`."""
    blank = _blank(s)
    parts = s.astype("str").str.extract(_MONEY_RE)
    cur = parts["cur"].fillna(parts["cur2"]).str.upper()
    fits = amounts.fits(parts["num"])
    readable = pd.Series(fits != 0, index=s.index)
    known = minor_units.is_known(cur)
    exps = minor_units.exponents(cur.fillna(""))
    number = amounts.decimal_text(parts["num"], fits)
    minor, ok = money.to_minor(number.fillna(""), np.maximum(exps, 0))
    # "1.250" could be 1250 grouped without its decimals: three decimals are read only in a
    # currency that has three (BHD 1.250), never as 1.25 for trailing zeros' sake
    ok &= ~(parts["num"].str.fullmatch(amounts.THOUSANDS_LIKE).fillna(False).to_numpy(bool)
            & (exps < 3))
    reason = pd.Series(None, index=s.index, dtype="object")
    reason[~ok & readable.to_numpy() & known.to_numpy()] = Reason.TOO_MANY_DECIMALS.name
    reason[~known & cur.notna()] = Reason.UNKNOWN_CURRENCY.name
    reason[parts["num"].isna() | ~readable | cur.isna()] = Reason.BAD_AMOUNT.name
    reason[blank] = None
    good = reason.isna() & ~blank
    return pd.DataFrame({
        "minor": pd.Series(minor, index=s.index, dtype="Int64").where(good),
        "currency": cur.where(good, None).astype("str"),
        "reason": reason,
        "detail": cur.where(reason == Reason.TOO_MANY_DECIMALS.name, None),
        "example_currency": cur.where(known, "CHF").astype("str"),
        # the cells that say which format a file has: an amount with a currency code
        "fits": np.where(blank.to_numpy() | cur.isna().to_numpy(), 0, fits),
        "number": np.where(blank.to_numpy(), 0, fits),
    }, index=s.index)


def _file_format(columns: list[tuple[np.ndarray, pd.DataFrame]], price_format: str) -> str | None:
    """The format of the file whose amount columns these are (codes and distinct texts of
    each): fixed by the setting, else the one most of its amount cells fit."""
    if price_format != amounts.DETECT:
        return price_format
    masks = np.concatenate([t["fits"].to_numpy() for _, t in columns])
    weights = np.concatenate([np.bincount(c, minlength=len(t)) for c, t in columns])
    return amounts.choose(masks, weights)


def _judge_money(texts: pd.DataFrame, fmt: str | None) -> pd.DataFrame:
    """Texts that are no amount in the file's format ``fmt`` become BAD_AMOUNT, each bad
    amount explained with an example in that format."""
    off = (texts["number"].to_numpy() & (amounts.bit(fmt) if fmt else 0)) == 0
    off &= texts["number"].to_numpy() != 0
    reason = texts["reason"].where(~off, Reason.BAD_AMOUNT.name)
    bad = (reason == Reason.BAD_AMOUNT.name).to_numpy()
    detail = texts["detail"].astype("object")
    if bad.any():
        detail = detail.copy()
        detail[bad] = texts.loc[bad, "example_currency"].map(lambda c: amounts.example(fmt, c))
    return pd.DataFrame({"minor": texts["minor"].where(~off), "currency":
                         texts["currency"].where(~off, None).astype("str"),
                         "reason": reason, "detail": detail}, index=texts.index)


def _parse_amounts(raw: pd.DataFrame, price_format: str) -> dict[str, pd.DataFrame]:
    """Price and fee of every row, each file (``source``) read in its one format, decided
    from both columns. A cancelled order bills its fee: a price it cannot read is left
    empty, not a reason to reject it."""
    read = {c: _distinct(raw[c]) for c in bo.MONEY_FIELDS}
    # what each text says on its own, read for both columns' distinct texts in one pass
    said = _parse_money_texts(pd.concat([v for _, v in read.values()], ignore_index=True))
    texts, at = {}, 0
    for c, (_, values) in read.items():
        texts[c] = said.iloc[at:at + len(values)].reset_index(drop=True)
        at += len(values)
    src = raw["source"]
    if len(src) == 0 or (src == src.iloc[0]).all():  # one file, as a source gives: no factorize
        files, names = np.zeros(len(src), dtype=np.intp), src.iloc[:1]
    else:
        files, names = pd.factorize(src, use_na_sentinel=False)
    out = {}
    for f in range(max(len(names), 1)):  # an empty frame is one file without amounts
        rows = files == f if len(names) > 1 else slice(None)
        fmt = _file_format([(read[c][0][rows], texts[c]) for c in bo.MONEY_FIELDS],
                           price_format)
        for c in bo.MONEY_FIELDS:
            part = _spread(_judge_money(texts[c], fmt), read[c][0][rows], raw.index[rows])
            out.setdefault(c, []).append(part)
    out = {c: pd.concat(parts).loc[raw.index] if len(parts) > 1 else parts[0]
           for c, parts in out.items()}
    price = out["price"]
    bad = np.flatnonzero(price["reason"].notna().to_numpy())  # few rows: look at their status
    status = raw["booking_status"].iloc[bad].astype("str").str.strip().map(bo.STATUS_LABELS)
    left = np.zeros(len(raw), dtype=bool)
    left[bad[(status == "CANCELED").to_numpy(dtype=bool, na_value=False)]] = True
    if left.any():
        out["price"] = price.assign(reason=price["reason"].where(~left, None),
                                    detail=price["detail"].where(~left, None))
    return out


def _too_large(parsed: pd.DataFrame, text: pd.Series) -> pd.DataFrame:
    """An amount refused as "too many decimals" whose decimals are fine is one too large for
    int64 minor units: say so (AMOUNT_TOO_LARGE), not that it has too many decimals."""
    suspect = parsed["reason"] == Reason.TOO_MANY_DECIMALS.name
    if not suspect.any():
        return parsed
    frac = text[suspect].astype("str").str.extract(r"[0-9]\.([0-9]+)\s*[A-Za-z]{0,3}\s*$")[0]
    decimals = frac.str.len().fillna(0).astype("int64")
    exps = pd.Series(minor_units.exponents(parsed.loc[suspect, "detail"].fillna("")),
                     index=decimals.index)
    fits = decimals <= exps
    parsed = parsed.copy()
    parsed.loc[fits[fits].index, "reason"] = Reason.AMOUNT_TOO_LARGE.name
    parsed.loc[fits[fits].index, "detail"] = None
    return parsed


def _cell_problems(raw: pd.DataFrame, mask: pd.Series, column: str, reason, detail=None):
    mask = pd.Series(np.asarray(mask, dtype=bool), index=raw.index)
    raw["_bad"] = raw["_bad"] | mask
    if not mask.any():
        return problems(None)
    rows = raw.loc[mask, [c for c in PROBLEM_COLUMNS if c in raw]]  # what a problem carries
    out = problems(rows, column=column, reason=reason if isinstance(reason, str) else None,
                   value=raw.loc[mask, column].astype("object"))
    if not isinstance(reason, str):
        out["reason"] = reason[mask].to_numpy()
    if detail is not None:
        out["detail"] = detail[mask].to_numpy()
    return out


def parse_booking_orders(raw: pd.DataFrame, price_format: str = amounts.DETECT
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw text frame with canonical column ids → (typed frame of good rows, problems).
    ``price_format``: the company setting of that name (each file's own, by default)."""
    raw = raw.reset_index(drop=True).copy()
    for c in (*bo.TEXT_FIELDS, *bo.DATE_FIELDS, *bo.MONEY_FIELDS, "booking_number",
              "booking_status", "payment_method", "billing_address_id"):
        if c not in raw:
            raw[c] = None
    raw["booking_number"] = _clean_text(raw["booking_number"])
    raw["_bad"] = False
    out: dict[str, pd.Series] = {}  # the typed columns, made a frame once at the end
    found = []

    # the text columns stripped and judged blank at once (one pass over all their cells)
    texts = clean_texts(raw, ("booking_number", "billing_address_id", "payment_method",
                              *bo.TEXT_FIELDS))
    for c in ("booking_number", "billing_address_id"):
        missing = texts[c][1]
        found.append(_cell_problems(raw, missing, c, Reason.REQUIRED.name))
        out[c] = texts[c][2]

    for c, (dates, bad, outside) in dates_in_range_columns(raw, bo.DATE_FIELDS).items():
        reason = pd.Series(np.where(outside, Reason.DATE_OUT_OF_RANGE.name,
                                    Reason.BAD_DATE.name), index=raw.index)
        found.append(_cell_problems(raw, bad, c, reason))
        out[c] = dates
    found.append(_cell_problems(raw, _blank(raw["order_date"]), "order_date",
                                Reason.REQUIRED.name))

    for c, parsed in _parse_amounts(raw, price_format).items():
        parsed = _too_large(parsed, raw[c])
        found.append(_cell_problems(raw, parsed["reason"].notna(), c, parsed["reason"],
                                    parsed["detail"]))
        out[c] = parsed["minor"]
        out[f"{c}_currency"] = parsed["currency"]

    status_text = raw["booking_status"].astype("str").str.strip()
    codes, labels = _distinct(status_text)
    status = _spread(labels.map(bo.STATUS_LABELS), codes, raw.index)
    unknown = status.isna()
    status_reason = pd.Series(None, index=raw.index, dtype="object")
    status_reason[unknown] = np.where(_blank(raw["booking_status"])[unknown],
                                      Reason.REQUIRED.name, Reason.UNKNOWN_STATUS.name)
    found.append(_cell_problems(raw, unknown, "booking_status", status_reason))
    out["booking_status"] = status.astype("str")
    out["payment_method"] = texts["payment_method"][2]

    for c in bo.TEXT_FIELDS:
        out[c] = texts[c][2]
    out["country_code"] = normalise(out["country"]).astype("str")
    unknown_country = out["country"].notna() & out["country_code"].isna()
    found.append(_cell_problems(raw, unknown_country, "country", Reason.UNKNOWN_COUNTRY.name))

    fee_cur = out["cancellation_fee_currency"]
    mismatch = fee_cur.notna() & out["price_currency"].notna() & (fee_cur != out["price_currency"])
    found.append(_cell_problems(raw, mismatch, "cancellation_fee", Reason.CURRENCY_MISMATCH.name,
                                fee_cur))

    dup = out["booking_number"].notna() & out["booking_number"].duplicated(keep=False)
    rows_of = (raw.loc[dup, "source_row"].groupby(out["booking_number"].loc[dup])
               .transform(lambda r: ", ".join(str(int(x)) for x in sorted(r))))
    dup_detail = pd.Series(None, index=raw.index, dtype="object")
    dup_detail[dup] = rows_of
    found.append(_cell_problems(raw, dup, "booking_number", Reason.DUPLICATE_BOOKING.name,
                                dup_detail))

    out["source"] = raw["source"].astype("str")
    out["source_row"] = raw["source_row"].astype("int64")
    out = pd.DataFrame(out, index=raw.index)
    good = out[~raw["_bad"]].reset_index(drop=True)
    return good, concat(found)
