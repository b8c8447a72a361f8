"""Column declarations: one id, its German and English header, and how a cell is written.

The workbook writer and the tests read headers from here; no other module spells a header.
Amount columns hold integer minor units and name the column that carries their currency, so
a cell gets the decimals of its own currency (DESIGN.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

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

    def column(self) -> pa.Column:
        dtype = _DTYPES[self.kind]
        if self.nullable and self.kind in (AMOUNT, INT, PERCENT, RATE):
            dtype = dtypes.NULLABLE_INT64
        return pa.Column(dtype, nullable=self.nullable, coerce=False,
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


@cache
def _sheet_schema(sheet: Sheet) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({c.id: c.column() for c in sheet.cols}, strict=True,
                              ordered=True, name=sheet.en)
