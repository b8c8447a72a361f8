"""A sheet's contract checked without pandera only where pandera would pass the frame too.

``Sheet.validate`` lets ``Sheet.conforms`` pass a frame on its dtypes and missing values and
leaves every other frame to pandera. The frames here are drawn the way the billing
stages build them (each column in its contract's dtype, missing values only where allowed)
and then spoiled the ways a programming error would: a column dropped, added or moved, of
another dtype, or missing a value it must have.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import examples
from schemas.columns import DATE, TEXT, VARIANT
from schemas.workbook import DEFERRALS, INVOICES, LINES, RECONCILIATION, REJECTED, TAXES

SHEETS = {s.id: s for s in (INVOICES, LINES, TAXES, REJECTED, DEFERRALS, RECONCILIATION)}
_STR = pd.Series([], dtype="str").dtype


def _column(col, values: list) -> pd.Series:
    """One column in the dtype the billing stages give it (what ``_conform`` converts to)."""
    if col.kind in (TEXT, VARIANT):
        return pd.Series(values, dtype="str")
    if col.kind == DATE:
        return pd.Series(pd.to_datetime(values), dtype="datetime64[ns]")
    return pd.Series(values, dtype="Int64" if col.nullable else "int64")


def _value(col):
    if col.kind in (TEXT, VARIANT):
        v = st.text(max_size=5)
    elif col.kind == DATE:
        v = st.dates(min_value=pd.Timestamp("1990-01-01").date(),
                     max_value=pd.Timestamp("2100-12-31").date()).map(str)
    else:
        v = st.integers(-10**12, 10**12)
    return st.one_of(st.none(), v) if col.nullable else v


@st.composite
def frames(draw, sheet):
    n = draw(st.integers(0, 4))
    return pd.DataFrame({c.id: _column(c, draw(st.lists(_value(c), min_size=n, max_size=n)))
                         for c in sheet.cols})


def _retyped(s: pd.Series, how: str) -> pd.Series:
    if how == "object":
        return s.astype(object)
    if how == "python-stored text":
        return s.astype(pd.StringDtype("python", na_value=np.nan))
    if how == "nullable string":
        return s.astype("string")
    if how == "float":
        return pd.to_numeric(s, errors="coerce").astype("float64")
    if how == "Int64":
        return pd.to_numeric(s, errors="coerce").astype("Int64")
    if how == "seconds":
        return pd.to_datetime(s, errors="coerce", format="%Y-%m-%d").astype("datetime64[s]")
    if how == "zoned":
        return pd.to_datetime(s, errors="coerce", format="%Y-%m-%d").dt.tz_localize("Europe/Zurich")
    if how == "category":
        return s.astype("category")
    raise AssertionError(how)


RETYPES = ("object", "python-stored text", "nullable string", "float", "Int64", "seconds",
           "zoned", "category")


@st.composite
def spoiled(draw, frame: pd.DataFrame):
    """``frame`` with one programming error in it, or none."""
    how = draw(st.sampled_from(["none", "drop", "extra", "swap", "retype", "missing",
                                "duplicate"]))
    cols = list(frame.columns)
    at = draw(st.integers(0, len(cols) - 1))
    out = frame.copy()
    if how == "drop":
        out = out.drop(columns=cols[at])
    elif how == "extra":
        out.insert(draw(st.integers(0, len(cols))), "extra", pd.Series(["x"] * len(out),
                                                                       dtype="str"))
    elif how == "swap":
        other = draw(st.integers(0, len(cols) - 1))
        order = cols.copy()
        order[at], order[other] = order[other], order[at]
        out = out[order]
    elif how == "retype":
        out[cols[at]] = _retyped(out[cols[at]], draw(st.sampled_from(RETYPES)))
    elif how == "missing" and len(out):
        s = out[cols[at]].astype(object)
        s.iloc[draw(st.integers(0, len(out) - 1))] = None
        try:
            out[cols[at]] = s.astype(frame[cols[at]].dtype)
        except (TypeError, ValueError):  # int64 cannot hold it: the column becomes object
            out[cols[at]] = s
    elif how == "duplicate":
        out = pd.concat([out, out[[cols[at]]]], axis=1)
    return how, out


def _pandera_passes(sheet, frame) -> bool:
    try:
        sheet.schema().validate(frame, lazy=True)
    except pa.errors.SchemaErrors:
        return False
    return True


@pytest.mark.parametrize("sheet_id", list(SHEETS))
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None,
          max_examples=examples(0.3))  # pandera judges each frame up to three times
@given(data=st.data())
def test_a_frame_passed_plainly_is_one_pandera_passes(sheet_id, data):
    sheet = SHEETS[sheet_id]
    how, frame = data.draw(spoiled(data.draw(frames(sheet))))
    if sheet.conforms(frame):
        assert _pandera_passes(sheet, frame), how
    if how == "none":
        # the frames the stages build are passed without pandera: the fast path is taken
        assert sheet.conforms(frame)
    # either way, Sheet.validate says what pandera says
    try:
        sheet.validate(frame)
    except pa.errors.SchemaErrors:
        assert not _pandera_passes(sheet, frame), how
    else:
        assert _pandera_passes(sheet, frame), how


@pytest.mark.parametrize("spoil", ["missing required", "object text", "extra column",
                                   "reordered"])
def test_a_spoiled_sheet_is_reported_by_pandera(spoil):
    """The cases a careless change would let through, each still stops the sheet with
    pandera's report."""
    frame = pd.DataFrame({c.id: _column(c, ["2026-01-01" if c.kind == DATE else
                                            ("a" if c.kind in (TEXT, VARIANT) else 1)])
                          for c in TAXES.cols})
    assert TAXES.conforms(frame)
    required = next(c.id for c in TAXES.cols if not c.nullable and c.kind == TEXT)
    if spoil == "missing required":
        frame[required] = pd.Series([None], dtype="str")
    elif spoil == "object text":
        frame[required] = frame[required].astype(object)
        frame.loc[0, required] = 5
    elif spoil == "extra column":
        frame["extra"] = 1
    else:
        frame = frame[list(frame.columns[::-1])]
    assert not TAXES.conforms(frame)
    with pytest.raises(pa.errors.SchemaErrors):
        TAXES.validate(frame)


@pytest.mark.parametrize("sheet_id", list(SHEETS))
def test_the_schema_says_no_more_than_conforms_reads(sheet_id):
    """``conforms`` reads the columns' order, dtypes and nullability: a check, a unique key,
    coercion or an index rule added to a sheet's schema must be taught to it too."""
    schema = SHEETS[sheet_id].schema()
    assert schema.strict is True and schema.ordered and schema.index is None
    assert not (schema.checks or schema.unique or schema.coerce or schema.parsers
                or schema.add_missing_columns or schema.drop_invalid_rows)
    for col in schema.columns.values():
        assert col.required and not (col.checks or col.parsers or col.unique or col.coerce
                                     or col.regex)
