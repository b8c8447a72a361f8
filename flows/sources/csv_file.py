"""Booking orders from a CSV file in the columns of OpenOlat's export.

Comma- or semicolon-separated (decided from the header line), UTF-8 with or without BOM,
German or English headers. Every cell is read as text: numbers and dates are parsed later,
exactly, never by the CSV reader. ``source_row`` is the line on which a row starts, as a text
editor numbers them (header = line 1): blank lines are skipped but counted, and a quoted cell
holding line breaks moves the rows after it down.

Two readers give the same frame. The fast one hands the file to pyarrow's CSV reader (every
column as text, nothing inferred) after :mod:`.csv_scan` has found where each record starts
and made sure the quoting is plain enough for pyarrow to read it exactly as the ``csv``
module does. Any file it cannot vouch for goes to the strict one, Python's ``csv`` module in
strict mode (one Python string per cell), which reads it or names the line it cannot read.
``tests/test_csv_reader.py`` holds the two equal on the samples and on generated files.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from transforms.headers import HeaderMap, map_headers, required_headers

from . import csv_scan
from .base import Extract, Limits, SourceError, file_size, over_limit, read_file

_INK = "[!-~]"  # a printable ASCII character other than space: the cell is not blank

# the members of a source (flows.sources.registry.Source); a file with an ending no source
# claims is read as CSV too (registry.DEFAULT_KIND)
SUFFIXES = (".csv",)
READS_URLS = False
OPTIONS: tuple[str, ...] = ()
PRICE_FORMAT = None  # the company's price_format decides


def read(location: str, limits: Limits | None = None) -> Extract:
    limits = limits or Limits.from_env()
    size = file_size(location)
    if size > limits.csv_mb * 2**20:
        raise over_limit(Path(location).name, f"the CSV file is {size / 2**20:,.2f} MB, larger "
                         f"than {limits.csv_mb:g} MB", "csv_mb", limits.csv_mb)
    name, data = read_file(location, "a CSV file")
    if data[:4] == b"PK\x03\x04":
        raise SourceError(name, "this is an Excel/zip file, not a CSV file")
    frame, ignored = parse(data, name)
    return Extract(frame, name, hashlib.sha256(data).hexdigest(), len(frame), ignored)


def parse(data: bytes, name: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The text frame (canonical ids, ``source``, ``source_row``) and the ignored headers."""
    fast = parse_fast(data, name)
    return fast if fast is not None else parse_strict(data, name)


# --- shared by both readers --------------------------------------------------------------------

def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SourceError(name, f"not UTF-8 text (byte 0x{data[err.start]:02x}); save the file "
                          "as 'CSV UTF-8' and try again", row=line) from None


