"""Parse and check the reference tables; a bad table stops the run with file, row and column.

Unlike a booking order, a tax code or exchange rate that cannot be read affects every invoice,
so errors here are collected (all of them, not the first) and raised together.

>>> t = pd.DataFrame({"code": ["N30"], "description": [""], "net_days": ["30"],
...     **{f"discount_{w}_{k}": [""] for k in (1, 2, 3) for w in ("days", "percent")}})
>>> parse_table("payment_terms", t, "payment_terms.csv")["net_days"].tolist()
[30]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from schemas.reference import KEYS, TABLES

from . import minor_units, money
from .parse import _clean_text, _stripped_blank, dates_in_range_columns, stripped_blanks


@dataclass(frozen=True)
class TableProblem:
    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}:{self.row}"
        return f"{where} {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class ReferenceError(ValueError):
    """One or more reference tables are unusable; ``problems`` lists every finding."""

    def __init__(self, problems: list[TableProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


#: ``DataFrame.attrs`` key holding each row's line in its file when blank lines were dropped
SOURCE_ROWS = "source_rows"


class _SourceRows:
    """Row numbers in the file, kept in ``attrs``. Immutable, so pandas' deep copy of
    ``attrs`` on every operation shares it instead of copying thousands of numbers."""

    __slots__ = ("rows",)

    def __init__(self, rows):
        self.rows = np.asarray(rows, dtype=np.int64)
        self.rows.setflags(write=False)

    def __len__(self) -> int:
        return len(self.rows)

    def __deepcopy__(self, memo):
        return self


def _rows(frame, mask):
    pos = np.flatnonzero(np.asarray(mask))
    rows = frame.attrs.get(SOURCE_ROWS)
    if isinstance(rows, _SourceRows) and len(rows) == len(frame):
        return rows.rows[pos].tolist()
    return (pos + 2).tolist()  # header is row 1


def parse_table(name: str, raw: pd.DataFrame, file: str) -> pd.DataFrame:
    spec = TABLES[name]
    found: list[TableProblem] = []
    missing = [c for c, kind in spec.items() if c not in raw.columns and not kind.endswith("?")]
    if missing:
        raise ReferenceError([TableProblem(file, None, None,
                                           f"missing column(s) {', '.join(missing)}; expected "
                                           f"header: {','.join(spec)}")])
    raw = raw.reset_index(drop=True)
    # each column stripped and judged blank once, for the blank lines and for its values
    stripped = stripped_blanks(raw, raw.columns)
    # a blank line (an empty row left in Excel or an editor) is skipped, but the rows after it
    # keep the row number the user sees in the file
    empty = np.ones(len(raw), dtype=bool)
    for c in raw.columns:
        empty &= stripped[c][1].to_numpy()
    stripped = {c: pair for c, pair in stripped.items() if c in spec}
    if not len(raw.columns):
        empty[:] = False
    source_rows = _SourceRows(np.flatnonzero(~empty) + 2)  # header is row 1
    if empty.any():
        raw = raw.loc[~empty].reset_index(drop=True)
        stripped = {c: tuple(x.loc[~empty].reset_index(drop=True) for x in pair)
                    for c, pair in stripped.items()}
    raw.attrs[SOURCE_ROWS] = source_rows
    columns = {col: raw[col] if col in raw else pd.Series([None] * len(raw), dtype="object")
               for col in spec}
    for col, s in columns.items():
        if col not in stripped:
            stripped[col] = _stripped_blank(s)
    numbers = _numbers(spec, stripped, len(raw))
    date_cols = [c for c, kind in spec.items() if kind.rstrip("?") == "date"]
    dates_of = dates_in_range_columns(pd.DataFrame({c: columns[c] for c in date_cols},
                                                   index=raw.index), date_cols)
    out = {}
    for col, kind in spec.items():
        s = columns[col]
        base, optional = kind.rstrip("?"), kind.endswith("?")
        text, blank = stripped[col]
        if not optional:
            for r in _rows(raw, blank):
                found.append(TableProblem(file, r, col, "required value is empty"))
        if base == "text":
            out[col] = _clean_text(s, (text, blank))
        elif base == "date":
            dates, bad, _ = dates_of[col]
            for r, v in zip(_rows(raw, bad), s[bad]):
                found.append(TableProblem(file, r, col, f"not a date (YYYY-MM-DD): {v!r}"))
            out[col] = dates
        elif base in _DIGITS:
            digits = _DIGITS[base]
            val, ok = numbers[col]
            for r, v in zip(_rows(raw, ~ok), s[~ok]):
                found.append(TableProblem(
                    file, r, col, f"not a number with at most {digits} decimals: {v!r}"
                    if digits else f"not a whole number: {v!r}"))
            # an unreadable number is missing, not 0 (no second, misleading finding)
            out[col] = pd.Series(val, dtype="Int64").where(~blank.to_numpy() & np.asarray(ok))
        elif base == "bool":
            t = text.str.lower()
            val = t.map({"true": True, "ja": True, "yes": True, "1": True,
                         "false": False, "nein": False, "no": False, "0": False})
            bad = val.isna() & ~blank
            for r, v in zip(_rows(raw, bad), s[bad]):
                found.append(TableProblem(file, r, col, f"expected true or false: {v!r}"))
            out[col] = val.astype("object").where(~blank, None)
    out = pd.DataFrame(out, index=raw.index)
    out.attrs[SOURCE_ROWS] = source_rows
    if name in KEYS:
        key = list(KEYS[name])
        dup = out.duplicated(key, keep=False) & out[key].notna().all(axis=1)
        for r in _rows(out, dup):
            found.append(TableProblem(file, r, ",".join(key), "appears more than once"))
    found += _table_checks(name, out, file)
    if found:
        raise ReferenceError(found)
    return out


#: the decimals a number column of each kind is read with (money.PERCENT_SCALE, RATE_SCALE)
_DIGITS = {"percent": 4, "rate": 6, "int": 0}


def _numbers(spec, stripped, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``(value, ok)`` of every number column of a table, read in one call over the distinct
    texts of all of them (each at its column's decimals); a blank cell reads as 0 and is
    masked later. An exchange-rate table repeats its factor on every row: its 40,000 number
    cells hold half as many distinct texts."""
    cols = [c for c, kind in spec.items() if kind.rstrip("?") in _DIGITS]
    if not cols:
        return {}
    by_digits: dict[int, list[str]] = {}
    for c in cols:
        by_digits.setdefault(_DIGITS[spec[c].rstrip("?")], []).append(c)
    texts, digits, codes_of, seen = [], [], {}, 0
    for d, same in by_digits.items():
        codes, values = pd.factorize(pd.concat(
            [stripped[c][0].where(~stripped[c][1], "0") for c in same], ignore_index=True),
            use_na_sentinel=False)
        texts.append(pd.Series(values, dtype="str"))
        digits.append(np.full(len(values), d, dtype=np.int64))
        for i, c in enumerate(same):
            codes_of[c] = codes[i * n:(i + 1) * n] + seen
        seen += len(values)
    val, ok = money.to_minor(pd.concat(texts, ignore_index=True), np.concatenate(digits))
    return {c: (val[codes_of[c]], ok[codes_of[c]]) for c in cols}


