"""Validate parsed booking orders lazily with pandera and turn every failure into a problem.

``lazy=True`` collects every failing cell; the frame index joins each failure back to its
``source_row``. Rows with a failure leave the run as rejected, the rest go on (DESIGN.md §9.5).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from schemas.booking_order import booking_order_schema
from schemas.problems import Reason, empty_problems, problems

from . import money
from .minor_units import EXPONENTS, exponent

_MONEY = ("price", "cancellation_fee")


def _money_values(probs: pd.DataFrame, rows: pd.DataFrame) -> None:
    """A failing amount shown as the user wrote it (``CHF 12.50``), not in minor units."""
    for c in _MONEY:
        at = (probs["column"] == c).to_numpy()
        for i in at.nonzero()[0]:
            minor, cur = rows[c].iloc[i], rows[f"{c}_currency"].iloc[i]
            if pd.notna(minor) and cur in EXPONENTS:
                probs.iloc[i, probs.columns.get_loc("value")] = (
                    f"{cur} {money.to_decimal(int(minor), exponent(cur))}")


def plainly_typed(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> bool:
    """Whether ``frame`` has the schema's columns and no other, each of its exact dtype, and
    no missing value where the schema allows none: what pandera would find of the schema's
    dtype and nullability, told from what pandas knows already. A schema or column that says
    more than value checks (coercion, a unique key, an index, a parser) answers False."""
    if not (schema.strict is True and schema.index is None and not schema.unique
            and not schema.coerce and not schema.parsers and not schema.add_missing_columns
            and not schema.drop_invalid_rows):
        return False
    columns = schema.columns
    if len(frame.columns) != len(columns) or set(frame.columns) != set(columns):
        return False
    dtypes = frame.dtypes
    for name, col in columns.items():
        if (col.parsers or col.unique or col.coerce or col.regex or col.dtype is None
                or not col.required):
            return False
        have, want = dtypes[name], col.dtype.type
        if type(have) is not type(want) or have != want:
            return False
        if not col.nullable and frame[name].hasnans:
            return False
    return True


#: each schema's value checks, built once: ``id(schema) -> (schema, its value checks)`` (a
#: schema is not hashable; holding it keeps its id its own)
_VALUE_CHECKS: dict[int, tuple[pa.DataFrameSchema, pa.DataFrameSchema]] = {}


def value_checks(schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """The part of ``schema`` that judges values: its columns that have checks and its
    frame-wide checks. Of a frame :func:`plainly_typed` passed, it finds what the whole schema
    finds: the other columns could only have failed on their dtype or a missing value. pandera
    spends a tenth of a millisecond a column even on a column it has nothing to check."""
    held = _VALUE_CHECKS.get(id(schema))
    if held is None:
        held = _VALUE_CHECKS[id(schema)] = (schema, pa.DataFrameSchema(
            {k: c for k, c in schema.columns.items() if c.checks}, checks=schema.checks,
            strict=False, name=schema.name))
    return held[1]


def check(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> None:
    """``schema.validate(frame, lazy=True)``, the same failures raised: a frame of the right
    columns, dtypes and missing values is checked only for its values."""
    if plainly_typed(schema, frame):
        value_checks(schema).validate(frame, lazy=True)
    else:
        schema.validate(frame, lazy=True)


def validate_booking_orders(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    schema = booking_order_schema(sorted(EXPONENTS))
    try:
        check(schema, frame)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        data_cases = cases[cases["index"].notna()].copy()
        structural = cases[cases["index"].isna()]
        if len(structural):
            # a column of the wrong type or a missing column is a programming error upstream
            raise ValueError(f"booking-order frame does not match its contract:\n{structural}")
        data_cases["index"] = data_cases["index"].astype(int)
        frame_level = data_cases["schema_context"] == "DataFrameSchema"
        data_cases.loc[frame_level, "column"] = "service_end"
        data_cases = data_cases.drop_duplicates(["index", "column", "check"])
        rows = frame.loc[data_cases["index"]]
        known = {r.name for r in Reason}
        reason = data_cases["check"].where(data_cases["check"].isin(known), Reason.INVALID.name)
        probs = problems(rows, reason=None, column=data_cases["column"].to_numpy(),
                         value=data_cases["failure_case"].astype("str").to_numpy())
        probs["reason"] = reason.to_numpy()
        _money_values(probs, rows)
        probs["detail"] = data_cases["check"].where(reason == Reason.INVALID.name).to_numpy()
        good = frame.drop(index=data_cases["index"].unique()).reset_index(drop=True)
        return good, probs
    return frame, empty_problems()
