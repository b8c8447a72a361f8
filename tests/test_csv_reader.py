"""The CSV source's two readers give the same frame: pyarrow's (the fast one) and the ``csv``
module's in strict mode (flows/sources/csv_file.py, csv_scan.py).

The fast reader either declines a file (returns None, and the strict reader reads it) or gives
exactly what the strict reader gives: the same columns, text and dtypes, the same
``source_row``, the same ignored headers, or the same error naming the same line. Checked on the
sample exports, on a generated benchmark-shaped export, on hand-written awkward files, and on
files hypothesis writes with quotes, separators and line breaks in cells, blank lines, short and
long rows, a BOM, CRLF, stray quotes that make a file unreadable, and bytes that are not UTF-8.
"""

from __future__ import annotations

import csv
import doctest
import io
import sys

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SAMPLE
from flows.sources import csv_file, csv_scan
from flows.sources.base import SourceError
from schemas.workbook import LINES, REJECTED

NAME = "orders.csv"


def outcome(reader, data: bytes):
    try:
        return reader(data, NAME)
    except SourceError as err:
        return str(err)


def assert_same(data: bytes, fast_expected: bool | None = None):
    """Both readers agree on ``data``; returns the strict reader's outcome."""
    strict = outcome(csv_file.parse_strict, data)
    fast = outcome(csv_file.parse_fast, data)
    if fast_expected is not None:
        assert (fast is not None) == fast_expected, fast
    if fast is None:
        return strict
    if isinstance(strict, str) or isinstance(fast, str):
        assert fast == strict
        return strict
    pd.testing.assert_frame_equal(fast[0], strict[0], check_exact=True)
    assert fast[1] == strict[1]
    return strict


def text_csv(rows: list[list[str]], delimiter: str = ",", terminator: str = "\n") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=terminator).writerows(rows)
    return out.getvalue().encode("utf-8")


HEADER = ["Buchungsnummer", "Buchungsstatus", "Auftragsdatum", "Preis", "Rechnungsadresse",
          "Kommentar zur Bestellung", "Notiz"]


def test_module_doctest():
    assert doctest.testmod(csv_scan).failed == 0


@pytest.mark.parametrize("path", sorted(SAMPLE.glob("booking_orders*.csv")), ids=lambda p: p.name)
def test_sample_exports_read_fast_and_equal(path):
    frame, _ = assert_same(path.read_bytes(), fast_expected=True)
    assert frame["source_row"].tolist() == list(range(2, len(frame) + 2))


def test_benchmark_shaped_export_reads_fast_and_equal(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generate import generate
    path = generate(3000, tmp_path / "orders.csv")
    frame, _ = assert_same(path.read_bytes(), fast_expected=True)
    assert len(frame) == 3000


def test_quoted_line_breaks_shift_the_rows_after_them():
    rows = [HEADER,
            ["1", "Bezahlt", "2026-05-01", "CHF 1.00", "BA-1", "erste Zeile\nzweite\r\ndritte", ""],
            ["2", "Bezahlt", "2026-05-01", "CHF 2.00", "BA-1", "", ""],
            [],
            ["3", "Bezahlt", "2026-05-01", 'CHF "3"', "BA-1", 'mit "Anführung", Komma', ""]]
    data = text_csv(rows)
    frame, _ = assert_same(data, fast_expected=True)
    # line 1 header, lines 2-4 the first row, line 5 the second, line 6 blank
    assert frame["source_row"].tolist() == [2, 5, 7]
    assert frame["order_comment"].tolist() == ["erste Zeile\nzweite\r\ndritte", "",
                                               'mit "Anführung", Komma']
    assert frame["price"].tolist() == ["CHF 1.00", "CHF 2.00", 'CHF "3"']


def test_too_many_cells_after_a_multiline_cell_names_its_line():
    rows = [HEADER, ["1", "Bezahlt", "2026-05-01", "CHF 1.00", "BA-1", "a\nb\nc", ""],
            ["2", "Bezahlt", "2026-05-01", "CHF 2.00", "BA-1", "", "", "zu viel"]]
    assert assert_same(text_csv(rows), fast_expected=True) == (
        f"{NAME}:5: more cells than headers (is the separator right? detected ',')")


def test_broken_quote_after_a_multiline_cell_names_its_line():
    rows = [HEADER, ["1", "Bezahlt", "2026-05-01", "CHF 1.00", "BA-1", "a\nb", ""],
            ["2", "Bezahlt", "2026-05-01", "CHF 2.00", "BA-1", "Rechnung", ""]]
    data = text_csv(rows).replace(b",Rechnung,", b',"Rechnung"x,')
    message = assert_same(data, fast_expected=False)
    assert message.startswith(f"{NAME}:4: not readable as CSV")


@pytest.mark.parametrize("body, lines", [
    (b"1,Bezahlt,2026-05-01,CHF 1,BA-1\n2,Offen\n", [2, 3]),            # short row: padded
    (b"1,Bezahlt,2026-05-01,CHF 1,BA-1,,,, ,\n", [2]),                   # blank surplus cells
    (b"\n , ,\n,,,,,,\n1,Bezahlt,2026-05-01,CHF 1,BA-1\n\xc2\xa0\n", [5]),  # blank rows
    (b'1,Bezahlt,2026-05-01,"CHF 1,00",BA-1,"",""""\r\n', [2]),          # quotes, CRLF
])
def test_awkward_rows_read_fast_and_equal(body, lines):
    data = b"\xef\xbb\xbf" + ",".join(HEADER).encode() + b"\n" + body
    frame, _ = assert_same(data, fast_expected=True)
    assert frame["source_row"].tolist() == lines


@pytest.mark.parametrize("body", [
    b'1,Bezahlt,2026-05-01,5" Zoll,BA-1\n',    # quote inside a cell: legal, but not plain
    b'1,Bezahlt,2026-05-01,"CHF 1" ,BA-1\n',   # text after a closing quote: unreadable
    b'1,Bezahlt,2026-05-01,"CHF 1,BA-1\n',     # quote never closed: unreadable
    b"1,Bezahlt,2026-05-01,CHF 1,BA-1\r2,Offen\r",  # old Mac line ends
])
def test_files_the_scan_cannot_judge_go_to_the_strict_reader(body):
    assert_same(",".join(HEADER).encode() + b"\n" + body, fast_expected=False)


def test_a_multiline_cell_before_a_bad_row_in_the_whole_run(run, tmp_path):
    """The Rejected sheet and the Lines sheet name the line a row starts on."""
    with open(SAMPLE / "booking_orders.csv", encoding="utf-8-sig", newline="") as f:
        header, *body = csv.reader(f)
    col = header.index
    first = next(r for r in body if r[col("Buchungsnummer")] == "187530")
    good, bad = list(first), list(next(r for r in body if r[col("Buchungsnummer")] == "187691"))
    good[col("Kommentar zur Bestellung")] = "Bitte zwei Rechnungen:\nan die Zentrale\nund Kopie"
    bad[col("Preis")] = "CHF\u00a0zwölf"
    src = tmp_path / "mehrzeilig.csv"
    with open(src, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, good, bad])
    result = run(source=src)
    wb = openpyxl.load_workbook(result.delivery.workbook)
    rejected = [dict(zip(REJECTED.ids, r))
                for r in wb[REJECTED.name("de")].iter_rows(min_row=2, values_only=True)]
    assert [(r["source_row"], r["value"]) for r in rejected] == [(5, "CHF\u00a0zwölf")]
    lines = [dict(zip(LINES.ids, r))
             for r in wb[LINES.name("de")].iter_rows(min_row=2, values_only=True)]
    assert [r["source_row"] for r in lines] == [2]