def _table_checks(name, out, file) -> list[TableProblem]:
    found = []
    if name == "exchange_rates":
        for col in ("from_currency", "to_currency"):
            bad = ~minor_units.is_known(out[col]) & out[col].notna()
            found += [TableProblem(file, r, col, "unknown currency") for r in _rows(out, bad)]
        for col in ("rate", "factor"):
            bad = out[col].fillna(1) <= 0
            found += [TableProblem(file, r, col, "must be positive") for r in _rows(out, bad)]
    if name == "tax_codes":
        bad = out["valid_to"].notna() & (out["valid_to"] < out["valid_from"])
        found += [TableProblem(file, r, "valid_to", "ends before valid_from")
                  for r in _rows(out, bad)]
        for r in _rows(out, overlaps(out["tax_code"], out["valid_from"], out["valid_to"])):
            found.append(TableProblem(file, r, "valid_from",
                                      "overlaps the previous period of this tax code"))
        bad = out["rate"] < 0
        found += [TableProblem(file, r, "rate", "must not be negative")
                  for r in _rows(out, bad.fillna(False))]
    if name == "customers" and "email" in out:
        # the invoice goes to this address: one mailbox, written as local@domain
        bad = out["email"].notna() & ~out["email"].astype("str").str.fullmatch(
            r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+").fillna(False).astype(bool)
        found += [TableProblem(file, r, "email", "not an e-mail address (name@domain.tld)")
                  for r in _rows(out, bad)]
    if name == "payment_terms":
        for k in (1, 2, 3):
            d, p = out[f"discount_days_{k}"], out[f"discount_percent_{k}"]
            bad = d.isna() != p.isna()
            found += [TableProblem(file, r, f"discount_days_{k}",
                                   "give both days and percent, or neither")
                      for r in _rows(out, bad)]
            bad = (p < 0) | (p >= 100 * money.PERCENT_SCALE)
            found += [TableProblem(file, r, f"discount_percent_{k}",
                                   "must be at least 0 and below 100")
                      for r in _rows(out, bad.fillna(False))]
    return found


def overlaps(code: pd.Series, start: pd.Series, end: pd.Series) -> np.ndarray:
    """Which periods begin on or before the end of the previous period of their code (by
    start), or after an open-ended one; a missing code is nobody's period. Sorted once with
    NumPy: a few rows, where a pandas group-by costs milliseconds each."""
    codes = pd.factorize(code)[0]
    begin = start.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    begin = np.where(start.isna().to_numpy(), np.iinfo(np.int64).max, begin)  # missing last
    order = np.lexsort((begin, np.where(codes < 0, np.iinfo(np.int64).max, codes)))
    c, b = codes[order], start.to_numpy(dtype="datetime64[ns]")[order]
    e = end.to_numpy(dtype="datetime64[ns]")[order]
    after = np.zeros(len(order), dtype=bool)
    after[1:] = (c[1:] == c[:-1]) & (c[1:] >= 0)
    prev_end = np.empty_like(e)
    prev_end[1:], prev_end[:1] = e[:-1], np.datetime64("NaT")
    hit = after & (np.isnat(prev_end) | (~np.isnat(b) & (prev_end >= b)))
    out = np.zeros(len(order), dtype=bool)
    out[order] = hit
    return out


def cross_check(tables: dict[str, pd.DataFrame], settings, files: dict[str, str]) -> None:
    """Links between tables and settings: every referenced code exists."""
    found = []
    codes = set(tables["tax_codes"]["tax_code"])
    rules = tables["tax_rules"]
    for r in _rows(rules, ~rules["tax_code"].isin(codes)):
        found.append(TableProblem(files["tax_rules"], r, "tax_code",
                                  "tax code not in tax_codes.csv"))
    terms = set(tables["payment_terms"]["code"])
    if settings.default_payment_terms not in terms:
        found.append(TableProblem("company.toml", None, "default_payment_terms",
                                  f"{settings.default_payment_terms!r} not in payment_terms.csv"))
    cust = tables.get("customers")
    if cust is not None:
        bad = cust["payment_terms"].notna() & ~cust["payment_terms"].isin(terms)
        for r in _rows(cust, bad):
            found.append(TableProblem(files["customers"], r, "payment_terms",
                                      "payment terms code not in payment_terms.csv"))
        bad = cust["language"].notna() & ~cust["language"].isin(["de", "en"])
        for r in _rows(cust, bad):
            found.append(TableProblem(files["customers"], r, "language", "expected de or en"))
    for cur in list(settings.home_currencies) + list(settings.cash_rounding):
        if cur not in minor_units.EXPONENTS:
            found.append(TableProblem("company.toml", None, "home_currencies",
                                      f"unknown currency {cur}"))
    for cur, inc in settings.cash_rounding.items():
        if cur in minor_units.EXPONENTS:
            minor, ok = money.to_minor([inc], [minor_units.exponent(cur)])
            if not ok[0] or minor[0] <= 0:
                found.append(TableProblem(
                    "company.toml", None, f"cash_rounding.{cur}",
                    f"{inc!r} is not a positive amount with at most "
                    f"{minor_units.exponent(cur)} decimals"))
    if found:
        raise ReferenceError(found)


def blank_customers() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in TABLES["customers"]}).assign(
        combine=pd.Series(dtype="object"))
