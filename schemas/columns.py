"""Column declarations: one id, its German and English header, and how a cell is written.

The workbook writer and the tests read headers from here; no other module spells a header.
Amount columns hold integer minor units and name the column that carries their currency, so
a cell gets the decimals of its own currency (DESIGN.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from . import dtypes

TEXT = "text"
DATE = "date"
AMOUNT = "amount"  # int64 minor units; ``currency`` names the currency column
INT = "int"
PERCENT = "percent"  # int scaled by money.PERCENT_SCALE
RATE = "rate"  # int scaled by money.RATE_SCALE
#: a column whose cells are of different kinds (the Reconciliation sheet's values): exact text,
#: each row's kind in the column ``<id>_kind`` — int, amount (in the ``currency`` column's
#: currency), date (ISO) or text — and written as that kind
VARIANT = "variant"

_DTYPES = {TEXT: dtypes.TEXT, DATE: dtypes.DATETIME, AMOUNT: dtypes.INT64, INT: dtypes.INT64,
           PERCENT: dtypes.INT64, RATE: dtypes.INT64, VARIANT: dtypes.TEXT}


@dataclass(frozen=True)
class Col:
    id: str
    de: str
    en: str
    kind: str = TEXT
    currency: str | None = None
    nullable: bool = False

    def header(self, language: str) -> str:
        return self.de if language == "de" else self.en

    def dtype(self):
        """The column's pandera dtype (its pandas dtype is ``.type``)."""
        if self.nullable and self.kind in (AMOUNT, INT, PERCENT, RATE):
            return dtypes.NULLABLE_INT64
        return _DTYPES[self.kind]

    def column(self) -> pa.Column:
        return pa.Column(self.dtype(), nullable=self.nullable, coerce=False,
                         metadata={"de": self.de, "en": self.en, "kind": self.kind,
                                   "currency": self.currency})


@dataclass(frozen=True)
class Sheet:
    id: str
    de: str
    en: str
    cols: tuple[Col, ...]

    def name(self, language: str) -> str:
        return self.de if language == "de" else self.en

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.cols]

    def schema(self) -> pa.DataFrameSchema:
        """The sheet's contract, built once: a run checks every sheet it writes, and building
        a hundred columns' schema costs more than checking a small sheet."""
        return _sheet_schema(self)

    def validate(self, frame: pd.DataFrame) -> None:
        """Check ``frame`` against :meth:`schema`; a frame that fails raises pandera's
        ``SchemaErrors`` with its whole report."""
        if not self.conforms(frame):
            self.schema().validate(frame, lazy=True)

    def conforms(self, frame: pd.DataFrame) -> bool:
        """Whether ``frame`` passes :meth:`schema` for certain, told from what pandas knows of
        it already: the sheet's columns in order and no other, each of its exact dtype, no
        missing value where the column allows none. That is all a sheet's contract says
        (tests/test_sheet_contract.py holds the two to it), and pandera spent 0.1 ms a column
        saying it, and as much again building the schema of a hundred columns: most of a
        small run's checking of its sheets (issue 13). A frame that does not pass on these
        facts is left to pandera to judge and report."""
        if list(frame.columns) != self.ids:
            return False
        for col, dtype in zip(self.cols, frame.dtypes):
            want = col.dtype().type
            if type(dtype) is not type(want) or dtype != want:
                return False
            if (not col.nullable and not (isinstance(dtype, np.dtype) and dtype.kind == "i")
                    and frame[col.id].hasnans):  # NumPy's int64 holds no missing value
                return False
        return True


@cache
def _sheet_schema(sheet: Sheet) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({c.id: c.column() for c in sheet.cols}, strict=True,
                              ordered=True, name=sheet.en)
