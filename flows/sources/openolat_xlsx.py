"""Booking orders from OpenOlat's Excel export "Buchungsaufträge" (``.xlsx`` / ``.xlsm``).

Read with python-calamine (a Rust reader, much faster than openpyxl) into a frame of *text*
cells with the canonical column ids, exactly like the CSV source; parsing and validation are
shared (shared/openolat-booking-orders.md §1). Columns are found by header text in row 1,
German or English, through :func:`transforms.headers.map_headers` (the two identical
"Kennzeichen" / "Ext. ref." headers: product first, implementation second; any number of
leading user-property columns). ``source_row`` is the Excel row number (header = row 1);
blank rows are skipped; cells in columns without a header are ignored.

Cell values become text the parser understands, never a float that stands for money:

* text as it is (``CHF\u00a01250.00``, ``2025-05-12 00:00:00.0``, ``null``, ``=HYPERLINK(...)``);
* a whole number without ``.0`` (``187001``), exactly; any other number as Excel shows it
  (15 significant digits, no exponent). A numeric cell in a money column carries no currency,
  so the parser rejects it (BAD_AMOUNT) instead of guessing one;
* a date cell as ``YYYY-MM-DD``; a date-time with a time of day as ``YYYY-MM-DD HH:MM:SS``
  (the parser keeps the date); a time as ``HH:MM:SS``;
* TRUE / FALSE for booleans, ``""`` for empty cells;
* an Excel error value (``#N/A``, ``#VALUE!``) as its text, so a broken price or date is
  rejected rather than read as "empty" (calamine drops error values; they are recovered from
  the sheet XML).

Which sheet: OpenOlat writes one sheet, "Buchungsaufträge" or "Booking orders". The sheet with
one of these names (case and spaces ignored) is read, whatever other sheets exist. If none has
such a name and the workbook holds exactly one worksheet, that one is read. Otherwise (several
sheets, none of them named so, or both names present) the file is refused with a message
naming the sheets found: guessing could bill the wrong table.

A file that cannot be used as a whole raises :class:`SourceError` with a plain message: no such
file, an empty file, CSV (or other) text renamed to ``.xlsx``, a damaged or cut-off zip, a
password-protected workbook (an encrypted OOXML file is an OLE container starting with
``D0 CF 11 E0``), an old ``.xls`` renamed, no header row, required columns missing (German /
English header names listed). A header-only export is fine: zero rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import posixpath
import re
import struct
import zipfile
import zlib
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import python_calamine as pc

from transforms.headers import map_headers, required_headers

from .base import Extract, Limits, SourceError, file_size, over_limit, read_file

#: OpenOlat's sheet name in German and English (compared without case and extra spaces).
SHEET_NAMES = ("Buchungsaufträge", "Booking orders")

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
_XLS_STREAM = "Workbook".encode("utf-16-le")
_MAX_EXACT_INT = 2**63

# the members of a source (flows.sources.registry.Source)
SUFFIXES = (".xlsx", ".xlsm")
READS_URLS = False
OPTIONS: tuple[str, ...] = ()
PRICE_FORMAT = None  # the company's price_format decides


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


# --- cell values to text ---------------------------------------------------------------------

def _number_text(v: float) -> str:
    if v != v or v in (float("inf"), float("-inf")):  # cannot occur in a valid file
        return str(v)
    if v.is_integer() and abs(v) < _MAX_EXACT_INT:
        return str(int(v))
    # as Excel displays a number: 15 significant digits, then plain notation without exponent
    d = Decimal(format(v, ".15g"))
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def cell_text(v) -> str:
    """One cell value (from calamine or openpyxl) as the text the parser reads."""
    if v is None:
        return ""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "TRUE" if v else "FALSE"
    if t is int:
        return str(v)
    if t is float:
        return _number_text(v)
    if isinstance(v, dt.datetime):
        if v.time() == dt.time(0):
            return v.date().isoformat()
        return v.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.replace(microsecond=0).isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    if isinstance(v, int):  # numpy and other int-likes
        return str(int(v))
    if isinstance(v, float):
        return _number_text(float(v))
    return str(v)


# --- the file as a whole ---------------------------------------------------------------------

def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # a cut multi-byte character at the end is fine
            try:
                head.decode("cp1252")
            except UnicodeDecodeError:
                return False
    return True


def _not_a_workbook(data: bytes, name: str) -> SourceError:
    """Why bytes that are not a zip cannot be an Excel workbook."""
    head = data[:4096]
    if head.startswith(OLE_MAGIC):
        if _XLS_STREAM in data and _ENCRYPTION_INFO not in data:
            return SourceError(name, "this is an old Excel 97-2003 (.xls) file renamed to .xlsx; "
                               "open it and save it as an Excel workbook (.xlsx)")
        return SourceError(name, "the workbook is password-protected (encrypted); open it, save "
                           "it without a password and try again")
    if _looks_like_text(head):
        first = head.decode("utf-8-sig", errors="replace").lstrip().splitlines()
        first = first[0] if first else ""
        if first.lower().startswith(("<!doctype html", "<html", "<?xml", "<table")):
            return SourceError(name, "this is not an Excel file; it looks like HTML/XML text. "
                               "Download the export again as .xlsx")
        if any(d in first for d in (";", ",", "\t")):
            return SourceError(name, "this is not an Excel file; it looks like CSV text. Give it "
                               "the extension .csv, or download the Excel export again")
        return SourceError(name, "this is not an Excel file; it holds plain text")
    return SourceError(name, "this is not an Excel file (.xlsx): it does not start like one")


def _open_zip(data: bytes, name: str) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
        raise SourceError(name, "the Excel file is damaged or incomplete (cut off while "
                          "downloading or copying?); download the export again") from None
    names = set(zf.namelist())
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        raise SourceError(name, "a zip file, but not an Excel workbook (no xl/workbook.xml)")
    return zf


def _choose_sheet(names: list[str], name: str) -> str:
    wanted = {_norm(s) for s in SHEET_NAMES}
    hits = [s for s in names if _norm(s) in wanted]
    if len(hits) == 1:
        return hits[0]
    found = ", ".join(f"'{s}'" for s in names) or "none"
    if len(hits) > 1:
        raise SourceError(name, f"more than one booking-order sheet ({found}); keep only one")
    if len(names) == 1:
        return names[0]
    raise SourceError(name, f"no sheet named '{SHEET_NAMES[0]}' or '{SHEET_NAMES[1]}' and more "
                      f"than one sheet to choose from (sheets found: {found}); keep only the "
                      "booking orders or rename their sheet")


# --- Excel error values (calamine reads them as empty) ---------------------------------------

_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_ERROR_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*\bt=\"e\"[^>]*)>(.*?)</(?:\w+:)?c>", re.S)
_REF = re.compile(rb"\br=\"([A-Z]+)([0-9]+)\"")
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")


def _sheet_part(zf: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding ``sheet``'s cells (xlsx/xlsm only)."""
    try:
        wb = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, OSError):
        return None
    rid = next((el.get(_NS_REL) for el in wb.iter() if el.tag.endswith("}sheet")
                and el.get("name") == sheet), None)
    target = next((el.get("Target") for el in rels if el.get("Id") == rid), None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(
        posixpath.join("xl", target))


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


def _has_error_cell(zf: zipfile.ZipFile, part: str) -> bool:
    """Whether the sheet XML has an error-typed cell, read in chunks (memory stays small)."""
    tail = b""
    with zf.open(part) as fh:
        while chunk := fh.read(1 << 22):
            if b't="e"' in tail + chunk[:8] or b't="e"' in chunk:
                return True
            tail = chunk[-8:]
    return False


def _error_cells(zf: zipfile.ZipFile, sheet: str) -> dict[tuple[int, int], str]:
    part = _sheet_part(zf, sheet)
    if part is None:
        return {}
    try:
        if not _has_error_cell(zf, part):
            return {}
        xml = zf.read(part)
    except (KeyError, zipfile.BadZipFile, OSError, EOFError):
        return {}
    out = {}
    for m in _ERROR_CELL.finditer(xml):
        ref, val = _REF.search(m.group(1)), _VALUE.search(m.group(2))
        if ref and val:
            out[(int(ref.group(2)) - 1, _col_index(ref.group(1)))] = val.group(1).decode()
    return out


# --- bounded work: a zip bomb is refused before calamine inflates it -------------------------

_CHUNK_IN = 1 << 16  # compressed bytes fed to zlib at a time
_CHUNK_OUT = 1 << 22  # the most inflated bytes held at a time
_RATIO_AFTER = 16 << 20  # the ratio is judged once a member has inflated this much
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]*)([0-9]*):?([A-Z]*)([0-9]*)\"")
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
EXCEL_MAX_ROWS = 1_048_576


