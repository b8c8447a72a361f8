"""Parsing each distinct text once gives the same result as parsing every row.

transforms.parse reads a column's distinct prices and dates once and spreads the result back to
the rows, transforms.country looks each distinct country text up once (an export repeats a
few hundred values over a million rows), and a text column with nothing to clean is kept as it
is instead of copied. These properties hold the shortcuts to the plain reading: same values,
same dtypes, same index and name, blank and missing cells included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms import amounts, country, parse

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

MONEY = st.sampled_from(["CHF 1250.00", "CHF\u00a01250.00", "EUR 531.00", "JPY 12000",
                         "CHF 12.345", "XYZ 1.00", "CHF zwölf", "1.00 CHF", " ", "", "null",
                         "NULL", "USD -5.5", "CHF 1'250.00", "BHD 1.234", "CHF 1.250,00",
                         "EUR 12,50", "CHF 12.50", "JPY 1 250.00", "12.50", "CHF 1,250"])
DATES = st.sampled_from(["2026-05-12", "2026-05-12 00:00:00.0", "12.05.2026", "31.02.2026",
                         "bald", "", " ", "null", "2026-13-01", "1.1.2026"])
COUNTRIES = st.sampled_from(["Schweiz", " ch", "Deutschland", "Suisse", "Atlantis", "",
                             "  UNITED   states ", "Österreich", "DE"])


def column(values: st.SearchStrategy, dtype):
    missing = st.sampled_from([None, float("nan")]) if dtype == "object" else st.none()
    return st.lists(st.one_of(values, missing), max_size=30).map(
        lambda xs: pd.Series(xs, dtype=dtype, name="cell",
                             index=pd.RangeIndex(100, 100 + 3 * len(xs), 3)))


FORMATS = st.sampled_from([amounts.DETECT, *amounts.NAMES])


@SETTINGS
@given(st.one_of(column(MONEY, "str"), column(MONEY, "object")), FORMATS)
def test_money_parsed_once_per_text_equals_row_by_row(s, price_format):
    texts = parse._parse_money_texts(s)  # every row's text on its own
    fmt = (price_format if price_format != amounts.DETECT
           else amounts.choose(texts["fits"].to_numpy(), np.ones(len(s), dtype=np.int64)))
    pd.testing.assert_frame_equal(parse.parse_money(s, price_format),
                                  parse._judge_money(texts, fmt))


@SETTINGS
@given(st.one_of(column(DATES, "str"), column(DATES, "object")))
def test_dates_parsed_once_per_text_equal_row_by_row(s):
    dates, bad = parse.parse_dates(s)
    want_dates, want_bad, _ = parse._parse_date_texts(s)
    pd.testing.assert_series_equal(dates, want_dates)
    pd.testing.assert_series_equal(bad, want_bad)


def row_by_row_country(text: pd.Series) -> pd.Series:
    table = country._lookup()
    key = text.astype("str").map(lambda v: None if v is None or v != v else country._key(v))
    return key.map(table).astype("object").where(lambda s: s.notna(), None)


@SETTINGS
@given(st.one_of(column(COUNTRIES, "str"), column(COUNTRIES, "object")))
def test_countries_looked_up_once_per_text_equal_row_by_row(s):
    pd.testing.assert_series_equal(country.normalise(s), row_by_row_country(s))


TEXTS = st.sampled_from(["Zürich", " Zürich", "Zürich\u00a0", "", " ", "null", "Null", "NULL x",
                         "a  b", "\tTab"])


def plain_clean_text(s: pd.Series) -> pd.Series:
    t = s.astype("str").str.strip()
    blank = s.isna() | (t == "") | (t.str.lower() == "null")
    return t.where(~blank, None).astype("str")


@SETTINGS
@given(st.one_of(column(TEXTS, "str"), column(TEXTS, "object"),
                 column(st.sampled_from(["Zürich", "Bern", "a b"]), "str")))
def test_text_kept_or_cleaned_equals_the_plain_cleaning(s):
    pd.testing.assert_series_equal(parse._clean_text(s), plain_clean_text(s))


TEXTS = st.sampled_from(["", " ", "null", "NuLL", " a ", "a", "\u00a0b\u00a0", "é", "x\ty",
                         "2026-05-12", "12.05.2026", "bald", "2300-01-01", "0001-01-01"])


def frame_of(cells: st.SearchStrategy, dtype):
    """A frame of 1 to 4 columns of one length, on an index that is not 0..n-1."""
    return st.tuples(st.integers(1, 4), st.integers(0, 12)).flatmap(
        lambda shape: st.lists(st.lists(st.one_of(cells, st.none(), st.just(float("nan"))
                                                  if dtype == "object" else st.none()),
                                        min_size=shape[1],
                                        max_size=shape[1]), min_size=shape[0],
                               max_size=shape[0])).map(
        lambda cols: pd.DataFrame({f"c{i}": pd.Series(c, dtype=dtype) for i, c in
                                   enumerate(cols)}).set_axis(
            pd.RangeIndex(7, 7 + 2 * len(cols[0]), 2)))


@SETTINGS
@given(frame_of(TEXTS, "str") | frame_of(TEXTS, "object"))
def test_columns_stripped_together_are_each_stripped_alone(frame):
    together = parse.stripped_blanks(frame, frame.columns)
    cleaned = parse.clean_texts(frame, frame.columns)
    for c in frame.columns:
        text, blank = parse._stripped_blank(frame[c])
        clean = parse._clean_text(frame[c])
        for got in (together[c], cleaned[c]):
            assert got[0].equals(text) and got[0].dtype == text.dtype
            assert got[1].equals(blank) and got[1].dtype == blank.dtype
            assert list(got[0].index) == list(frame.index)
        assert cleaned[c][2].equals(clean) and cleaned[c][2].dtype == clean.dtype
        assert cleaned[c][2].name == clean.name


@SETTINGS
@given(frame_of(DATES | TEXTS, "str") | frame_of(DATES | TEXTS, "object"))
def test_date_columns_read_together_are_each_read_alone(frame):
    together = parse.dates_in_range_columns(frame, frame.columns)
    for c in frame.columns:
        for got, alone in zip(together[c], parse.dates_in_range(frame[c])):
            assert got.equals(alone) and got.dtype == alone.dtype, (c, got, alone)
            assert list(got.index) == list(frame.index)


@SETTINGS
@given(st.lists(st.one_of(MONEY, st.none()), max_size=12),
       st.lists(st.one_of(MONEY, st.none()), max_size=12))
def test_money_texts_read_together_are_each_read_alone(a, b):
    """Price and fee texts are read in one pass (transforms.parse._parse_amounts): what a
    text says on its own does not depend on the texts read with it."""
    a, b = pd.Series(a, dtype="str"), pd.Series(b, dtype="str")
    both = parse._parse_money_texts(pd.concat([a, b], ignore_index=True))
    for part, alone in ((both.iloc[:len(a)], a), (both.iloc[len(a):], b)):
        pd.testing.assert_frame_equal(part.reset_index(drop=True),
                                      parse._parse_money_texts(alone))
