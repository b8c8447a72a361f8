"""Booking orders from a CSV file in the columns of OpenOlat's export.

Comma- or semicolon-separated (decided from the header line), UTF-8 with or without BOM,
German or English headers. Every cell is read as text: numbers and dates are parsed later,
exactly, never by the CSV reader.
"""

from __future__ import annotations

import csv
import hashlib
import io

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.headers import map_headers, required_headers

from .base import Extract, SourceError, read_file


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


def read(location: str) -> Extract:
    name, data = read_file(location, "a CSV file")
    if data[:4] == b"PK\x03\x04":
        raise SourceError(name, "this is an Excel/zip file, not a CSV file")
    text = _decode(data, name)
    if not text.strip():
        raise SourceError(name, "the file is empty")
    first = text.splitlines()[0]
    delim = _delimiter(first, name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    try:
        records = list(reader)  # the csv module's C loop; no Python code per row
    except csv.Error as err:
        # name the line the reader stopped on, so a broken quote can be found
        raise SourceError(name, f"not readable as CSV: {err}", row=reader.line_num) from None
    header, body = records[0], records[1:]
    del records
    hmap = map_headers(header)
    if hmap.missing:
        missing = "; ".join(required_headers(c) for c in hmap.missing)
        raise SourceError(name, f"required column(s) missing: {missing}", row=1)
    if hmap.duplicates:
        raise SourceError(name, f"column appears twice: {', '.join(hmap.duplicates)}", row=1)
    width = len(header)
    # csv rows: record i is on line i+1 (header is line 1) unless cells hold line breaks.
    # Rows are looked at one by one only where they are unusual (blank, short or long).
    lengths = np.fromiter(map(len, body), dtype=np.int64, count=len(body))
    joined = np.fromiter(map(len, map(str.strip, map("".join, body))), dtype=np.int64,
                         count=len(body))
    blank = joined == 0  # every cell empty or whitespace
    for i in np.flatnonzero(~blank & (lengths > width)):
        if any(c.strip() for c in body[i][width:]):
            raise SourceError(name, f"more cells than headers (is the separator right? "
                              f"detected '{delim}')", row=int(i) + 2)
    keep = np.flatnonzero(~blank)
    if len(keep) < len(body):
        body = [body[i] for i in keep]
        lengths = lengths[keep]
    for i in np.flatnonzero(lengths < width):
        body[i] = body[i] + [""] * (width - len(body[i]))
    columns = list(zip(*body)) if body else [() for _ in range(width)]
    del body
    frame = pd.DataFrame({cid: pd.Series(pa.array(columns[i], type=pa.large_string()),
                                         dtype="str")
                          for i, cid in hmap.columns.items()})
    frame["source"] = name
    frame["source_row"] = pd.Series(keep + 2, dtype="int64")
    rows = len(keep)
    return Extract(frame, name, hashlib.sha256(data).hexdigest(), rows, hmap.ignored)
