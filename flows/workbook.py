"""Write the invoicing workbook (DESIGN.md §6): the one entry point, :func:`write_workbook`.

XlsxWriter writes the package: workbook, styles with the per-currency number formats, column
widths, frozen header, autofilter, document properties with a fixed creation time (so the same
tables give the same bytes) and the zip container. A sheet that would pass ``max_rows``
(Excel: 1,048,576 including the header) continues on "Name (2)"; text over ``max_text`` UTF-16
units (Excel: 32,767) is cut with a marker and reported. Every XlsxWriter return code is
checked: nothing is lost silently.

Every sheet is set up to print: A4 landscape, fitted to the page width, the header row repeated
on every page, a footer with the sheet, the run id and "page n of m".

This module holds what is the same for every way of writing the cells (the sheets, their
layout, the formats); the cells come from one of two writers:

* the fast row path (production): the data rows built column-wise as XML with Arrow
  (:mod:`flows.xlsx_cells`) and put into each sheet as the package is zipped
  (:mod:`flows.xlsx_rows`, the one module that touches XlsxWriter's internals, with its
  version check). ``benchmarks/README.md`` has the measurements behind it.
* the reference (:mod:`flows.xlsx_reference`): XlsxWriter's public API, cell by cell — the
  definition of the cells, which tests hold the fast path to; never used by a run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from xlsxwriter.utility import xl_col_to_name

from schemas.columns import AMOUNT, DATE, RATE, TEXT, VARIANT, Sheet

from . import xlsx_cells, xlsx_rows
from .errors import WriterError

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_TEXT = 32_767
CUT_MARKER = {"de": " …[gekürzt]", "en": " …[cut]"}
#: rows built and written per batch: bounds memory (~150 MB of XML per batch at 32 columns)
BATCH_ROWS = 50_000
#: zlib level of the package's deflate. XlsxWriter leaves zipfile's default (6), and deflating
#: the sheets' XML is then two thirds of closing the workbook; level 1 deflates 2.5 times
#: faster for a file about 30 % larger (100k orders: 0.45 s instead of 1.15 s, 21 MB, not 16).
DEFLATE_LEVEL = 1
#: text is text: never turned into a formula, a number or a link by XlsxWriter
OPTIONS = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}

_DATE_FORMAT = {"de": "dd.mm.yyyy", "en": "yyyy-mm-dd"}
#: the print footer: left the sheet, centre the run, right the page (XlsxWriter's &-codes)
_FOOTER = {"de": "&L&A&CLauf {run}&RSeite &P von &N", "en": "&L&A&CRun {run}&RPage &P of &N"}
_PAPER_A4 = 9

__all__ = ["BATCH_ROWS", "CUT_MARKER", "DEFLATE_LEVEL", "EXCEL_MAX_ROWS", "EXCEL_MAX_TEXT",
           "WriteReport", "WriterError", "over_limit", "write_workbook"]


@dataclass
class WriteReport:
    rows: dict[str, int] = field(default_factory=dict)
    cut_cells: list[tuple[str, int, str]] = field(default_factory=list)  # sheet, row, column
    sheets: list[str] = field(default_factory=list)


def check(code, sheet, row, col):
    if code not in (0, None):
        raise WriterError(f"{sheet}: row {row + 1}, column {col + 1}: XlsxWriter error {code}")


class Formats:
    """The cell formats of one workbook, the same for both writers."""

    def __init__(self, wb, language):
        self.wb = wb
        self.header = wb.add_format({"bold": True, "bg_color": "#DDE4EE", "border": 1,
                                     "text_wrap": False})
        self.date = wb.add_format({"num_format": _DATE_FORMAT[language]})
        self.int = wb.add_format({"num_format": "0"})
        self.percent = wb.add_format({"num_format": "0.0##"})
        self.rate = wb.add_format({"num_format": "0.000000"})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        self._amount = {}

    def amount(self, exp: int):
        if exp not in self._amount:
            fmt = "#,##0" + ("." + "0" * exp if exp > 0 else "")
            self._amount[exp] = self.wb.add_format({"num_format": fmt})
        return self._amount[exp]

    xf = staticmethod(xlsx_rows.xf_index)


def _width(sheet: Sheet, frame: pd.DataFrame, language: str) -> list[int]:
    sample = frame.head(500)
    texts = [j for j, c in enumerate(sheet.cols) if c.kind in (TEXT, VARIANT)]
    longest = np.zeros(len(sheet.cols), dtype=np.int64)
    if len(sample) and texts:  # the lengths of all text columns at once, a column a row
        lengths = pc.utf8_length(pa.chunked_array(
            [xlsx_cells.text_array(sample[sheet.cols[j].id]) for j in texts], pa.large_string()))
        longest[texts] = (np.asarray(pc.fill_null(lengths, 0).to_numpy(), dtype=np.int64)
                          .reshape(len(texts), len(sample)).max(axis=1) + 1)
    widths = []
    for j, c in enumerate(sheet.cols):
        w = len(c.header(language)) + 2
        if c.kind in (TEXT, VARIANT) and len(sample):
            w = max(w, int(longest[j]))
        elif c.kind == DATE:
            w = max(w, 11)
        elif c.kind in (AMOUNT, RATE):
            w = max(w, 14)
        widths.append(min(w, 60))
    return widths


def over_limit(values: pd.Series | pa.Array | pa.ChunkedArray,
               max_text: int = EXCEL_MAX_TEXT) -> np.ndarray:
    """Which texts are longer than ``max_text`` UTF-16 units (how Excel counts), i.e. will be
    cut. UTF-8 bytes are never fewer than UTF-16 units, so only long texts are looked at."""
    arr = (values if isinstance(values, (pa.Array, pa.ChunkedArray))
           else xlsx_cells.text_array(values))
    cand = np.flatnonzero(xlsx_cells.bool_mask(pc.greater(pc.binary_length(arr), max_text)))
    out = np.zeros(len(arr), dtype=bool)
    for i in cand:
        out[i] = xlsx_cells.utf16_len(arr[int(i)].as_py()) > max_text
    return out


def write_workbook(path: Path, tables: dict[str, pd.DataFrame], sheets: tuple[Sheet, ...],
                   language: str, created: dt.date, title: str,
                   max_rows: int = EXCEL_MAX_ROWS, max_text: int = EXCEL_MAX_TEXT,
                   run_id: str = "") -> WriteReport:
    """The workbook of ``tables`` (by sheet id) at ``path``, written by the fast row path."""
    return write_with(_fast_workbook, _fast_rows, path, tables, sheets, language, created,
                      title, max_rows, max_text, run_id)


def write_with(new_workbook, write_rows, path: Path, tables: dict[str, pd.DataFrame],
               sheets: tuple[Sheet, ...], language: str, created: dt.date, title: str,
               max_rows: int, max_text: int, run_id: str) -> WriteReport:
    """The sheets, their layout and the report, the same for both writers; the workbook comes
    from ``new_workbook(path)``, each part's data rows from ``write_rows(wb, ws, RowsTask)``."""
    if max_rows < 2:
        raise ValueError(f"max_rows must be at least 2 (a header and one data row), not "
                         f"{max_rows}")
    if max_rows > EXCEL_MAX_ROWS:
        raise ValueError(f"max_rows {max_rows} is beyond Excel's {EXCEL_MAX_ROWS:,} rows")
    marker = CUT_MARKER[language]
    if not 0 < xlsx_cells.utf16_len(marker) < max_text:
        raise ValueError(f"max_text {max_text} leaves no room for the cut marker {marker!r}")
    report = WriteReport()
    wb = new_workbook(path)
    try:
        wb.set_properties({"title": title, "author": "billing-export", "company": "",
                           "created": dt.datetime.combine(created, dt.time())})
        fmt = Formats(wb, language)
        for sheet in sheets:
            frame = tables[sheet.id]
            per_sheet = max_rows - 1
            chunks = max(1, -(-len(frame) // per_sheet))
            for part in range(chunks):
                name = sheet.name(language) + (f" ({part + 1})" if part else "")
                chunk = frame.iloc[part * per_sheet:(part + 1) * per_sheet]
                ws, widths = _layout(wb, name, sheet, chunk, frame, fmt, language, run_id)
                if len(chunk):
                    write_rows(wb, ws, RowsTask(name, sheet, chunk, fmt, language, marker,
                                                max_text, report, widths))
                report.sheets.append(name)
            report.rows[sheet.id] = len(frame)
    finally:
        wb.close()
    return report


@dataclass
class RowsTask:
    """What a writer needs to write one sheet's data rows (from row 1, after the header)."""

    name: str
    sheet: Sheet
    chunk: pd.DataFrame
    fmt: Formats
    language: str
    marker: str
    max_text: int
    report: WriteReport
    widths: list[int]


def _layout(wb, name, sheet, chunk, frame, fmt, language, run_id):
    """A new sheet with its header row and layout; its column widths, which decide wrapping."""
    ws = wb.add_worksheet(name)
    ncols = len(sheet.cols)
    for j, c in enumerate(sheet.cols):
        check(ws.write_string(0, j, c.header(language), fmt.header), name, 0, j)
    widths = _width(sheet, frame, language)
    for j, w in enumerate(widths):
        check(ws.set_column(j, j, w), name, 0, j)
    _print_setup(ws, language, run_id)
    # codes (company 100, booking numbers, accounts) are text on purpose, as the ERP keeps
    # them: Excel is told not to flag them as numbers stored as text
    ws.ignore_errors({"number_stored_as_text": f"A1:{xl_col_to_name(ncols - 1)}"
                                               f"{max(len(chunk), 1) + 1}"})
    ws.freeze_panes(1, 0)
    check(ws.autofilter(0, 0, max(len(chunk), 1), ncols - 1), name, 0, 0)
    return ws, widths


def _print_setup(ws, language: str, run_id: str) -> None:
    """A4 landscape, one page wide and as many long as it takes, the header row on every page,
    and a footer naming the sheet, the run and the page: a printed page can be put back."""
    ws.set_landscape()
    ws.set_paper(_PAPER_A4)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    footer = _FOOTER[language].format(run=run_id.replace("&", "&&") or "-")
    ws.set_footer(footer)


def _fast_workbook(path: Path):
    return xlsx_rows.FastWorkbook(str(path), {"constant_memory": True, **OPTIONS},
                                  DEFLATE_LEVEL)


def _fast_rows(wb, ws, t: RowsTask) -> None:
    """The data rows as XML, a batch at a time, into the file the sheet reserved for them."""
    fh = wb.reserve_rows(ws, len(t.chunk), len(t.sheet.cols))
    for start in range(0, len(t.chunk), BATCH_ROWS):
        part = t.chunk.iloc[start:start + BATCH_ROWS]
        rows = xlsx_cells.rows_xml(t.sheet, part, start + 1, t.fmt, t.name, t.language,
                                   t.marker, t.max_text, t.report, t.widths)
        fh.write(xlsx_cells.joined_bytes(rows))
