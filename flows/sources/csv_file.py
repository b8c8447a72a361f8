"""Booking orders from a CSV file in the columns of OpenOlat's export.

Comma- or semicolon-separated (decided from the header line), UTF-8 with or without BOM,
German or English headers. Every cell is read as text: numbers and dates are parsed later,
exactly, never by the CSV reader.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pandas as pd

from transforms.headers import map_headers, required_headers

from .base import Extract, SourceError


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
    path = Path(location)
    name = path.name
    if not path.exists():
        raise SourceError(str(location), "no such file")
    if path.is_dir():
        raise SourceError(str(location), "is a folder, not a CSV file")
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        raise SourceError(name, "this is an Excel/zip file, not a CSV file")
    text = _decode(data, name)
    if not text.strip():
        raise SourceError(name, "the file is empty")
    first = text.splitlines()[0]
    delim = _delimiter(first, name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    records = []
    try:
        for record in reader:
            records.append(record)
    except csv.Error as err:
        # name the line the reader stopped on, so a broken quote can be found
        raise SourceError(name, f"not readable as CSV: {err}", row=reader.line_num) from None
    header, body = records[0], records[1:]
    hmap = map_headers(header)
    if hmap.missing:
        missing = "; ".join(required_headers(c) for c in hmap.missing)
        raise SourceError(name, f"required column(s) missing: {missing}", row=1)
    if hmap.duplicates:
        raise SourceError(name, f"column appears twice: {', '.join(hmap.duplicates)}", row=1)
    # csv rows: record i is on line i+1 (header is line 1) unless cells hold line breaks
    rows = [(i + 2, r) for i, r in enumerate(body) if any(c.strip() for c in r)]
    width = len(header)
    cols = {cid: [] for cid in hmap.columns.values()}
    for _, r in rows:
        r = r + [""] * (width - len(r)) if len(r) < width else r
        for i, cid in hmap.columns.items():
            cols[cid].append(r[i])
    frame = pd.DataFrame(cols, dtype="str")
    frame["source"] = name
    frame["source_row"] = pd.Series([n for n, _ in rows], dtype="int64")
    extra = [n for n, r in rows if len(r) > width and any(c.strip() for c in r[width:])]
    if extra:
        raise SourceError(name, f"more cells than headers (is the separator right? "
                          f"detected '{delim}')", row=extra[0])
    return Extract(frame, name, hashlib.sha256(data).hexdigest(), len(rows), hmap.ignored)