def _delimiter(header_line: str, name: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        raise SourceError(name, "the first line has no separators: not a CSV file with a header "
                          "row (expected ',' or ';' between columns)", row=1)
    if best == "\t":
        raise SourceError(name, "tab-separated; expected ',' or ';' between columns", row=1)
    return best


def _header_map(header: list[str], name: str) -> HeaderMap:
    hmap = map_headers(header)
    if hmap.missing:
        missing = "; ".join(required_headers(c) for c in hmap.missing)
        raise SourceError(name, f"required column(s) missing: {missing}", row=1)
    if hmap.duplicates:
        raise SourceError(name, f"column appears twice: {', '.join(hmap.duplicates)}", row=1)
    return hmap


def _too_wide(name: str, delim: str, line: int) -> SourceError:
    return SourceError(name, f"more cells than headers (is the separator right? detected "
                       f"'{delim}')", row=line)


def _cells(record: str, delim: str) -> list[str]:
    """The cells of one record's text (quoted line breaks included)."""
    return next(csv.reader(io.StringIO(record, newline=""), delimiter=delim, strict=True), [])


def _frame(columns: dict, name: str, lines: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({cid: pd.Series(col, dtype="str") for cid, col in columns.items()})
    frame["source"] = name
    frame["source_row"] = pd.Series(lines, dtype="int64")
    return frame


# --- the strict reader: the csv module ---------------------------------------------------------

def _records(text: str, delim: str, name: str) -> tuple[list[list[str]], np.ndarray]:
    """Every record and the line it starts on."""
    def reader():
        return csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    rd = reader()
    try:
        records = list(rd)  # the csv module's C loop; no Python code per row
    except csv.Error as err:
        # name the line the reader stopped on, so a broken quote can be found
        raise SourceError(name, f"not readable as CSV: {err}", row=rd.line_num) from None
    if rd.line_num == len(records):  # one line per record
        return records, np.arange(1, len(records) + 1, dtype=np.int64)
    rd = reader()  # a quoted cell holds a line break: read again, noting where records end
    ends = np.fromiter((rd.line_num for _ in rd), dtype=np.int64, count=len(records))
    return records, np.concatenate([[1], ends[:-1] + 1]).astype(np.int64)


def parse_strict(data: bytes, name: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    text = _decode(data, name)
    if not text.strip():
        raise SourceError(name, "the file is empty")
    delim = _delimiter(text.splitlines()[0], name)
    records, lines = _records(text, delim, name)
    del text
    header, body, lines = records[0], records[1:], lines[1:]
    del records
    hmap = _header_map(header, name)
    width = len(header)
    # Rows are looked at one by one only where they are unusual (blank, short or long).
    lengths = np.fromiter(map(len, body), dtype=np.int64, count=len(body))
    joined = np.fromiter(map(len, map(str.strip, map("".join, body))), dtype=np.int64,
                         count=len(body))
    blank = joined == 0  # every cell empty or whitespace
    for i in np.flatnonzero(~blank & (lengths > width)):
        if any(c.strip() for c in body[i][width:]):
            raise _too_wide(name, delim, int(lines[i]))
    keep = np.flatnonzero(~blank)
    if len(keep) < len(body):
        body = [body[i] for i in keep]
        lengths = lengths[keep]
    for i in np.flatnonzero(lengths < width):
        body[i] = body[i] + [""] * (width - len(body[i]))
    columns = list(zip(*body)) if body else [() for _ in range(width)]
    del body
    arrays = {cid: pa.array(columns[i], type=pa.large_string())
              for i, cid in hmap.columns.items()}
    return _frame(arrays, name, lines[keep]), hmap.ignored


# --- the fast reader: pyarrow, after csv_scan vouched for the file ----------------------------

def _utf8(data: bytes) -> bool:
    whole = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data))
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _read_arrow(body: pa.Buffer, delim: str, width: int, keep: list[str],
                multiline: bool) -> tuple[pa.Table, list[int]]:
    """The kept columns as text, and the rows (1-based among the non-empty records) whose
    number of cells differs from the header's, which pyarrow leaves out."""
    names = [f"c{i}" for i in range(width)]
    uneven: list[int] = []

    def leave_out(row) -> str:
        uneven.append(row.number)
        return "skip"

    table = pa_csv.read_csv(
        pa.BufferReader(body),
        read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pa_csv.ParseOptions(delimiter=delim, quote_char='"', double_quote=True,
                                          escape_char=False, newlines_in_values=multiline,
                                          ignore_empty_lines=True, invalid_row_handler=leave_out),
        convert_options=pa_csv.ConvertOptions(
            column_types={c: pa.large_string() for c in keep}, include_columns=keep,
            strings_can_be_null=False, quoted_strings_can_be_null=False, check_utf8=False))
    return table, uneven


def _blank_rows(table: pa.Table, record, delim: str) -> np.ndarray:
    """Rows whose every cell is empty or whitespace. A printable ASCII character in a kept
    column settles most rows at once; the few left are read again from their text, all
    columns included."""
    left = np.arange(table.num_rows)
    for col in table.columns:
        if not len(left):
            break
        part = col if len(left) == table.num_rows else col.take(pa.array(left))
        inked = pc.match_substring_regex(part, _INK).to_numpy(zero_copy_only=False)
        left = left[~inked]
    blank = np.zeros(table.num_rows, dtype=bool)
    for i in left:
        blank[i] = not any(c.strip() for c in _cells(record(i), delim))
    return blank


def parse_fast(data: bytes, name: str) -> tuple[pd.DataFrame, tuple[str, ...]] | None:
    """The frame read by pyarrow, or None when only the strict reader can judge the file.
    Raises the strict reader's errors for what it does check (encoding, separator, header,
    too many cells)."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if not _utf8(data):
        _decode(data, name)  # raises, naming the line
        return None
    cut = data.find(b"\n", start)
    head = data[start:len(data) if cut < 0 else cut + 1].decode("utf-8")
    if not head.strip():
        return None  # empty, or a blank first line: the strict reader says which
    delim = _delimiter(head.splitlines()[0], name)
    layout = csv_scan.scan(data, start, ord(delim))
    if layout is None:
        return None

    def text(k) -> str:
        return data[start + layout.starts[k]:start + layout.ends[k]].decode("utf-8")

    header = _cells(text(0), delim)
    hmap = _header_map(header, name)
    width = len(header)
    buf = np.frombuffer(data, dtype=np.uint8, offset=start)
    rows = np.flatnonzero(~layout.empty(buf))
    rows = rows[rows > 0]  # the records pyarrow reads, in order
    lines = layout.lines[rows]
    keep = [f"c{i}" for i in hmap.columns]
    if len(rows):
        body = pa.py_buffer(data).slice(start + int(layout.starts[1]))
        try:
            table, uneven = _read_arrow(body, delim, width, keep, layout.multiline)
        except pa.ArrowInvalid:
            return None
    else:
        table = pa.table({c: pa.array([], type=pa.large_string()) for c in keep})
        uneven = []
    if table.num_rows + len(uneven) != len(rows) or None in uneven:
        return None  # pyarrow saw other records than the scan: let the csv module read it

    # rows with fewer or more cells than headers, read from their text as the strict reader does
    uneven = np.array(sorted(uneven), dtype=np.int64) - 1
    fixed: dict[int, list[str]] = {}
    for k in uneven:
        cells = _cells(text(rows[k]), delim)
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            raise _too_wide(name, delim, int(lines[k]))
        if any(c.strip() for c in cells):
            fixed[int(k)] = cells[:width] + [""] * (width - len(cells))
    even = np.delete(np.arange(len(rows)), uneven)
    blank = _blank_rows(table, lambda i: text(rows[even[i]]), delim)
    order = even[~blank]
    if blank.any():
        table = table.filter(pa.array(~blank))
    if fixed:
        extra = pa.table({c: pa.array([fixed[k][i] for k in fixed], type=pa.large_string())
                          for i, c in zip(hmap.columns, keep)}, schema=table.schema)
        order = np.concatenate([order, np.fromiter(fixed, dtype=np.int64, count=len(fixed))])
        sort = np.argsort(order, kind="stable")
        table = pa.concat_tables([table, extra]).take(pa.array(sort))
        order = order[sort]
    columns = {cid: table.column(f"c{i}") for i, cid in hmap.columns.items()}
    return _frame(columns, name, lines[order]), hmap.ignored