# --- generated files ---------------------------------------------------------------------------

CHARS = st.sampled_from(["a", "Z", "7", " ", '"', ",", ";", "\n", "\r\n", "\r", "\t", "ü", "–",
                         "\u00a0", "\u2028", "\x0b", "."])
CELL = st.one_of(st.just(""), st.lists(CHARS, max_size=6).map("".join),
                 st.sampled_from(["CHF 1.00", "BA-1"]))
NOT_UTF8 = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])  # and NUL


@st.composite
def csv_files(draw) -> bytes:
    delimiter = draw(st.sampled_from([",", ";"]))
    extra = draw(st.lists(st.sampled_from(["Land", "Kommentar zur Bestellung", "Notiz",
                                           "Kennzeichen", "Ext. ref."]), max_size=3, unique=True))
    header = draw(st.permutations(["Buchungsnummer", "Buchungsstatus", "Auftragsdatum",
                                   "Preis", "Rechnungsadresse", *extra]))
    width = len(header)
    rows = draw(st.lists(st.one_of(
        st.lists(CELL, min_size=width, max_size=width),              # a row as exported
        st.lists(CELL, min_size=0, max_size=width + 2),             # short, long or empty
        st.lists(st.sampled_from(["", " ", "\u00a0"]), min_size=1, max_size=width + 1),
    ), max_size=8))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
               quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
               ).writerows([header, *rows])
    text = out.getvalue()
    if draw(st.booleans()):  # break it: a stray character somewhere in the body
        at = draw(st.integers(len(text) // 2, len(text)))
        text = text[:at] + draw(st.sampled_from(['"', "\r", "\n", delimiter, "x"])) + text[at:]
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    data = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # a lone lead byte, a surrogate, or NUL somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(NOT_UTF8) + data[at:]
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + data


@settings(max_examples=settings().max_examples * 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_generated_files_read_the_same_by_both_readers(data):
    fast = outcome(csv_file.parse_fast, data)
    strict = assert_same(data)
    event(("fast reader, " if fast is not None else "strict reader only, ")
          + ("error" if isinstance(strict, str) else "frame"))


def test_the_read_entry_point_uses_either_reader(tmp_path):
    src = tmp_path / NAME
    src.write_bytes(b'Buchungsnummer;Buchungsstatus;Auftragsdatum;Preis;Rechnungsadresse\n'
                    b'1;Bezahlt;2026-05-01;CHF 1;5" Zoll\n')
    ex = csv_file.read(str(src))
    assert ex.frame["billing_address_id"].tolist() == ['5" Zoll'] and ex.rows == 1
