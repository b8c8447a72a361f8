r"""Where each record of a CSV file starts, found over its bytes, and whether pyarrow reads it
exactly as the strict ``csv`` module would.

pyarrow's CSV reader is fast but lenient: it reads ``"Rechnung"x`` as ``Rechnungx`` where the
``csv`` module in strict mode stops with "',' expected after '"'". A file is left to pyarrow
only when its quoting is plain: every quote either opens a cell (at the start of the file,
after a separator or a line break, or right after a closing quote: a doubled quote) or closes
one (before a separator, a line break, the end, or an opening quote), so that counting quotes
tells for every byte whether it lies inside a quoted cell. Line breaks outside quotes then end
the records, and a line break inside quotes is a cell holding several lines.

Anything the count cannot judge makes :func:`scan` return None and the caller reads the file
with the ``csv`` module, which either reads it or names the line it cannot read: a quote inside
an unquoted cell (``5" Zoll``), an unclosed quote, a carriage return not followed by a line
feed, a NUL byte, or a record longer than the ``csv`` module's field size limit.

The work is done with numpy on slices of the bytes (no Python per row or per cell), so a
million-row export is scanned in well under a second.

>>> lay = scan(b'a;b\n"x\ny";"1 ""2"" 3"\n\n3;4\n', 0, ord(";"))
>>> lay.starts.tolist(), lay.ends.tolist(), lay.lines.tolist(), lay.multiline
([0, 4, 22, 23, 27], [3, 21, 22, 26, 27], [1, 2, 4, 5, 6], True)
>>> scan(b'a,b\n"Rechnung"x,1\n', 0, ord(",")) is None
True
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 24  # bytes compared at a time: bounds the temporary masks to 16 MiB
QUOTE, LF, CR = ord('"'), ord("\n"), ord("\r")


@dataclass(frozen=True)
class Layout:
    """The records of a file, header first, as byte ranges of the buffer passed to :func:`scan`."""
    starts: np.ndarray  # offset of each record's first byte
    ends: np.ndarray  # offset after each record's last byte, its line feed excluded
    lines: np.ndarray  # line (1-based, header = 1) on which each record starts
    multiline: bool  # a quoted cell holds a line break

    def empty(self, buf: np.ndarray) -> np.ndarray:
        """Records with no byte at all, or only a carriage return (read as no record)."""
        length = self.ends - self.starts
        one = np.flatnonzero(length == 1)
        lone_cr = np.zeros(len(length), dtype=bool)
        lone_cr[one] = buf[self.starts[one]] == CR
        return (length == 0) | lone_cr


def _find(buf: np.ndarray, byte: int) -> np.ndarray:
    """Offsets of every occurrence of ``byte``, chunk by chunk."""
    parts = [np.flatnonzero(buf[s:s + CHUNK] == byte) + s for s in range(0, len(buf), CHUNK)]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _in(values: np.ndarray, allowed: tuple[int, ...]) -> np.ndarray:
    return np.isin(values, np.array(allowed, dtype=np.uint8))


def scan(data: bytes, start: int, delimiter: int) -> Layout | None:
    """The records of ``data[start:]`` (offsets relative to ``start``), or None when only the
    ``csv`` module can judge the file."""
    if data.find(b"\0", start) >= 0:
        return None
    buf = np.frombuffer(data, dtype=np.uint8, offset=start)
    n = len(buf)
    returns = _find(buf, CR)
    if len(returns) and (returns[-1] == n - 1 or (buf[returns + 1] != LF).any()):
        return None  # a carriage return that is not part of CRLF
    quotes = _find(buf, QUOTE)
    if len(quotes) % 2:
        return None  # a quoted cell is never closed
    opens, closes = quotes[0::2], quotes[1::2]
    before = buf[np.maximum(opens - 1, 0)]
    if not (_in(before, (delimiter, LF, QUOTE)) | (opens == 0)).all():
        return None  # a quote inside an unquoted cell
    after = buf[np.minimum(closes + 1, n - 1)]
    if not (_in(after, (delimiter, LF, CR, QUOTE)) | (closes == n - 1)).all():
        return None  # text after a closing quote
    feeds = _find(buf, LF)
    inside = np.searchsorted(quotes, feeds) % 2 == 1  # an odd number of quotes before it
    breaks = np.flatnonzero(~inside)  # the line feeds that end a record, as indexes of `feeds`
    ends = np.append(feeds[breaks], n)
    starts = np.concatenate([[0], feeds[breaks] + 1])
    if len(ends) and int((ends - starts).max()) > csv.field_size_limit():
        return None  # the csv module refuses cells this long
    lines = np.concatenate([[1], breaks + 2]).astype(np.int64)
    return Layout(starts.astype(np.int64), ends.astype(np.int64), lines, bool(inside.any()))
