"""Write the invoicing workbook (DESIGN.md §6): XlsxWriter for the package, vectorised rows.

XlsxWriter (constant-memory mode) writes everything but the cells: workbook, styles with the
per-currency number formats, column widths, frozen header, autofilter, document properties
with a fixed creation time (so the same tables give the same bytes) and the zip container.
The data rows are the hot path: a million lines are three million Python calls into
XlsxWriter, so they are instead built column-wise with Arrow compute kernels, in exactly the
XML XlsxWriter's own constant-memory row writer emits (``<c r=.. s=..><v>..</v></c>`` and
inline strings), written to a file of their own, and put after the header row as the sheet
goes into the zip (:class:`_ZipFile`, which also deflates at :data:`DEFLATE_LEVEL`).
``benchmarks/README.md`` has the measurements behind the choice.

Amounts are written as exact decimal text built from integer minor units and the currency's
exponent (no float ever holds an amount); each cell gets its currency's number format. Text is
always an inline string, never a formula, XML-escaped, control characters as ``_xHHHH_``
like Excel. A sheet that would pass ``max_rows`` (Excel: 1,048,576 including the header)
continues on "Name (2)"; text over ``max_text`` UTF-16 units (Excel: 32,767) is cut with a
marker and reported. Every XlsxWriter return code is checked: nothing is lost silently.

Every sheet is set up to print: A4 landscape, fitted to the page width, the header row repeated
on every page, a footer with the sheet, the run id and "page n of m"; a text cell longer than
its column is wide gets a wrapping style (only that cell, so short rows keep their height).
A :data:`VARIANT` column (the Reconciliation sheet's values) is written cell by cell as the
kind its row names: a count, an amount in its currency's format, a date or a text.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter
import xlsxwriter.workbook
from xlsxwriter.utility import xl_col_to_name

from schemas.columns import AMOUNT, DATE, PERCENT, RATE, TEXT, VARIANT, Sheet
from transforms import currencies

from .errors import WriterError  # noqa: F401 - defined with every error in flows.errors

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_TEXT = 32_767
CUT_MARKER = {"de": " …[gekürzt]", "en": " …[cut]"}
_DATE_FORMAT = {"de": "dd.mm.yyyy", "en": "yyyy-mm-dd"}
_SCALE = {PERCENT: 4, RATE: 6}  # money.PERCENT_SCALE, money.RATE_SCALE as exponents
#: rows built and written per batch: bounds memory (~150 MB of XML per batch at 32 columns)
BATCH_ROWS = 50_000

_LS = pa.large_string()
# what XlsxWriter escapes as _xHHHH_ (control characters, U+FFFE/U+FFFF, and a literal _xHHHH_)
_CONTROL_RE2 = r"[\x00-\x08\x0b-\x1f\x{fffe}\x{ffff}]|_x[0-9a-fA-F]{4}_"
_CONTROL_1 = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL_2 = re.compile(r"([\x00-\x08\x0b-\x1f])")
# leading or trailing whitespace as Python's ``\s`` sees it (XlsxWriter's xml:space test)
_EDGE_SPACE_RE2 = r"^[\s\p{Z}\x{85}]|[\s\p{Z}\x{85}]$"
_EDGE_SPACE = re.compile(r"^\s|\s$")
#: the print footer: left the sheet, centre the run, right the page (XlsxWriter's &-codes)
_FOOTER = {"de": "&L&A&CLauf {run}&RSeite &P von &N", "en": "&L&A&CRun {run}&RPage &P of &N"}
_PAPER_A4 = 9
# days from 1899-12-31 (Excel's 1900 epoch), +1 after 1900-02-28 (Excel's leap-year bug)
_EPOCH = np.datetime64("1899-12-31", "ns")
_NS_PER_DAY = 86_400 * 10**9


#: zlib level of the package's deflate. XlsxWriter leaves zipfile's default (6), and deflating
#: the sheets' XML is then two thirds of closing the workbook; level 1 deflates 2.5 times
#: faster for a file about 30 % larger (100k orders: 0.45 s instead of 1.15 s, 21 MB, not 16).
DEFLATE_LEVEL = 1
_DEFLATE = contextvars.ContextVar("deflate_level", default=None)
#: while this module closes a workbook: sheet XML name in the zip → its data rows
_ROWS = contextvars.ContextVar("sheet_rows", default=None)


class _RowFile:
    """A sheet's data rows until the workbook closes: a temporary file of zstd-compressed
    batches. A million lines are 1.5 GB of XML; writing them to disk and reading them back
    took longer than compressing them to a fifteenth and back (pyarrow's zstd, level 1)."""

    _codec = pa.Codec("zstd", compression_level=1) if pa.Codec.is_available("zstd") else None

    def __init__(self, tmpdir):
        self.file = tempfile.TemporaryFile(dir=tmpdir)
        self.sizes: list[tuple[int, int]] = []  # per batch: stored bytes, XML bytes

    def write(self, xml) -> None:
        stored = self._codec.compress(xml, asbytes=True) if self._codec else bytes(xml)
        self.file.write(stored)
        self.sizes.append((len(stored), len(xml)))

    def size(self) -> int:
        return sum(plain for _, plain in self.sizes)

    def batches(self):
        self.file.seek(0)
        for stored, plain in self.sizes:
            data = self.file.read(stored)
            yield (self._codec.decompress(data, decompressed_size=plain, asbytes=True)
                   if self._codec else data)

    def close(self) -> None:
        self.file.close()


class _ZipFile(zipfile.ZipFile):
    """The zip file XlsxWriter packs into. While this module closes a workbook it deflates at
    :data:`DEFLATE_LEVEL` and adds each sheet's data rows from their own file as the sheet
    goes into the zip, just before ``</sheetData>`` (XlsxWriter's copy of them into its sheet
    file, through a text-mode decode and encode, is skipped). Anyone else's workbook is packed
    as XlsxWriter does."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("compresslevel", _DEFLATE.get())
        super().__init__(*args, **kwargs)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        rows = (_ROWS.get() or {}).get(arcname)
        if rows is None:
            return super().write(filename, arcname, compress_type, compresslevel)
        # as ZipFile.write does for a file, with the rows inside the sheet's XML
        sheet = Path(filename).read_bytes()
        cut = sheet.index(b"</sheetData>")
        info = zipfile.ZipInfo.from_file(filename, arcname)
        info.file_size = len(sheet) + rows.size()
        info.compress_type = self.compression if compress_type is None else compress_type
        info._compresslevel = self.compresslevel if compresslevel is None else compresslevel
        with self.open(info, "w") as dest:
            dest.write(sheet[:cut])
            for xml in rows.batches():
                dest.write(xml)
            dest.write(sheet[cut:])


xlsxwriter.workbook.ZipFile = _ZipFile  # looked up by Workbook._store_workbook at close


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

    @staticmethod
    def xf(fmt) -> str:
        # the style index XlsxWriter gives the format (assigned on first use, as when it
        # writes a cell itself)
        return str(fmt._get_xf_index())


def _width(sheet: Sheet, frame: pd.DataFrame, language: str) -> list[int]:
    widths = []
    sample = frame.head(500)
    for c in sheet.cols:
        w = len(c.header(language)) + 2
        if c.kind in (TEXT, VARIANT) and len(sample):
            w = max(w, int(sample[c.id].astype("str").str.len().fillna(0).max()) + 1)
        elif c.kind == DATE:
            w = max(w, 11)
        elif c.kind in (AMOUNT, RATE):
            w = max(w, 14)
        widths.append(min(w, 60))
    return widths


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def over_limit(values: pd.Series, max_text: int = EXCEL_MAX_TEXT) -> np.ndarray:
    """Which texts are longer than ``max_text`` UTF-16 units (how Excel counts), i.e. will be
    cut. UTF-8 bytes are never fewer than UTF-16 units, so only long texts are looked at."""
    arr = _text_array(values)
    cand = np.flatnonzero(_bool(pc.greater(pc.binary_length(arr), max_text)))
    out = np.zeros(len(arr), dtype=bool)
    for i in cand:
        out[i] = _utf16_len(arr[int(i)].as_py()) > max_text
    return out


def _cut(text: str, max_text: int, marker: str) -> str:
    keep = max_text - _utf16_len(marker)
    head = text.encode("utf-16-le", "surrogatepass")[: 2 * keep]
    return head.decode("utf-16-le", "ignore") + marker  # a split surrogate pair is dropped


def _escape_control(text: str) -> str:
    text = _CONTROL_1.sub(r"_x005F\1", text)
    text = _CONTROL_2.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    return text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")


def write_workbook(path: Path, tables: dict[str, pd.DataFrame], sheets: tuple[Sheet, ...],
                   language: str, created: dt.date, title: str,
                   max_rows: int = EXCEL_MAX_ROWS, max_text: int = EXCEL_MAX_TEXT,
                   run_id: str = "") -> WriteReport:
    if max_rows < 2:
        raise ValueError(f"max_rows must be at least 2 (a header and one data row), not "
                         f"{max_rows}")
    if max_rows > EXCEL_MAX_ROWS:
        raise ValueError(f"max_rows {max_rows} is beyond Excel's {EXCEL_MAX_ROWS:,} rows")
    marker = CUT_MARKER[language]
    if not 0 < _utf16_len(marker) < max_text:
        raise ValueError(f"max_text {max_text} leaves no room for the cut marker {marker!r}")
    report = WriteReport()
    rows: dict[str, _RowFile] = {}  # sheet XML name → its data rows
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_numbers": False, "strings_to_urls": False})
    wb.set_properties({"title": title, "author": "billing-export", "company": "",
                       "created": dt.datetime.combine(created, dt.time())})
    fmt = _Formats(wb, language)
    try:
        for sheet in sheets:
            frame = tables[sheet.id]
            per_sheet = max_rows - 1
            chunks = max(1, -(-len(frame) // per_sheet))
            for part in range(chunks):
                name = sheet.name(language) + (f" ({part + 1})" if part else "")
                chunk = frame.iloc[part * per_sheet:(part + 1) * per_sheet]
                _write_sheet(wb, name, sheet, chunk, frame, fmt, language, marker, max_text,
                             report, rows, run_id)
                report.sheets.append(name)
            report.rows[sheet.id] = len(frame)
    finally:
        level, spliced = _DEFLATE.set(DEFLATE_LEVEL), _ROWS.set(rows)
        try:
            wb.close()
        finally:
            _DEFLATE.reset(level)
            _ROWS.reset(spliced)
            for f in rows.values():
                f.close()
    return report


def _print_setup(ws, language: str, run_id: str) -> None:
    """A4 landscape, one page wide and as many long as it takes, the header row on every page,
    and a footer naming the sheet, the run and the page: a printed page can be put back."""
    ws.set_landscape()
    ws.set_paper(_PAPER_A4)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    footer = _FOOTER[language].format(run=run_id.replace("&", "&&") or "-")
    ws.set_footer(footer)


def _write_sheet(wb, name, sheet, chunk, frame, fmt, language, marker, max_text, report,
                 row_files, run_id=""):
    ws = wb.add_worksheet(name)
    ncols = len(sheet.cols)
    for j, c in enumerate(sheet.cols):
        _check(ws.write_string(0, j, c.header(language), fmt.header), name, 0, j)
    widths = _width(sheet, frame, language)
    for j, w in enumerate(widths):
        _check(ws.set_column(j, j, w), name, 0, j)
    _print_setup(ws, language, run_id)
    # codes (company 100, booking numbers, accounts) are text on purpose, as the ERP keeps
    # them: Excel is told not to flag them as numbers stored as text
    ws.ignore_errors({"number_stored_as_text": f"A1:{xl_col_to_name(ncols - 1)}"
                                               f"{max(len(chunk), 1) + 1}"})
    ws.freeze_panes(1, 0)
    _check(ws.autofilter(0, 0, max(len(chunk), 1), ncols - 1), name, 0, 0)
    n = len(chunk)
    if not n:
        return
    # the data rows 1..n: reserve them in XlsxWriter's bookkeeping (dimension, last row
    # written), flush the header row into its row-data file, then write the rows' XML to a
    # file of their own, which _ZipFile puts after the header row when the workbook closes
    _check(ws._check_dimensions(n, ncols - 1), name, n, ncols - 1)
    ws._write_single_row(n + 1)
    fh = _RowFile(wb.tmpdir)
    row_files[f"xl/worksheets/sheet{len(wb.worksheets())}.xml"] = fh
    for start in range(0, n, BATCH_ROWS):
        part = chunk.iloc[start:start + BATCH_ROWS]
        rows = _rows_xml(sheet, part, start + 1, fmt, name, language, marker, max_text, report,
                         widths)
        fh.write(_joined_bytes(rows))


def _joined_bytes(arr: pa.Array) -> memoryview:
    """All values of a large_string array back to back (its data buffer between the offsets)."""
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    return memoryview(data)[int(offs[0]):int(offs[-1])]


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, _LS)


def _bool(arr) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _text_array(values: pd.Series) -> pa.Array:
    s = values if values.dtype == "str" else values.astype("str")
    arr = pa.array(s, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(_LS)


def _int_array(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """int64 values and a mask of present ones (nullable Int64 or int64)."""
    present = values.notna().to_numpy()
    ints = values.fillna(0).to_numpy(dtype=np.int64) if len(values) else np.zeros(0, np.int64)
    return ints, present


def decimal_text(minor: np.ndarray, exps: np.ndarray) -> pa.Array:
    """Exact decimal text of integer minor units at per-row exponents: 125005, 2 → "1250.05";
    -5, 2 → "-0.05"; 7, 0 → "7". The same digits ``Decimal(minor).scaleb(-exp)`` shows."""
    minor = np.asarray(minor, dtype=np.int64)
    exps = np.asarray(exps, dtype=np.int64)
    mag = np.abs(minor)
    unit = 10 ** exps
    whole = pa.array(mag // unit).cast(_LS)
    # the fraction, zero-padded to exp digits: 10**exp + frac written out, minus the leading 1
    frac = pc.utf8_slice_codeunits(pa.array(unit + mag % unit).cast(_LS), 1)
    frac = pc.if_else(pa.array(exps > 0), pc.binary_join_element_wise(_s("."), frac, _s("")),
                      _s(""))
    sign = pc.if_else(pa.array(minor < 0), _s("-"), _s(""))
    return pc.binary_join_element_wise(sign, whole, frac, _s(""))


def _exponents(currency: pd.Series) -> np.ndarray:
    """Decimals of each row's currency (-1 for none or an unknown one), looked up once per
    distinct currency."""
    codes, values = pd.factorize(currency, use_na_sentinel=False)
    known = pd.Series(values, dtype="object")
    return currencies.exponents(known.where(known.notna(), ""))[codes]


def _excel_dates(values: pd.Series, name: str, header: str) -> tuple[pa.Array, np.ndarray]:
    """Excel serial day numbers (1900 system) as text, and the mask of present dates."""
    ns = values.to_numpy(dtype="datetime64[ns]")
    present = ~np.isnat(ns)
    delta = (ns - _EPOCH).astype(np.int64)
    days, rest = np.divmod(delta, _NS_PER_DAY)
    days = np.where(days > 59, days + 1, days)  # Excel's 29 February 1900
    if (rest[present] != 0).any():
        # a time of day: the fraction as XlsxWriter writes it (dates here are whole days)
        text = [None if not p else f"{d + r / _NS_PER_DAY:.16G}"
                for d, r, p in zip(days.tolist(), rest.tolist(), present.tolist())]
        return pa.array(text, _LS), present
    if present.any() and days[present].min() < 0:
        raise WriterError(f"{name}: column {header}: a date before 1900 cannot be an Excel date")
    return pa.array(days).cast(_LS), present


def _rows_xml(sheet: Sheet, part: pd.DataFrame, first_row: int, fmt, name, language, marker,
              max_text, report, widths=None) -> pa.Array:
    """The <row> elements of the data rows ``first_row``.. (0-based sheet rows)."""
    n = len(part)
    rownum = pa.array(np.arange(first_row + 1, first_row + n + 1, dtype=np.int64)).cast(_LS)
    # the pieces of every row, joined once at the end; a column with a missing cell is joined
    # on its own first (a missing piece makes the whole cell null, written as nothing)
    pieces = [_s('<row r="'), rownum, _s('">')]

    def add(*cell):
        if any(isinstance(p, pa.Array) and p.null_count for p in cell):
            pieces.append(pc.binary_join_element_wise(*cell, _s("")))
        else:
            pieces.extend(cell)
    for j, c in enumerate(sheet.cols):
        ref = _s(f'<c r="{xl_col_to_name(j)}')
        s = part[c.id]
        header = c.header(language)
        width = widths[j] if widths else None
        if c.kind == VARIANT:
            add(pa.array(_variant_cells(xl_col_to_name(j), s, part[f"{c.id}_kind"],
                                        part[c.currency] if c.currency else None, first_row,
                                        fmt, name, header, marker, max_text, report, width),
                         _LS))
        elif c.kind == TEXT:
            arr = _text_array(s)
            arr = _cut_texts(arr, first_row, name, header, marker, max_text, report)
            ctrl = np.flatnonzero(_bool(pc.match_substring_regex(arr, _CONTROL_RE2)))
            if len(ctrl):
                mask = np.zeros(n, dtype=bool)
                mask[ctrl] = True
                fixed = [_escape_control(arr[int(i)].as_py()) for i in ctrl]
                arr = pc.replace_with_mask(arr, pa.array(mask), pa.array(fixed, _LS))
            preserve = pc.if_else(pc.match_substring_regex(arr, _EDGE_SPACE_RE2),
                                  _s('<t xml:space="preserve">'), _s("<t>"))
            for ch, ent in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
                if pc.any(pc.match_substring(arr, ch)).as_py():  # most columns have none
                    arr = pc.replace_substring(arr, ch, ent)
            kind = _s('" t="inlineStr"><is>')
            if width is not None:
                # a text longer than its column wraps (its row grows), else it runs off
                long = pc.greater(pc.utf8_length(arr), width)
                if pc.any(long).as_py():
                    kind = pc.if_else(long, _s(f'" s="{fmt.xf(fmt.wrap)}" t="inlineStr"><is>'),
                                      kind)
            add(ref, rownum, kind, preserve, arr, _s("</t></is></c>"))
        else:
            if c.kind == DATE:
                value, present = _excel_dates(s, name, header)
                style = _s(fmt.xf(fmt.date))
            else:
                ints, present = _int_array(s)
                if c.kind == AMOUNT:
                    exps = _exponents(part[c.currency])
                    bad = present & (exps < 0)
                    if bad.any():
                        i = int(np.flatnonzero(bad)[0])
                        raise WriterError(
                            f"{name}: row {first_row + i + 1}, column {header}: amount without "
                            f"a known currency ({part[c.currency].iloc[i]!r})")
                    exps = np.where(present, exps, 0)
                    value = decimal_text(ints, exps)
                    styles = {int(e): fmt.xf(fmt.amount(int(e)))
                              for e in np.unique(exps[present])}
                    table = np.array([styles.get(e, "0") for e in range(int(exps.max()) + 1)],
                                     dtype=object)
                    style = pa.array(table[exps], _LS)
                elif c.kind in _SCALE:
                    value = decimal_text(ints, np.full(n, _SCALE[c.kind], dtype=np.int64))
                    style = _s(fmt.xf(fmt.percent if c.kind == PERCENT else fmt.rate))
                else:
                    value = pa.array(ints).cast(_LS)
                    style = _s(fmt.xf(fmt.int))
            value = pc.if_else(pa.array(present), value, pa.scalar(None, _LS))
            add(ref, rownum, _s('" s="'), style, _s('"><v>'), value, _s("</v></c>"))
    pieces.append(_s("</row>"))
    return pc.binary_join_element_wise(*pieces, _s(""), null_handling="replace",
                                       null_replacement="")


def _cut_texts(arr, first_row, name, header, marker, max_text, report):
    cand = np.flatnonzero(_bool(pc.greater(pc.binary_length(arr), max_text)))
    if not len(cand):
        return arr
    mask = np.zeros(len(arr), dtype=bool)
    fixed = []
    for i in cand:
        text = arr[int(i)].as_py()
        if _utf16_len(text) > max_text:
            mask[i] = True
            fixed.append(_cut(text, max_text, marker))
            report.cut_cells.append((name, first_row + int(i) + 1, header))
    if not fixed:
        return arr
    return pc.replace_with_mask(arr, pa.array(mask), pa.array(fixed, _LS))


def _variant_cells(col: str, values: pd.Series, kinds: pd.Series, currency, first_row: int,
                   fmt, name, header, marker, max_text, report, width) -> list[str]:
    """The cells of a :data:`VARIANT` column one by one (a sheet of a few dozen rows): each
    value's exact text written as the kind its row names, so a count or an amount is a number
    Excel sums, a date is a date, and nothing is a number stored as text."""
    out = []
    for i, (value, kind) in enumerate(zip(values.tolist(), kinds.tolist())):
        row = first_row + i + 1
        where = f"{name}: row {row}, column {header}"
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            out.append("")
            continue
        text = str(value)
        ref = f'<c r="{col}{row}"'
        if kind == "int":
            if not re.fullmatch(r"-?\d+", text):
                raise WriterError(f"{where}: {text!r} is not a whole number")
            out.append(f'{ref} s="{fmt.xf(fmt.int)}"><v>{int(text)}</v></c>')
        elif kind == "amount":
            cur = currency.iloc[i] if currency is not None else None
            exp = int(_exponents(pd.Series([cur], dtype="object"))[0])
            try:
                amount = Decimal(text)
            except InvalidOperation:
                amount = None
            if exp < 0 or amount is None or not amount.is_finite() or \
                    amount != amount.quantize(Decimal(1).scaleb(-exp)):
                raise WriterError(f"{where}: {text!r} is not an amount in {cur!r}")
            digits = format(amount.quantize(Decimal(1).scaleb(-exp)), "f")
            out.append(f'{ref} s="{fmt.xf(fmt.amount(exp))}"><v>{digits}</v></c>')
        elif kind == "date":
            try:
                day = dt.date.fromisoformat(text)
            except ValueError:
                raise WriterError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None
            serial = (day - dt.date(1899, 12, 31)).days
            serial += serial > 59  # Excel's 29 February 1900
            if serial < 1:
                raise WriterError(f"{where}: a date before 1900 cannot be an Excel date")
            out.append(f'{ref} s="{fmt.xf(fmt.date)}"><v>{serial}</v></c>')
        else:
            if _utf16_len(text) > max_text:
                text = _cut(text, max_text, marker)
                report.cut_cells.append((name, row, header))
            long = width is not None and len(text) > width
            text = _escape_control(text)
            space = ' xml:space="preserve"' if _EDGE_SPACE.search(text) else ""
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            style = f' s="{fmt.xf(fmt.wrap)}"' if long else ""
            out.append(f'{ref}{style} t="inlineStr"><is><t{space}>{text}</t></is></c>')
    return out
