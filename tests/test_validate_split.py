"""Booking orders checked for their values only, once their columns are as the contract says,
give the rejections the whole contract gives (transforms.validate.check).

The frames are the sample export as the parser hands it on, spoiled cell by cell the ways an
export is (a negative price, an unknown currency or status, a booking number too long or
with a control character, an end before its begin) and the ways only a programming error
would spoil it (a column of another dtype, missing, added, or a missing value where none is
allowed).
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import transforms.validate as validation
from flows.sources import csv_file
from schemas.booking_order import MAX_AMOUNT_MINOR
from transforms.parse import parse_booking_orders

from conftest import SAMPLE_ORDERS, examples


@pytest.fixture(scope="module")
def parsed() -> pd.DataFrame:
    return parse_booking_orders(csv_file.read(str(SAMPLE_ORDERS)).frame)[0]


#: (column, value) of a cell an export can hold and the value checks reject, or pass
CELLS = [
    ("price", -1), ("price", MAX_AMOUNT_MINOR + 1), ("price", pd.NA), ("price", 0),
    ("cancellation_fee", -5), ("price_currency", "XYZ"), ("price_currency", None),
    ("cancellation_fee_currency", "ABC"), ("booking_status", "BOGUS"),
    ("booking_number", ""), ("booking_number", "x" * 65), ("booking_number", "a\x01b"),
    ("billing_address_id", ""), ("service_end", pd.Timestamp("1999-01-01")),
    ("service_begin", pd.NaT), ("country", None), ("name", "Ä" * 300),
]


def _set(frame: pd.DataFrame, row: int, col: str, value) -> None:
    s = frame[col].copy()
    s.iloc[row] = value
    frame[col] = s


def _spoil_structure(frame: pd.DataFrame, how: str, col: str) -> pd.DataFrame:
    if how == "object":
        frame[col] = frame[col].astype(object)
    elif how == "drop":
        frame = frame.drop(columns=col)
    elif how == "extra":
        frame["extra"] = pd.Series(["x"] * len(frame), dtype="str")
    elif how == "missing" and col in ("order_date", "source", "booking_status"):
        _set(frame, 0, col, None)
    elif how == "float":
        frame["source_row"] = frame["source_row"].astype("float64")
    elif how == "reordered":
        frame = frame[list(frame.columns[::-1])]
    return frame


def _outcome(frame: pd.DataFrame):
    try:
        good, problems = validation.validate_booking_orders(frame)
    except ValueError as err:  # a frame not as its contract says: a programming error
        return ("error", str(err).splitlines()[0])
    return (good.reset_index(drop=True), problems.reset_index(drop=True))


def _same(a, b) -> None:
    assert type(a[0]) is type(b[0])
    if isinstance(a[0], str):
        assert a == b
        return
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])


def _whole_contract(monkeypatch):
    monkeypatch.setattr(validation, "check",
                        lambda schema, frame: schema.validate(frame, lazy=True))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          deadline=None, max_examples=examples(0.3))  # two validations of the sample each
@given(cells=st.lists(st.tuples(st.integers(0, 237), st.sampled_from(CELLS)), max_size=8),
       structure=st.sampled_from(["none", "none", "object", "drop", "extra", "missing",
                                  "float", "reordered"]),
       col=st.sampled_from(["booking_number", "order_date", "name", "price", "source",
                            "booking_status", "country_code"]))
def test_value_checks_reject_what_the_whole_contract_rejects(parsed, monkeypatch, cells,
                                                              structure, col):
    frame = parsed.copy()
    for row, (c, v) in cells:
        _set(frame, row, c, v)
    frame = _spoil_structure(frame, structure, col)
    split = _outcome(frame.copy())
    with monkeypatch.context() as m:
        _whole_contract(m)
        whole = _outcome(frame.copy())
    _same(split, whole)


def test_the_sample_is_checked_for_its_values_only(parsed):
    """The parser's frame passes on its dtypes: the shortcut is the path a run takes."""
    from schemas.booking_order import booking_order_schema
    from transforms.minor_units import EXPONENTS
    schema = booking_order_schema(sorted(EXPONENTS))
    assert validation.plainly_typed(schema, parsed)
    spoiled = parsed.assign(order_date=parsed["order_date"].where(parsed.index != 3))
    assert not validation.plainly_typed(schema, spoiled)
    assert not validation.plainly_typed(schema, parsed.drop(columns="name"))
    assert not validation.plainly_typed(schema, parsed.astype({"name": object}))