def _raw_member(data: bytes, info: zipfile.ZipInfo, name: str):
    """The inflated bytes of one member in chunks, each with the compressed bytes used so far.
    The zip's declared sizes are not trusted: the data is inflated as it really is."""
    off = info.header_offset
    head = data[off:off + _LOCAL_HEADER.size]
    if len(head) < _LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
        raise _damaged(name)
    fields = _LOCAL_HEADER.unpack(head)
    start = off + _LOCAL_HEADER.size + fields[9] + fields[10]
    view = memoryview(data)
    if info.compress_type == zipfile.ZIP_STORED:
        end = min(len(data), start + info.compress_size)
        for pos in range(start, end, _CHUNK_OUT):
            piece = view[pos:min(end, pos + _CHUNK_OUT)]
            yield piece, pos + len(piece) - start
        return
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise SourceError(name, f"the Excel file's part {info.filename} is compressed in a way "
                          f"Excel does not write (method {info.compress_type}); save it again "
                          "as .xlsx in Excel")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pos = start
    while not inflater.eof:
        pending = inflater.unconsumed_tail
        if not pending:
            if pos >= len(data):
                break
            pending = view[pos:pos + _CHUNK_IN]
            pos += len(pending)
        try:
            out = inflater.decompress(pending, _CHUNK_OUT)
        except zlib.error:
            raise _damaged(name) from None
        yield out, pos - start - len(inflater.unconsumed_tail)


