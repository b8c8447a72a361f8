"""The fast row path (flows/xlsx_cells.py) cell by cell, without a billing run."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.workbook import CUT_MARKER, over_limit, write_workbook
from flows.xlsx_cells import decimal_text
from schemas.columns import AMOUNT, DATE, INT, PERCENT, TEXT, VARIANT, Col, Sheet

SHEET = Sheet("t", "Tabelle", "Table", (
    Col("name", "Name", "Name", TEXT, nullable=True),
    Col("amount", "Betrag", "Amount", AMOUNT, "currency", True),
    Col("currency", "Währung", "Currency", TEXT, nullable=True),
    Col("rate", "Satz", "Rate", PERCENT),
    Col("day", "Datum", "Date", DATE, nullable=True),
    Col("n", "Zahl", "Number", INT),
))


def frame(rows):
    df = pd.DataFrame(rows, columns=["name", "amount", "currency", "rate", "day", "n"])
    return df.astype({"name": "str", "amount": "Int64", "currency": "str", "rate": "int64",
                      "day": "datetime64[ns]", "n": "int64"})


def write(tmp_path, df, **kw):
    path = tmp_path / "t.xlsx"
    report = write_workbook(path, {"t": df}, (SHEET,), "de", dt.date(2026, 10, 30), "t", **kw)
    return path, report


def test_decimal_text_is_exact():
    minor = np.array([125005, -5, 7, 0, -125000, 10**17 + 1, 81000])
    exps = np.array([2, 2, 0, 2, 2, 2, 4])
    got = decimal_text(minor, exps).to_pylist()
    assert got == [str(Decimal(int(m)).scaleb(-int(e))) for m, e in zip(minor, exps)]
    assert got[5] == "1000000000000000.01"


def test_cells_read_back_with_types_formats_and_exact_text(tmp_path):
    df = frame([
        ["=SUM(A1:A2)", 125005, "CHF", 81000, "2026-10-30", 1],
        ["<r><t>x</t></r> & > \x07", 198000, "JPY", 0, None, 2],
        ["  leading", None, None, 190000, "1900-01-01", 3],
        [None, -2, "BHD", 5, "2026-02-28", 4],
    ])
    path, _ = write(tmp_path, df)
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<v>1250.05</v>" in xml and "<v>198000</v>" in xml and "<v>-0.002</v>" in xml
    assert "<f>" not in xml and "<r><t>x" not in xml  # text is never a formula nor markup
    ws = openpyxl.load_workbook(path)["Tabelle"]
    rows = list(ws.iter_rows(min_row=2))
    assert [c.value for c in rows[0]][:2] == ["=SUM(A1:A2)", 1250.05]
    assert rows[0][0].data_type == "s" and rows[0][1].number_format == "#,##0.00"
    assert rows[1][0].value == "<r><t>x</t></r> & > _x0007_"
    assert rows[1][1].value == 198000 and rows[1][1].number_format == "#,##0"
    assert rows[3][1].number_format == "#,##0.000"
    assert rows[0][4].value == dt.datetime(2026, 10, 30) and rows[0][4].is_date
    assert rows[2][4].value == dt.datetime(1900, 1, 1)
    assert rows[2][0].value == "  leading" and rows[2][1].value is None
    assert rows[0][3].value == 8.1 and rows[3][5].value == 4
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:F5"


def test_same_tables_same_bytes(tmp_path):
    df = frame([["a", 1, "CHF", 0, "2026-01-01", 1]])
    a, _ = write(tmp_path, df)
    first = a.read_bytes()
    b, _ = write(tmp_path, df)
    assert b.read_bytes() == first


def test_continuation_and_cut(tmp_path):
    long = "é" * 50 + "😀" * 30  # 110 UTF-16 units, 80 characters
    df = frame([[long if i == 4 else f"n{i}", i, "EUR", 0, None, i] for i in range(7)])
    assert over_limit(df["name"], 100).tolist() == [False] * 4 + [True] + [False] * 2
    path, report = write(tmp_path, df, max_rows=3, max_text=100)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Tabelle", "Tabelle (2)", "Tabelle (3)", "Tabelle (4)"]
    assert [ws.max_row for ws in wb.worksheets] == [3, 3, 3, 2]
    assert report.cut_cells == [("Tabelle (3)", 2, "Name")]
    cut = wb["Tabelle (3)"]["A2"].value
    assert cut.endswith(CUT_MARKER["de"]) and cut.startswith("é" * 50)
    assert len(cut.encode("utf-16-le")) // 2 <= 100


@pytest.mark.parametrize("max_rows", [1, 0, -5])
def test_max_rows_below_two_is_refused(tmp_path, max_rows):
    with pytest.raises(ValueError, match="max_rows"):
        write(tmp_path, frame([]), max_rows=max_rows)


def test_amount_without_currency_is_an_error_not_a_guess(tmp_path):
    from flows.workbook import WriterError
    df = frame([["a", 100, None, 0, None, 1]])
    with pytest.raises(WriterError, match="currency"):
        write(tmp_path, df)


def test_every_sheet_is_set_up_to_print(tmp_path):
    """A4 landscape, one page wide, the header row on every page, a footer with the run id
    and the page number — on continuation sheets too; long text wraps, short text does not."""
    long = "Rechnung elektronisch an kreditoren@firma.example, nicht per Post " * 2
    df = frame([[long if i == 2 else f"n{i}", i, "EUR", 0, None, i] for i in range(5)])
    path, _ = write(tmp_path, df, max_rows=4, run_id="F814E32B")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Tabelle", "Tabelle (2)"]
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.page_setup.paperSize == 9  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        # fitToWidth 1 is the file format's default, which XlsxWriter leaves out
        assert (ws.page_setup.fitToWidth or 1, ws.page_setup.fitToHeight) == (1, 0)
        assert ws.print_title_rows == "$1:$1"
        footer = ws.oddFooter
        assert footer.center.text == "Lauf F814E32B"
        assert footer.right.text == "Seite &P von &N" and footer.left.text == "&A"
    width = wb["Tabelle"].column_dimensions["A"].width
    assert len(long) > width
    cell, short = wb["Tabelle"]["A4"], wb["Tabelle"]["A2"]
    assert cell.value == long and cell.alignment.wrap_text and cell.alignment.vertical == "top"
    assert not short.alignment.wrap_text
    again, _ = write(tmp_path, df, max_rows=4, run_id="F814E32B")
    assert again.read_bytes() == path.read_bytes()


VARIANT_SHEET = Sheet("v", "Werte", "Values", (
    Col("currency", "Währung", "Currency", TEXT, nullable=True),
    Col("value", "Wert", "Value", VARIANT, "currency"),
))


def _variant(tmp_path, rows, **kw):
    df = pd.DataFrame(rows, columns=["currency", "value", "value_kind"]).astype("str")
    path = tmp_path / "v.xlsx"
    report = write_workbook(path, {"v": df}, (VARIANT_SHEET,), "de", dt.date(2026, 10, 30),
                            "v", **kw)
    return openpyxl.load_workbook(path)["Werte"], report


def test_variant_cells_take_the_kind_of_their_row(tmp_path):
    ws, _ = _variant(tmp_path, [
        [None, "240", "int"], ["CHF", "170637.79", "amount"], ["JPY", "-1980", "amount"],
        ["BHD", "0.125", "amount"], [None, "2026-10-30", "date"], [None, "ja", "text"],
        [None, "sha256 " + "ab" * 32, "text"], [None, "0042", "text"],
    ])
    got = [ws.cell(r, 2) for r in range(2, 10)]
    assert got[0].value == 240 and got[0].data_type == "n" and got[0].number_format == "0"
    assert got[1].data_type == "n" and Decimal(str(got[1].value)) == Decimal("170637.79")
    assert got[1].number_format == "#,##0.00"
    assert got[2].value == -1980 and got[2].number_format == "#,##0"
    assert got[3].number_format == "#,##0.000"
    assert got[4].is_date and got[4].value == dt.datetime(2026, 10, 30)
    assert [c.value for c in got[5:]] == ["ja", "sha256 " + "ab" * 32, "0042"]
    assert all(c.data_type == "s" for c in got[5:])
    assert got[6].alignment.wrap_text  # longer than the column: wraps


@pytest.mark.parametrize("row, match", [
    (["CHF", "1.005", "amount"], "not an amount"),
    (["XXX", "1", "amount"], "not an amount"),
    ([None, "12a", "int"], "whole number"),
    ([None, "30.10.2026", "date"], "not a date"),
])
def test_variant_value_not_of_its_kind_is_an_error(tmp_path, row, match):
    from flows.workbook import WriterError
    with pytest.raises(WriterError, match=match):
        _variant(tmp_path, [row])


_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@given(st.lists(st.lists(st.one_of(st.none(), st.text(
    alphabet=st.sampled_from("ab é😀\t\n\r\x00\x01\x0b\x0c\x0e\x1f\x7f\x85\ufffe\uffff_x"),
    max_size=8)), max_size=6), min_size=1, max_size=4))
def test_the_workbook_wide_cell_counts_are_each_cells_own(columns):
    """The control-character and cut counts over every text cell at once (one Arrow array of
    all the sheets' columns) are the sums of each cell's own test in Python."""
    from flows.stages import _count_control, _count_cut, _text_cells
    tables = {"t": pd.DataFrame({f"c{i}": pd.Series(col, dtype="str")
                                 for i, col in enumerate(columns)})}
    sheet = Sheet("t", "T", "T", tuple(Col(c, c, c, TEXT, nullable=True) for c in tables["t"]))
    cells = _text_cells(tables, (sheet,))
    texts = [t for col in columns for t in col if t is not None]
    assert _count_control(cells) == sum(bool(_ILLEGAL_XML.search(t)) for t in texts)
    assert _count_cut(cells, 4) == sum(len(t.encode("utf-16-le")) // 2 > 4 for t in texts)
