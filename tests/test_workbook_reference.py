"""The fast row path writes the cells the plain writer does (flows/xlsx_reference.py, XlsxWriter's
public API cell by cell): the same tables written both ways, every cell read back with openpyxl
— value, type, number format, wrapping, font and fill — on the sample's tables and on generated
tables with awkward text, amounts in currencies of 0, 2 and 3 decimals, dates, empty sheets
and sheets that overflow a small ``max_rows``."""

from __future__ import annotations

import datetime as dt
import re
import string
import zipfile
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE, examples
from flows import stages
from flows.workbook import EXCEL_MAX_ROWS, EXCEL_MAX_TEXT, write_workbook
from flows.xlsx_reference import write_reference_workbook
from schemas.columns import AMOUNT, DATE, INT, PERCENT, RATE, TEXT, VARIANT, Col, Sheet

CREATED = dt.date(2026, 10, 30)


def cells(path) -> dict[str, dict[tuple[int, int], tuple]]:
    """Every cell of every sheet that holds a value or a style, as openpyxl reads it."""
    out = {}
    for ws in openpyxl.load_workbook(path).worksheets:
        got = {}
        for row in ws.iter_rows():
            for c in row:
                seen = (c.value, type(c.value).__name__, c.data_type, c.number_format,
                        bool(c.alignment.wrap_text), c.alignment.vertical, bool(c.font.b),
                        c.fill.fgColor.rgb if c.fill.fill_type else None)
                if c.value is not None or c.has_style:
                    got[(c.row, c.column)] = seen
        out[ws.title] = got
    return out


_CELL = re.compile(r'<c r="([A-Z]+[0-9]+)"(?: s="[0-9]+")?(.*?)(?:/>|</c>)', re.S)


def stored(path) -> list[dict[str, str]]:
    """Every cell of every sheet as the file stores it, but for its style's number (the two
    writers number the styles in a different order; cells() compares what they are): what a
    reader sees that openpyxl does not tell, e.g. ``xml:space="preserve"``, which Excel needs
    to keep edge spaces."""
    with zipfile.ZipFile(path) as z:
        names = sorted((n for n in z.namelist() if n.startswith("xl/worksheets/sheet")),
                       key=lambda n: int(re.sub(r"\D", "", n)))
        return [dict(_CELL.findall(z.read(n).decode("utf-8"))) for n in names]


def both(tmp_path, tables, sheets, language="de", **kw):
    """The cells and reports of the fast and the reference writer for the same tables."""
    fast, ref = tmp_path / "fast.xlsx", tmp_path / "reference.xlsx"
    args = (tables, sheets, language, CREATED, "t")
    fast_report = write_workbook(fast, *args, **kw)
    ref_report = write_reference_workbook(ref, *args, **kw)
    return (cells(fast), fast_report, stored(fast)), (cells(ref), ref_report, stored(ref))


def assert_same(fast, ref):
    (fast_cells, fast_report, fast_xml), (ref_cells, ref_report, ref_xml) = fast, ref
    assert len(fast_xml) == len(ref_xml)
    for f, r in zip(fast_xml, ref_xml):
        # a text the reference writes as a rich string (it looks like markup) is stored
        # differently on purpose; its cell is compared by cells() below
        differ = {k: (f.get(k), r.get(k)) for k in sorted(set(f) | set(r))
                  if f.get(k) != r.get(k) and "<r>" not in r.get(k, "")}
        assert not differ, f"cells as stored (fast, reference): {differ}"
    assert list(fast_cells) == list(ref_cells)  # the same sheets in the same order
    for sheet in ref_cells:
        f, r = fast_cells[sheet], ref_cells[sheet]
        differ = {k: (f.get(k), r.get(k)) for k in sorted(set(f) | set(r)) if f.get(k) != r.get(k)}
        assert not differ, f"{sheet}: cells (row, column) -> (fast, reference): {differ}"
    # the same cut cells; their order is the order of writing (by column in a batch of the
    # fast path, by row in the reference) and means nothing
    assert sorted(fast_report.cut_cells) == sorted(ref_report.cut_cells)
    assert (fast_report.rows, fast_report.sheets) == (ref_report.rows, ref_report.sheets)


# --- the sample's tables, as the run renders them -------------------------------------------