def _damaged(name: str) -> SourceError:
    return SourceError(name, "the Excel file is damaged or incomplete (cut off while "
                       "downloading or copying?); download the export again")


def _count(chunk: bytes, tail: bytes, needles: tuple[bytes, ...]) -> int:
    """Occurrences of the needles in ``chunk``, those that begin in the previous chunk's
    ``tail`` (its last 4 bytes) included."""
    n = 0
    for x in needles:
        k = len(x) - 1  # a match in the seam begins in the tail: the chunk's part is shorter
        n += chunk.count(x) + (tail[len(tail) - k:] + chunk[:k]).count(x)
    return n


def check_bounds(data: bytes, zf: zipfile.ZipFile, name: str, limits: Limits) -> None:
    """Refuse an xlsx whose parts inflate past ``limits`` (all parts together, or one part
    far more than data compresses) or whose sheet holds more cells or rows than allowed,
    reading each part once in chunks: memory stays at a few MB whatever the file claims."""
    cap = limits.xlsx_inflated_mb * 2**20
    infos = zf.infolist()
    declared = sum(i.file_size for i in infos)
    if declared > cap:
        raise over_limit(name, f"the Excel file says it inflates to {declared / 2**20:,.2f} MB, "
                         f"more than {limits.xlsx_inflated_mb:g} MB", "xlsx_inflated_mb",
                         limits.xlsx_inflated_mb)
    total = 0
    for info in infos:
        sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
        done, rows, cells, tail = 0, 0, 0, b""
        first = True
        for out, used in _raw_member(data, info, name):
            done += len(out)
            total += len(out)
            if total > cap:
                raise over_limit(name, f"the Excel file inflates to more than "
                                 f"{limits.xlsx_inflated_mb:g} MB", "xlsx_inflated_mb",
                                 limits.xlsx_inflated_mb)
            if done > _RATIO_AFTER and done > limits.xlsx_ratio * max(used, 1):
                raise over_limit(name, f"its part {info.filename} inflates to more than "
                                 f"{limits.xlsx_ratio:g} times its compressed size (a zip "
                                 "bomb?)", "xlsx_ratio", limits.xlsx_ratio)
            if not sheet:
                continue
            if first:
                first = False
                _check_dimension(bytes(out[:4096]), info.filename, name, limits)
            out = bytes(out)
            rows += _count(out, tail, (b"<row ", b"<row>"))
            cells += _count(out, tail, (b"<c ", b"<c>"))
            tail = (tail + out[:4])[-4:] if len(out) < 4 else out[-4:]
            if rows > EXCEL_MAX_ROWS:
                raise SourceError(name, f"the sheet {info.filename} has more than "
                                  f"{EXCEL_MAX_ROWS:,} rows, more than Excel holds: not an "
                                  "export of Excel's")
            if cells > limits.xlsx_cells:
                raise over_limit(name, f"the sheet {info.filename} has more than "
                                 f"{limits.xlsx_cells:,} cells", "xlsx_cells", limits.xlsx_cells)


def _column_number(letters: bytes) -> int:
    return _col_index(letters) + 1 if letters else 1


