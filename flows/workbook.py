"""Write the invoicing workbook (DESIGN.md §6) with XlsxWriter, row by row in constant memory.

Headers, cell kinds and number formats come from ``schemas.workbook``. Text is always written
as text, so ``=HYPERLINK(...)`` in a name stays a name, never a formula. Amounts are written
from exact decimals with their currency's decimals as number format. A sheet that would pass
Excel's row limit continues on "Name (2)"; text over Excel's cell limit is cut with a marker
and counted. Every XlsxWriter return code is checked. The creation time is fixed to the
invoice date, so the same tables give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pandas as pd
import xlsxwriter

from schemas.columns import AMOUNT, DATE, INT, PERCENT, RATE, TEXT, Sheet
from transforms import currencies

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_TEXT = 32_767
CUT_MARKER = {"de": " …[gekürzt]", "en": " …[cut]"}
_DATE_FORMAT = {"de": "dd.mm.yyyy", "en": "yyyy-mm-dd"}


class WriterError(Exception):
    """XlsxWriter refused a cell; carries sheet, row and column."""


@dataclass
class WriteReport:
    rows: dict[str, int] = field(default_factory=dict)
    cut_cells: list[tuple[str, int, str]] = field(default_factory=list)  # sheet, row, column
    sheets: list[str] = field(default_factory=list)


def _check(code, sheet, row, col):
    if code not in (0, None):
        raise WriterError(f"{sheet}: row {row + 1}, column {col + 1}: XlsxWriter error {code}")


class _Formats:
    def __init__(self, wb, language):
        self.wb = wb
        self.header = wb.add_format({"bold": True, "bg_color": "#DDE4EE", "border": 1,
                                     "text_wrap": False})
        self.date = wb.add_format({"num_format": _DATE_FORMAT[language]})
        self.text = wb.add_format({"num_format": "@"})
        self.int = wb.add_format({"num_format": "0"})
        self.percent = wb.add_format({"num_format": "0.0##"})
        self.rate = wb.add_format({"num_format": "0.000000"})
        self._amount = {}

    def amount(self, exp: int):
        if exp not in self._amount:
            fmt = "#,##0" + ("." + "0" * exp if exp > 0 else "")
            self._amount[exp] = self.wb.add_format({"num_format": fmt})
        return self._amount[exp]


def _width(sheet: Sheet, frame: pd.DataFrame, language: str) -> list[int]:
    widths = []
    sample = frame.head(500)
    for c in sheet.cols:
        w = len(c.header(language)) + 2
        if c.kind == TEXT and len(sample):
            w = max(w, int(sample[c.id].astype("str").str.len().fillna(0).max()) + 1)
        elif c.kind == DATE:
            w = max(w, 11)
        elif c.kind in (AMOUNT, RATE):
            w = max(w, 14)
        widths.append(min(w, 60))
    return widths


def write_workbook(path: Path, tables: dict[str, pd.DataFrame], sheets: tuple[Sheet, ...],
                   language: str, created: dt.date, title: str,
                   max_rows: int = EXCEL_MAX_ROWS, max_text: int = EXCEL_MAX_TEXT) -> WriteReport:
    report = WriteReport()
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_numbers": False, "strings_to_urls": False})
    wb.set_properties({"title": title, "author": "billing-export", "company": "",
                       "created": dt.datetime.combine(created, dt.time())})
    fmt = _Formats(wb, language)
    marker = CUT_MARKER[language]
    try:
        for sheet in sheets:
            frame = tables[sheet.id]
            per_sheet = max_rows - 1
            chunks = max(1, -(-len(frame) // per_sheet))
            for part in range(chunks):
                name = sheet.name(language) + (f" ({part + 1})" if part else "")
                chunk = frame.iloc[part * per_sheet:(part + 1) * per_sheet]
                _write_sheet(wb, name, sheet, chunk, frame, fmt, language, marker, max_text,
                             report)
                report.sheets.append(name)
            report.rows[sheet.id] = len(frame)
    finally:
        wb.close()
    return report


def _cells(sheet: Sheet, chunk: pd.DataFrame, frame: pd.DataFrame):
    """Per column: a list of Python values ready to write (None for blank)."""
    out = []
    for c in sheet.cols:
        s = chunk[c.id]
        if c.kind == AMOUNT:
            exps = currencies.exponents(chunk[c.currency].fillna("")) if c.currency else None
            vals = [None if (v is None or v is pd.NA) else Decimal(int(v)).scaleb(-int(e))
                    for v, e in zip(s.astype("object"), exps)]
            out.append((c, vals, exps))
        elif c.kind == PERCENT:
            out.append((c, [None if v is pd.NA else Decimal(int(v)).scaleb(-4)
                            for v in s.astype("object")], None))
        elif c.kind == RATE:
            out.append((c, [None if v is pd.NA or v is None else Decimal(int(v)).scaleb(-6)
                            for v in s.astype("object")], None))
        elif c.kind == INT:
            out.append((c, [None if v is pd.NA or v is None else int(v)
                            for v in s.astype("object")], None))
        elif c.kind == DATE:
            out.append((c, [None if pd.isna(v) else v.to_pydatetime() for v in s], None))
        else:
            out.append((c, [None if (v is None or v != v) else str(v)
                            for v in s.astype("object")], None))
    return out


def _write_sheet(wb, name, sheet, chunk, frame, fmt, language, marker, max_text, report):
    ws = wb.add_worksheet(name)
    for j, c in enumerate(sheet.cols):
        _check(ws.write_string(0, j, c.header(language), fmt.header), name, 0, j)
    for j, w in enumerate(_width(sheet, frame, language)):
        ws.set_column(j, j, w)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(chunk), 1), len(sheet.cols) - 1)
    columns = _cells(sheet, chunk, frame)
    n = len(chunk)
    for i in range(n):
        r = i + 1
        for j, (c, vals, exps) in enumerate(columns):
            v = vals[i]
            if v is None:
                continue
            if c.kind == TEXT:
                if len(v) > max_text:
                    v = v[: max_text - len(marker)] + marker
                    report.cut_cells.append((name, r + 1, c.header(language)))
                code = ws.write_string(r, j, v)
            elif c.kind == AMOUNT:
                code = ws.write_number(r, j, v, fmt.amount(int(exps[i])))
            elif c.kind == DATE:
                code = ws.write_datetime(r, j, v, fmt.date)
            elif c.kind == PERCENT:
                code = ws.write_number(r, j, v, fmt.percent)
            elif c.kind == RATE:
                code = ws.write_number(r, j, v, fmt.rate)
            else:
                code = ws.write_number(r, j, v, fmt.int)
            _check(code, name, r, j)