@pytest.fixture(scope="module")
def sample_tables(tmp_path_factory):
    """The tables and arguments each sample run hands the writer (German and English)."""
    captured = []

    def capture(path, tables, sheets, language, created, title, *limits, **kw):
        kw.update(zip(("max_rows", "max_text", "run_id"), limits))
        captured.append(((tables, sheets, language, created, title), kw))
        return write_workbook(path, tables, sheets, language, created, title, **kw)
    from flows.config import load_config
    config = load_config(SAMPLE)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(stages, "write_workbook", capture)
    try:
        for source, language in (("booking_orders.csv", None),
                                 ("booking_orders_en.csv", "en")):
            tmp = tmp_path_factory.mktemp("run")
            from flows import pipeline
            pipeline.run(pipeline.Request(source=str(SAMPLE / source), config=config,
                                          outbox=tmp / "outbox", invoice_date=CREATED,
                                          language=language,
                                          state=str(tmp / "billing-state.sqlite")))
    finally:
        monkey.undo()
    assert len(captured) == 2
    return captured


@pytest.mark.slow
@pytest.mark.parametrize("which", [0, 1], ids=["de", "en"])
@pytest.mark.parametrize("limits", [{}, {"max_rows": 7, "max_text": 40}],
                         ids=["excel-limits", "small-limits"])
def test_sample_tables_give_the_reference_cells(sample_tables, tmp_path, which, limits):
    (tables, sheets, language, created, title), kw = sample_tables[which]
    kw = {**kw, **limits}
    fast, ref = both(tmp_path, tables, sheets, language, **kw)
    assert_same(fast, ref)
    assert sum(len(c) for c in ref[0].values()) > 1000  # the sample's cells, not just headers
    if limits:
        assert ref[1].cut_cells and any(name.endswith("(2)") for name in ref[1].sheets)


# --- generated tables -------------------------------------------------------------------------

SHEET = Sheet("t", "Tabelle", "Table", (
    Col("name", "Name", "Name", TEXT, nullable=True),
    Col("amount", "Betrag", "Amount", AMOUNT, "currency", True),
    Col("currency", "Währung", "Currency", TEXT, nullable=True),
    Col("rate", "Satz", "Rate", PERCENT),
    Col("fx", "Kurs", "FX rate", RATE),
    Col("day", "Datum", "Date", DATE, nullable=True),
    Col("n", "Zahl", "Number", INT),
    Col("note", "Notiz", "Note", TEXT, nullable=True),
))
VARIANT_SHEET = Sheet("v", "Werte", "Values", (
    Col("currency", "Währung", "Currency", TEXT, nullable=True),
    Col("value", "Wert", "Value", VARIANT, "currency"),
))
#: a value column before a date and an amount column: which bad cell a sheet reports first
MIXED_SHEET = Sheet("m", "Gemischt", "Mixed", (
    Col("currency", "Währung", "Currency", TEXT, nullable=True),
    Col("value", "Wert", "Value", VARIANT, "currency"),
    Col("day", "Datum", "Date", DATE, nullable=True),
    Col("amount", "Betrag", "Amount", AMOUNT, "currency", True),
))

EXPONENT = {"JPY": 0, "CHF": 2, "EUR": 2, "BHD": 3}

# text as booking data and hostile input bring it: control characters, XML and Excel's own
# escapes, edge spaces of every kind, characters outside the BMP (two UTF-16 units each)
AWKWARD = st.sampled_from([
    "_x0041_", "_x005F_x0041_", "_xABCD", "<r>x</r>", "<r><t>y</t></r>", "&amp;", "a & b < c > d",
    "=SUM(A1:A2)", "0042", " ", "  lead", "trail  ", "\u00a0nbsp", "line\nbreak", "tab\t",
    "\x00", "\x07bell", "\x1f", "\r\n", "\ufffe", "\uffff", "\u2028", "\x85", "😀", "é", "",
    "sha256 " + "ab" * 32,
])
TEXT_PIECE = st.one_of(AWKWARD, st.text(max_size=12),
                       st.text(alphabet=string.ascii_letters + " ", max_size=30))
_ESCAPE_LITERAL = re.compile(r"_x[0-9A-Fa-f]{4}_")


def _reference_can_write(text: str) -> bool:
    """The reference writes a text shaped as ``<r>…</r>`` as a rich string, and XlsxWriter's
    rich-string path escapes an ``_xHHHH_`` literal in it twice (Excel would then show
    ``_x005F_x0041_``): the reference cannot define that cell, so such a text is not drawn here
    and the fast path's cell is held to Excel's rule directly
    (test_a_markup_shaped_text_keeps_one_escape)."""
    return not (text.startswith("<r>") and text.endswith("</r>")
                and _ESCAPE_LITERAL.search(text))