def _check_dimension(head: bytes, part: str, name: str, limits: Limits) -> None:
    """A sheet's ``<dimension ref="A1:AQ241"/>`` gives the area calamine allocates: refuse one
    beyond the limits before it is read."""
    m = _DIMENSION.search(head)
    if not m:
        return
    c1, r1, c2, r2 = m.groups()
    rows = int(r2 or r1 or b"1")
    cols = max(_column_number(c1), _column_number(c2 or c1))
    if rows > EXCEL_MAX_ROWS:
        raise SourceError(name, f"the sheet {part} says it has {rows:,} rows, more than Excel's "
                          f"{EXCEL_MAX_ROWS:,}: not an export of Excel's")
    if rows * cols > limits.xlsx_cells:
        raise over_limit(name, f"the sheet {part} says it spans {rows:,} rows and {cols:,} "
                         f"columns ({rows * cols:,} cells), more than {limits.xlsx_cells:,}",
                         "xlsx_cells", limits.xlsx_cells)


# --- reading ---------------------------------------------------------------------------------

def read_cells(data: bytes, name: str, limits: Limits | None = None) -> tuple[str, list[list]]:
    """The booking-order sheet of an Excel file's bytes: ``(sheet name, rows of raw cell
    values from A1)``, error values as their text. Raises :class:`SourceError`."""
    if not data:
        raise SourceError(name, "the file is empty")
    if data[:4] != b"PK\x03\x04":
        raise _not_a_workbook(data, name)
    zf = _open_zip(data, name)
    check_bounds(data, zf, name, limits or Limits.from_env())
    try:
        book = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = [m.name for m in book.sheets_metadata if m.typ == pc.SheetTypeEnum.WorkSheet]
        sheet = _choose_sheet(sheets, name)
        rows = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except SourceError:
        raise
    except pc.PasswordError:
        raise SourceError(name, "the workbook is password-protected; save it without a "
                          "password and try again") from None
    except Exception as err:  # calamine: broken XML, bad zip member, unsupported content
        raise SourceError(name, f"the Excel file is damaged and cannot be read ({err}); "
                          "download the export again") from None
    for (r, c), text in _error_cells(zf, sheet).items():
        if r < len(rows) and c < len(rows[r]):
            rows[r][c] = text
    return sheet, rows


def read(location: str, limits: Limits | None = None) -> Extract:
    limits = limits or Limits.from_env()
    size = file_size(location)
    if size > limits.xlsx_inflated_mb * 2**20:
        raise over_limit(Path(location).name, f"the Excel file is {size / 2**20:,.2f} MB, "
                         f"larger than {limits.xlsx_inflated_mb:g} MB", "xlsx_inflated_mb",
                         limits.xlsx_inflated_mb)
    name, data = read_file(location, "an Excel file")
    sheet, rows = read_cells(data, name, limits)
    if not rows or not any(cell_text(v).strip() for v in rows[0]):
        if not any(cell_text(v).strip() for r in rows for v in r):
            raise SourceError(name, f"the sheet '{sheet}' is empty")
        raise SourceError(name, f"no header row: row 1 of sheet '{sheet}' is empty (the "
                          "export's first row names the columns)", row=1)
    header = [cell_text(v) for v in rows[0]]
    hmap = map_headers(header)
    if not hmap.columns:
        raise SourceError(name, f"no header row: row 1 of sheet '{sheet}' names none of the "
                          "export's columns (e.g. Buchungsnummer / Booking number)", row=1)
    if hmap.missing:
        missing = "; ".join(required_headers(c) for c in hmap.missing)
        raise SourceError(name, f"required column(s) missing: {missing}", row=1)
    if hmap.duplicates:
        raise SourceError(name, f"column appears twice: {', '.join(hmap.duplicates)}", row=1)

    wanted = sorted(hmap.columns)
    cols: dict[str, list[str]] = {hmap.columns[i]: [] for i in wanted}
    numbers: list[int] = []
    for r, row in enumerate(rows[1:], start=2):
        cells = [cell_text(row[i]) if i < len(row) else "" for i in wanted]
        if not any(c.strip() for c in cells):
            if not any(cell_text(v).strip() for v in row):
                continue  # a blank row
        for i, text in zip(wanted, cells):
            cols[hmap.columns[i]].append(text)
        numbers.append(r)
    frame = pd.DataFrame(cols, dtype="str")
    frame["source"] = name
    frame["source_row"] = pd.Series(numbers, dtype="int64")
    return Extract(frame, name, hashlib.sha256(data).hexdigest(), len(numbers), hmap.ignored)
