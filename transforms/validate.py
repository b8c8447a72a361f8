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


def validate_booking_orders(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    schema = booking_order_schema(sorted(EXPONENTS))
    try:
        schema.validate(frame, lazy=True)
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