TEXT = st.lists(TEXT_PIECE, max_size=6).map("".join).filter(_reference_can_write)


def long_text(max_text):
    """Texts around the cut limit: ending in a character of two UTF-16 units at the limit."""
    return st.builds(lambda n, tail: "x" * n + tail,
                     st.integers(max_text - 12, max_text + 2),
                     st.sampled_from(["", "😀", "😀😀", "é", "&", "\x07"]))


@st.composite
def table(draw, max_text):
    n = draw(st.integers(0, 12))
    text = st.one_of(TEXT, long_text(max_text), st.none())
    rows = []
    for _ in range(n):
        currency = draw(st.sampled_from([*EXPONENT, None]))
        amount = None if currency is None else draw(st.integers(-10**13, 10**13))
        day = draw(st.one_of(st.none(), st.dates(dt.date(1899, 12, 31), dt.date(2100, 12, 31)),
                             st.sampled_from([dt.date(1900, 2, 28), dt.date(1900, 3, 1)])))
        rows.append([draw(text), amount, currency, draw(st.integers(0, 10**6)),
                     draw(st.integers(-10**9, 10**9)), day, draw(st.integers(-10**12, 10**12)),
                     draw(text)])
    df = pd.DataFrame(rows, columns=[c.id for c in SHEET.cols])
    return df.astype({"name": "str", "amount": "Int64", "currency": "str", "rate": "int64",
                      "fx": "int64", "day": "datetime64[ns]", "n": "int64", "note": "str"})


@st.composite
def variant_table(draw, max_text):
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["int", "amount", "date", "text"]))
        currency = None
        if kind == "int":
            value = str(draw(st.integers(-10**9, 10**9)))
        elif kind == "amount":
            currency = draw(st.sampled_from(list(EXPONENT)))
            minor = draw(st.integers(-10**12, 10**12))
            value = format(Decimal(minor).scaleb(-EXPONENT[currency]), "f")
        elif kind == "date":
            value = draw(st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))).isoformat()
        else:
            value = draw(st.one_of(TEXT, long_text(max_text)))
        rows.append([currency, draw(st.one_of(st.just(value), st.none())), kind])
    return pd.DataFrame(rows, columns=["currency", "value", "value_kind"],
                        dtype="object").astype("str")


@st.composite
def workbooks(draw):
    max_text = draw(st.sampled_from([40, 64, EXCEL_MAX_TEXT]))
    return {
        "tables": {"t": draw(table(max_text)), "v": draw(variant_table(max_text))},
        "language": draw(st.sampled_from(["de", "en"])),
        "max_rows": draw(st.sampled_from([2, 3, 5, EXCEL_MAX_ROWS])),
        "max_text": max_text,
    }


@settings(max_examples=examples(0.5), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=workbooks())
def test_generated_tables_give_the_reference_cells(tmp_path, case):
    fast, ref = both(tmp_path, case["tables"], (SHEET, VARIANT_SHEET), case["language"],
                     max_rows=case["max_rows"], max_text=case["max_text"])
    assert_same(fast, ref)


def test_an_empty_sheet_and_the_awkward_cases_by_name(tmp_path):
    """The cases the generator draws, each once for certain (hypothesis may miss some)."""
    awkward = list(AWKWARD.elements)
    n = len(awkward)
    df = pd.DataFrame({
        "name": awkward, "amount": [i * 12345 - 5 for i in range(n)],
        "currency": [list(EXPONENT)[i % 4] for i in range(n)], "rate": range(n),
        "fx": range(n), "day": [dt.date(1900, 1, 1) + dt.timedelta(days=40 * i)
                                for i in range(n)],
        "n": range(n), "note": ["x" * 38 + "😀", "x" * 39 + "😀", "x" * 41] + [None] * (n - 3),
    }).astype({"name": "str", "amount": "Int64", "currency": "str", "day": "datetime64[ns]",
               "note": "str"})
    empty = pd.DataFrame({"currency": [], "value": [], "value_kind": []}, dtype="str")
    fast, ref = both(tmp_path, {"t": df, "v": empty}, (SHEET, VARIANT_SHEET), max_text=40,
                     max_rows=9)
    assert_same(fast, ref)
    assert ref[0]["Werte"] and all(r == 1 for r, _ in ref[0]["Werte"])  # its header only
    # 40 UTF-16 units fit, 41 are cut (the emoji counts two); the long "sha256 …" is cut too
    assert sorted(ref[1].cut_cells) == [("Tabelle", 3, "Notiz"), ("Tabelle", 4, "Notiz"),
                                        ("Tabelle (4)", 4, "Name")]
    assert len(ref[1].sheets) == 5


