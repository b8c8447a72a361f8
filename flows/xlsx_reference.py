"""The plain writer: the same workbook through XlsxWriter's public API, one call per cell — the
definition of the cells, against which the fast row path is held (DESIGN.md §6).

Never used by a run (a million lines take minutes this way); used by
tests/test_workbook_reference.py, which writes the same tables both ways and compares every
cell: value, type, number format and wrapping. The sheets, their layout and formats are
:mod:`flows.workbook`'s, shared by both writers; only the data cells are written here, each
with ``write_string``, ``write_number`` or ``write_datetime`` and its format:

* text: the value's text, cut to ``max_text`` UTF-16 units with the marker (reported), with
  the wrapping format when it is longer than its column is wide; no cell for a missing value.
  "Longer" counts a text column's text as the file stores it, XML-escaped (``&`` as ``&amp;``,
  a control character as ``_xHHHH_``), and a :data:`~schemas.columns.VARIANT` text by its own
  characters: that is how the writer has always decided, and the recorded workbooks
  (tests/golden_workbooks.json) hold it — the sample's "Kommunikation & Präsentation" wraps in
  a column one character wider than it. Counting the characters everywhere would be the
  plainer rule, and a change of the workbooks' bytes.
  XlsxWriter itself escapes control characters and keeps edge spaces. One thing it does not
  do: a text that starts with ``<r>`` and ends with ``</r>`` it takes for rich-text markup and
  copies unescaped, so such a text is written as a rich string of three plain runs — the same
  characters, shown as they are;
* an amount: its integer minor units scaled by the currency's decimals, as a ``Decimal``
  (exact, never a float), in the currency's format; a percent or a rate likewise at its scale;
  a count as an int; a date as a ``datetime.date`` (XlsxWriter takes a ``datetime`` on
  1900-01-01 for a time of day, serial 0, not for day 1). An amount without a known currency is an error.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import xlsxwriter

from schemas.columns import AMOUNT, DATE, PERCENT, RATE, TEXT, VARIANT, Sheet
from transforms import minor_units

from .errors import WriterError
from .workbook import (EXCEL_MAX_ROWS, EXCEL_MAX_TEXT, OPTIONS, RowsTask, WriteReport, check,
                       write_with)
from .xlsx_cells import cut_text, escape_control, utf16_len, variant_value

_SCALE = {PERCENT: 4, RATE: 6}  # money.PERCENT_SCALE, money.RATE_SCALE as exponents


def write_reference_workbook(path: Path, tables: dict[str, pd.DataFrame],
                             sheets: tuple[Sheet, ...], language: str, created: dt.date,
                             title: str, max_rows: int = EXCEL_MAX_ROWS,
                             max_text: int = EXCEL_MAX_TEXT, run_id: str = "") -> WriteReport:
    """:func:`flows.workbook.write_workbook`'s workbook, its cells written one by one."""
    return write_with(_workbook, _cells, path, tables, sheets, language, created, title,
                      max_rows, max_text, run_id)


def _workbook(path: Path):
    # constant-memory mode, as the fast path: the text cells are inline strings in both, so a
    # reader sees the same text (openpyxl undoes _xHHHH_ escapes in shared strings only)
    return xlsxwriter.Workbook(str(path), {"constant_memory": True, **OPTIONS})


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and value != value)


def _exponent(currency) -> int:
    code = currency if isinstance(currency, str) else ""
    return int(minor_units.exponents(pd.Series([code], dtype="object"))[0])


def _cells(wb, ws, t: RowsTask) -> None:
    columns = []
    for c in t.sheet.cols:
        values = t.chunk[c.id]
        if c.kind == TEXT:
            values = values if values.dtype == "str" else values.astype("str")
        columns.append((c, c.header(t.language), values.tolist(),
                        t.chunk[f"{c.id}_kind"].tolist() if c.kind == VARIANT else None,
                        t.chunk[c.currency].tolist() if c.currency else None))
    for i in range(len(t.chunk)):  # row by row, as constant-memory mode takes them
        row = i + 1  # 0-based, after the header row; Excel's row number is row + 1
        for j, (c, header, values, kinds, money) in enumerate(columns):
            value = values[i]
            where = f"{t.name}: row {row + 1}, column {header}"
            if c.kind == VARIANT:
                cell = variant_value(value, kinds[i], money[i] if money else None, where)
                if cell is not None:
                    _variant(ws, row, j, *cell, t, header)
            elif _missing(value):
                continue
            elif c.kind == TEXT:
                _text(ws, row, j, value, t, header, _stored_length)
            elif c.kind == DATE:
                stamp = pd.Timestamp(value)
                # a day as a date: XlsxWriter takes a datetime on 1900-01-01 for a time of day
                day = stamp.date() if stamp == stamp.normalize() else stamp.to_pydatetime()
                # as the fast path has it: 1899-12-31 is Excel's day 0 (shown "00.01.1900"),
                # still written; a VARIANT date must be 1900-01-01 or later (variant_value)
                if stamp < pd.Timestamp(1899, 12, 31):
                    raise WriterError(f"{t.name}: column {header}: a date before 1900 cannot "
                                      f"be an Excel date")
                check(ws.write_datetime(row, j, day, t.fmt.date), t.name, row, j)
            elif c.kind == AMOUNT:
                exp = _exponent(money[i])
                if exp < 0:
                    raise WriterError(f"{where}: amount without a known currency "
                                      f"({money[i]!r})")
                check(ws.write_number(row, j, Decimal(int(value)).scaleb(-exp),
                                      t.fmt.amount(exp)), t.name, row, j)
            elif c.kind in _SCALE:
                fmt = t.fmt.percent if c.kind == PERCENT else t.fmt.rate
                check(ws.write_number(row, j, Decimal(int(value)).scaleb(-_SCALE[c.kind]), fmt),
                      t.name, row, j)
            else:
                check(ws.write_number(row, j, int(value), t.fmt.int), t.name, row, j)


def _variant(ws, row, col, kind, value, t: RowsTask, header) -> None:
    if kind == "int":
        check(ws.write_number(row, col, value, t.fmt.int), t.name, row, col)
    elif kind == "amount":
        amount, exp = value
        check(ws.write_number(row, col, amount, t.fmt.amount(exp)), t.name, row, col)
    elif kind == "date":
        check(ws.write_datetime(row, col, value, t.fmt.date), t.name, row, col)
    else:
        _text(ws, row, col, value, t, header, len)


def _stored_length(text: str) -> int:
    """A text's characters in the sheet's XML: with Excel's escapes and XML's entities."""
    escaped = escape_control(text)
    return len(escaped) + 4 * escaped.count("&") + 3 * (escaped.count("<") + escaped.count(">"))


def _text(ws, row, col, text: str, t: RowsTask, header, length) -> None:
    if utf16_len(text) > t.max_text:
        text = cut_text(text, t.max_text, t.marker)
        t.report.cut_cells.append((t.name, row + 1, header))
    style = t.fmt.wrap if length(text) > t.widths[col] else None
    if text.startswith("<r>") and text.endswith("</r>"):
        parts = (text[:1], text[1:2], text[2:]) + ((style,) if style else ())
        code = ws.write_rich_string(row, col, *parts)
    else:
        code = ws.write_string(row, col, text, style)
    check(code, t.name, row, col)