def _table(**cols):
    base = {"name": ["a"], "amount": [100], "currency": ["CHF"], "rate": [0], "fx": [0],
            "day": [dt.date(2026, 1, 1)], "n": [1], "note": [None]}
    df = pd.DataFrame({**base, **cols})
    return df.astype({"name": "str", "amount": "Int64", "currency": "str", "day": "datetime64[ns]",
                      "note": "str"})


def _variant(value, kind, currency=None):
    return pd.DataFrame([[currency, value, kind]], columns=["currency", "value", "value_kind"],
                        dtype="object").astype("str")


EMPTY_VARIANT = _variant("x", "text").iloc[:0]


@pytest.mark.parametrize("tables, match", [
    ({"t": _table(currency=[None]), "v": EMPTY_VARIANT}, "amount without a known currency"),
    ({"t": _table(currency=["XXX"]), "v": EMPTY_VARIANT}, "amount without a known currency"),
    ({"t": _table(day=[dt.date(1899, 12, 30)]), "v": EMPTY_VARIANT}, "before 1900"),
    ({"t": _table(), "v": _variant("1.005", "amount", "CHF")}, "not an amount"),
    ({"t": _table(), "v": _variant("12a", "int")}, "whole number"),
    ({"t": _table(), "v": _variant("30.10.2026", "date")}, "not a date"),
    ({"t": _table(), "v": _variant("1899-12-31", "date")}, "before 1900"),
], ids=["no-currency", "unknown-currency", "date-1899", "variant-amount", "variant-int",
        "variant-date", "variant-1899"])
def test_both_writers_refuse_the_same_values(tmp_path, tables, match):
    from flows.errors import WriterError
    args = (tables, (SHEET, VARIANT_SHEET), "de", CREATED, "t")
    with pytest.raises(WriterError, match=match) as fast:
        write_workbook(tmp_path / "fast.xlsx", *args)
    with pytest.raises(WriterError, match=match) as ref:
        write_reference_workbook(tmp_path / "reference.xlsx", *args)
    assert str(fast.value) == str(ref.value)


@pytest.mark.parametrize("value, kind, day, currency, match", [
    ("12a", "int", dt.date(1899, 12, 30), "CHF", "Wert.*whole number"),
    ("7", "int", dt.date(1899, 12, 30), "XXX", "Datum.*before 1900"),
    ("7", "int", dt.date(2026, 1, 1), "XXX", "Betrag.*known currency"),
], ids=["value-first", "date-before-amount", "amount"])
def test_the_first_bad_column_of_a_row_is_the_one_reported(tmp_path, value, kind, day,
                                                            currency, match):
    """Both writers go through a sheet's columns in order: of several bad cells, the one in
    the leftmost column is reported, whatever kinds the columns are."""
    from flows.errors import WriterError
    frame = pd.DataFrame({"currency": [currency], "value": [value], "value_kind": [kind],
                          "day": [day], "amount": [100]}).astype(
        {"currency": "str", "value": "str", "value_kind": "str", "day": "datetime64[ns]",
         "amount": "Int64"})
    args = ({"m": frame}, (MIXED_SHEET,), "de", CREATED, "t")
    with pytest.raises(WriterError, match=match) as fast:
        write_workbook(tmp_path / "fast.xlsx", *args)
    with pytest.raises(WriterError, match=match) as ref:
        write_reference_workbook(tmp_path / "reference.xlsx", *args)
    assert str(fast.value) == str(ref.value)


def test_a_markup_shaped_text_keeps_one_escape(tmp_path):
    """A text that looks like rich-text markup and holds an ``_xHHHH_`` literal: stored as an
    inline string, XML-escaped, the literal escaped once as Excel escapes it (``_x005F_``), so
    Excel shows the text as it was."""
    text = "<r>x</r>_x0041_<r>x</r>"
    frame = pd.DataFrame({"currency": [None], "value": [text], "value_kind": ["text"]},
                         dtype="object").astype("str")
    path = tmp_path / "fast.xlsx"
    write_workbook(path, {"v": frame}, (VARIANT_SHEET,), "de", CREATED, "t")
    cell = stored(path)[0]["B2"]
    assert "<t>&lt;r&gt;x&lt;/r&gt;_x005F_x0041_&lt;r&gt;x&lt;/r&gt;</t>" in cell
