"""The Excel source: OpenOlat's "Buchungsaufträge" export read with calamine into the same text
frame as the CSV source (shared/openolat-booking-orders.md §1, §3).

The two samples are written by ``sample_data/generate_xlsx_exports.py`` from
``booking_orders.csv``: the newest export (German, date cells, all 240 rows) and an older one
(English, date text with ``null``, raw statuses, number cells for booking number and account,
a subset). Their parsed canonical frames must equal the CSV's for the same booking numbers;
every cell calamine reads must equal what openpyxl reads; an unusable file is a SourceError
with a plain message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile

import openpyxl
import pandas as pd
import pytest

from conftest import SAMPLE, SAMPLE_ORDERS
from flows import stages
from flows.sources import csv_file
from flows.sources import openolat_xlsx as xl
from flows.sources.base import SourceError
from schemas import booking_order as bo
from transforms.headers import map_headers
from transforms.parse import parse_booking_orders

NEWEST = SAMPLE / "Orders_Herbst_2026_newest.xlsx"
OLDER = SAMPLE / "Orders_Herbst_2026_older.xlsx"
SAMPLES = [NEWEST, OLDER]
NBSP = "\u00a0"

IMPL_STATUS_RAW = {"Provisorisch": "provisional", "Bestätigt": "confirmed", "Aktiv": "active",
                   "Beendet": "finished"}

# --- helpers ---------------------------------------------------------------------------------


def workbook(path, sheets: dict[str, list[list]]):
    """A small real .xlsx: sheet name -> rows (the first sheet replaces the default one)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def sample_rows(path=NEWEST, n: int = 3) -> tuple[list, list[list]]:
    rows = list(openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    return list(rows[0]), [list(r) for r in rows[1:n + 1]]


def openpyxl_grid(path) -> tuple[str, list[list[str]]]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.active
        return ws.title, [[xl.cell_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def trimmed(grid: list[list[str]]) -> list[list[str]]:
    """Without trailing empty cells and rows (the two readers pad differently)."""
    rows = [list(r) for r in grid]
    for r in rows:
        while r and r[-1] == "":
            r.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def parsed(ex) -> tuple[pd.DataFrame, pd.DataFrame]:
    good, problems = parse_booking_orders(ex.frame)
    return good.set_index("booking_number"), problems


# canonical fields a raw column feeds (money and country give two)
DERIVED = {"price": ("price", "price_currency"),
           "cancellation_fee": ("cancellation_fee", "cancellation_fee_currency"),
           "country": ("country", "country_code")}


def carried_fields(ex, other) -> list[str]:
    """Parsed fields both extracts carry (the CSV has no institutional id or membership
    status: the generator adds them; membership status is not a canonical field)."""
    cols = [c for c in ex.frame.columns if c in other.frame.columns
            and c not in ("source", "source_row", "booking_number", "membership_status")]
    return [f for c in cols for f in DERIVED.get(c, (c,))]


# --- the two samples -------------------------------------------------------------------------

def test_generator_output_is_in_place_and_names_sheets_as_openolat():
    for path, sheet in ((NEWEST, "Buchungsaufträge"), (OLDER, "Booking orders")):
        assert path.read_bytes()[:4] == b"PK\x03\x04"
        wb = openpyxl.load_workbook(path, read_only=True)
        assert wb.sheetnames == [sheet]
        assert wb.properties.modified == dt.datetime(2026, 10, 28, 8, 0)


def test_newest_export_reads_like_the_csv():
    ex = xl.read(str(NEWEST))
    csv_ex = csv_file.read(str(SAMPLE_ORDERS))
    f = ex.frame
    assert ex.name == NEWEST.name and ex.rows == 240 == len(f)
    assert ex.checksum == hashlib.sha256(NEWEST.read_bytes()).hexdigest()
    assert f["booking_number"].iloc[0] == "104212" and f["booking_number"].iloc[-1] == "191810"
    assert f["source_row"].tolist() == list(range(2, 242))
    assert (f["source"] == NEWEST.name).all()
    assert not f["booking_number"].str.contains(r"\.").any()
    first = f.iloc[0]
    # the two identical "Kennzeichen" headers: product first, implementation second
    assert (first["product_ref"], first["implementation_ref"]) == ("XL-CTRL", "XL-CTRL-2020-H")
    assert (first["service_begin"], first["service_end"], first["order_date"]) == (
        "2020-09-14", "2020-10-09", "2020-06-08")
    assert first["price"] == f"EUR{NBSP}531.00" and first["booking_status"] == "Offen"
    assert first["orderer_institutional_id"] and first["membership_status"] == "Aktiv"
    assert first["location"] == "München"
    # every text cell the CSV has comes back identical (dates are date cells here: same text)
    common = [c for c in csv_ex.frame.columns if c != "source"]
    pd.testing.assert_frame_equal(f[common].reset_index(drop=True),
                                  csv_ex.frame[common].reset_index(drop=True))
    # the traps stay text
    name = f.loc[f["booking_number"] == "191224", "name"].item()
    assert name.startswith("=HYPERLINK(")
    assert f["order_comment"].str.startswith("+41 44").any()


def test_older_export_reads_text_dates_null_and_number_cells():
    ex = xl.read(str(OLDER))
    f = ex.frame
    assert ex.rows == len(f) >= 60
    assert ex.rows == 100
    assert f["booking_number"].iloc[0] == "104212" and f["booking_number"].iloc[-1] == "191809"
    assert f["source_row"].tolist() == list(range(2, ex.rows + 2))
    # number cells: whole numbers without ".0"
    assert f["booking_number"].str.fullmatch(r"\d{6}").all()
    assert set(f["account"]) <= {"3400", "3410", "3420"}
    first = f.iloc[0]
    assert (first["product_ref"], first["implementation_ref"]) == ("XL-CTRL", "XL-CTRL-2020-H")
    assert first["service_begin"] == "2020-09-14 00:00:00.0"
    assert first["order_date"].startswith("2020-06-08 ")
    assert first["booking_status"] == "PREPAYMENT" and first["payment_method"] == "CurriculumElement"
    assert (f["order_date"] == "null").sum() == 1
    assert "location" not in f and "membership_status" not in f and "billing_org_id" not in f
    assert "cancellation_fee" in f and "billing_org_name" in f
    statuses = set(f["booking_status"])
    assert {"PAYED", "PREPAYMENT", "NEW", "CANCELED", "WRITTEN_OFF", "ERROR"} <= statuses
    # cancelled with and without fee, and the three faulty rows of the CSV
    canceled = f[f["booking_status"] == "CANCELED"]
    assert (canceled["cancellation_fee"] != "").any() and (canceled["cancellation_fee"] == "").any()
    assert f["price"].str.contains(",").sum() == 1
    assert (f["country"] == "Frankreich").sum() == 1


@pytest.mark.parametrize("path", SAMPLES, ids=["newest", "older"])
def test_parsed_canonical_frame_equals_the_csvs_for_shared_bookings(path):
    ex = xl.read(str(path))
    csv_ex = csv_file.read(str(SAMPLE_ORDERS))
    good, problems = parsed(ex)
    csv_good, csv_problems = parsed(csv_ex)
    shared = ex.frame["booking_number"]
    fields = carried_fields(ex, csv_ex)
    missing = {"orderer_institutional_id"} | ({"location", "billing_org_id"} if path == OLDER
                                              else set())
    assert set(csv_good.columns) - set(fields) == {"source", "source_row", *missing}
    assert "booking_status" in fields and "order_date" in fields and "price" in fields
    mine = good[fields].sort_index()
    theirs = csv_good.loc[csv_good.index.isin(shared), fields].sort_index()
    if path == OLDER:
        # the older export writes raw implementation status and the resource type as offer type
        theirs = theirs.assign(implementation_status=theirs["implementation_status"].map(
            IMPL_STATUS_RAW).astype("str"))
        assert set(mine["payment_method"]) == {"CurriculumElement"}
        assert set(theirs["payment_method"]) == {"Rechnung"}
        mine, theirs = mine.drop(columns="payment_method"), theirs.drop(columns="payment_method")
    assert len(mine) == len(theirs) > 0
    pd.testing.assert_frame_equal(mine, theirs)
    assert set(mine["booking_status"]) <= set(bo.STATUSES)
    # the same rows are refused for the same reasons
    key = ["booking_number", "column", "reason"]
    want = csv_problems[csv_problems["booking_number"].isin(shared)][key]
    assert sorted(map(tuple, problems[key].to_numpy())) == sorted(map(tuple, want.to_numpy()))
    assert {"BAD_AMOUNT", "REQUIRED"} <= set(problems["reason"])


# --- calamine against openpyxl ---------------------------------------------------------------

@pytest.mark.parametrize("path", SAMPLES, ids=["newest", "older"])
def test_every_cell_equals_openpyxls_reading(path):
    sheet, rows = xl.read_cells(path.read_bytes(), path.name)
    mine = trimmed([[xl.cell_text(v) for v in r] for r in rows])
    title, theirs = openpyxl_grid(path)
    assert sheet == title
    assert len(mine) == len(theirs) > 60
    for i, (a, b) in enumerate(zip(mine, trimmed(theirs)), start=1):
        assert a == b, f"row {i}"
    # and the source frame is exactly what openpyxl's cells give under the same headers
    hmap = map_headers(theirs[0])
    ex = xl.read(str(path))
    for i, cid in hmap.columns.items():
        col = [r[i] if i < len(r) else "" for r in theirs[1:]]
        assert ex.frame[cid].tolist() == col, cid


def test_cell_text_whole_numbers_dates_and_money_never_floats():
    t = xl.cell_text
    assert t(187001.0) == t(187001) == "187001"
    assert t(-0.0) == "0" and t(1e20) == "100000000000000000000"
    assert t(1250.5) == "1250.5" and t(0.1) == "0.1" and t(0.1 + 0.2) == "0.3"
    assert t(1.25e-05) == "0.0000125"
    assert t(dt.date(2026, 9, 14)) == t(dt.datetime(2026, 9, 14)) == "2026-09-14"
    assert t(dt.datetime(2026, 9, 14, 13, 5, 7)) == "2026-09-14 13:05:07"
    assert t(dt.time(13, 5)) == "13:05:00"
    assert t(None) == t("") == ""
    assert t(True) == "TRUE" and t("null") == "null"
    assert t(f"CHF{NBSP}1250.00") == f"CHF{NBSP}1250.00"


def test_number_date_and_error_cells_become_text_the_parser_judges(tmp_path):
    header, rows = sample_rows(NEWEST, 3)
    ix = {h: i for i, h in enumerate(header)}
    rows[0][ix["Buchungsnummer"]] = 187001           # a number cell: "187001"
    rows[0][ix["Preis"]] = 1250.0                    # a number as price: no currency, refused
    rows[1][ix["Auftragsdatum"]] = dt.datetime(2026, 5, 12, 14, 3)  # a date-time cell
    rows[2][ix["Stornogebühr"]] = "#N/A"             # an error value, made one below
    path = tmp_path / "Orders.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Buchungsaufträge"
    for r in [header, *rows]:
        ws.append(r)
    ws.cell(row=4, column=ix["Stornogebühr"] + 1).data_type = "e"
    wb.save(path)

    f = xl.read(str(path)).frame
    assert f["booking_number"].tolist()[0] == "187001"
    assert f["price"].tolist()[0] == "1250"
    assert f["order_date"].tolist()[1] == "2026-05-12 14:03:00"
    assert f["cancellation_fee"].tolist()[2] == "#N/A"   # not silently empty
    _, title_rows = openpyxl_grid(path)
    assert trimmed([[xl.cell_text(v) for v in r]
                    for r in xl.read_cells(path.read_bytes(), path.name)[1]]) == trimmed(title_rows)

    good, problems = parse_booking_orders(f)
    bad = {(p.source_row, p.column, p.reason) for p in problems.itertuples()}
    assert (2, "price", "BAD_AMOUNT") in bad
    assert (4, "cancellation_fee", "BAD_AMOUNT") in bad
    assert good["booking_number"].tolist() == [rows[1][ix["Buchungsnummer"]]]
    assert good["order_date"].iloc[0] == pd.Timestamp("2026-05-12")


def test_blank_rows_are_skipped_and_rows_keep_their_excel_numbers(tmp_path):
    header, rows = sample_rows(NEWEST, 2)
    path = workbook(tmp_path / "gaps.xlsx", {"Buchungsaufträge": [header, rows[0], [], [],
                                                                  rows[1]]})
    ex = xl.read(str(path))
    assert ex.rows == 2 and ex.frame["source_row"].tolist() == [2, 5]


# --- sheets ----------------------------------------------------------------------------------

def test_the_booking_order_sheet_is_chosen_among_others(tmp_path):
    header, rows = sample_rows(NEWEST, 2)
    path = workbook(tmp_path / "more.xlsx", {"Notizen": [["nichts"]],
                                             "booking orders": [header, *rows],
                                             "Pivot": [["x", 1]]})
    ex = xl.read(str(path))
    assert ex.rows == 2


def test_a_single_sheet_with_another_name_is_read(tmp_path):
    header, rows = sample_rows(NEWEST, 2)
    path = workbook(tmp_path / "renamed.xlsx", {"Tabelle1": [header, *rows]})
    assert xl.read(str(path)).rows == 2


def test_two_unknown_sheets_are_refused_naming_them(tmp_path):
    header, rows = sample_rows(NEWEST, 2)
    path = workbook(tmp_path / "two.xlsx", {"Tabelle1": [header, *rows], "Tabelle2": [header]})
    with pytest.raises(SourceError) as err:
        xl.read(str(path))
    assert "'Tabelle1', 'Tabelle2'" in err.value.message
    assert "Buchungsaufträge" in err.value.message


def test_both_sheet_names_present_is_refused(tmp_path):
    header, rows = sample_rows(NEWEST, 2)
    path = workbook(tmp_path / "both.xlsx", {"Buchungsaufträge": [header, *rows],
                                             "Booking orders": [header, *rows]})
    with pytest.raises(SourceError, match="more than one booking-order sheet"):
        xl.read(str(path))


# --- unusable files --------------------------------------------------------------------------

def _refused(path) -> SourceError:
    with pytest.raises(SourceError) as err:
        stages.extract(str(path))  # the job's dispatch by extension reaches this source
    assert "Traceback" not in str(err.value)
    return err.value


def test_csv_renamed_to_xlsx(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(SAMPLE_ORDERS.read_bytes())
    err = _refused(path)
    assert err.source == "x.xlsx"
    assert "this is not an Excel file; it looks like CSV text" in err.message


def test_truncated_xlsx(tmp_path):
    path = tmp_path / "cut.xlsx"
    data = NEWEST.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "damaged or incomplete" in _refused(path).message


def test_corrupt_member_inside_a_valid_zip(tmp_path):
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(NEWEST) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]
            zout.writestr(info, data)
    assert "damaged" in _refused(path).message


def test_password_protected_ole_container(tmp_path):
    path = tmp_path / "secret.xlsx"
    path.write_bytes(xl.OLE_MAGIC + b"\x00" * 504 + bytes(range(256)) * 8)
    assert "password-protected" in _refused(path).message
    assert "save it without a password" in _refused(path).message
    enc = tmp_path / "enc.xlsx"
    enc.write_bytes(xl.OLE_MAGIC + b"\x00" * 100 + "EncryptionInfo".encode("utf-16-le")
                    + "Workbook".encode("utf-16-le") + b"\x01" * 600)
    assert "password-protected" in _refused(enc).message


def test_old_xls_renamed(tmp_path):
    path = tmp_path / "old.xlsx"
    path.write_bytes(xl.OLE_MAGIC + b"\x00" * 100 + "Workbook".encode("utf-16-le") + b"\x01" * 600)
    assert "Excel 97-2003 (.xls)" in _refused(path).message


def test_empty_file_zip_without_workbook_and_no_such_file(tmp_path):
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    assert _refused(empty).message == "the file is empty"
    other = tmp_path / "other.xlsx"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("word/document.xml", "<w/>")
    assert "not an Excel workbook" in _refused(other).message
    missing = _refused(tmp_path / "nope.xlsx")
    assert missing.message == "no such file" and missing.source.endswith("nope.xlsx")
    folder = tmp_path / "folder.xlsx"
    folder.mkdir()
    assert "folder" in _refused(folder).message


def test_header_only_export_is_zero_rows_with_the_columns(tmp_path):
    header, _ = sample_rows(NEWEST, 0)
    path = workbook(tmp_path / "Orders_empty.xlsx", {"Buchungsaufträge": [header]})
    ex = xl.read(str(path))
    assert ex.rows == 0 and len(ex.frame) == 0
    assert {"booking_number", "price", "product_ref", "implementation_ref", "source",
            "source_row"} <= set(ex.frame.columns)
    good, problems = parse_booking_orders(ex.frame)
    assert len(good) == 0 and len(problems) == 0


def test_sheet_without_header_is_refused(tmp_path):
    empty = workbook(tmp_path / "blank.xlsx", {"Buchungsaufträge": []})
    assert "is empty" in _refused(empty).message
    _, rows = sample_rows(NEWEST, 2)
    data_only = workbook(tmp_path / "noheader.xlsx", {"Buchungsaufträge": rows})
    err = _refused(data_only)
    assert "no header row" in err.message and err.row == 1
    below = workbook(tmp_path / "late.xlsx", {"Buchungsaufträge": [[], *rows]})
    assert "no header row" in _refused(below).message


def test_missing_required_column_lists_german_and_english_names(tmp_path):
    header, rows = sample_rows(NEWEST, 2)
    i = header.index("Buchungsnummer")
    cut = [[v for j, v in enumerate(r) if j != i] for r in [header, *rows]]
    path = workbook(tmp_path / "nobooking.xlsx", {"Buchungsaufträge": cut})
    err = _refused(path)
    assert "required column(s) missing: Buchungsnummer / Booking number" in err.message
    assert err.row == 1


# --- end to end ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", SAMPLES, ids=["newest", "older"])
def test_run_from_xlsx_delivers_a_balanced_workbook(run, path, tmp_path):
    result = run(source=path, outbox=tmp_path / f"outbox-{path.stem}")
    man = json.loads(result.delivery.manifest.read_text(encoding="utf-8"))
    assert man["rows_read"] == result.rows_read == xl.read(str(path)).rows
    assert man["rows_read"] == (man["rows_billed"] + man["rows_rejected"]
                                + man["rows_not_billable"] + man["rows_already_billed"])
    assert man["rows_billed"] > 0 and man["invoices"] > 0 and man["rows_rejected"] >= 2
    assert result.delivery.workbook.exists()
    wb = openpyxl.load_workbook(result.delivery.workbook, read_only=True)
    assert len(wb.sheetnames) > 1
    wb.close()


def test_newest_xlsx_bills_exactly_what_the_csv_bills(run, tmp_path):
    from_xlsx = run(source=NEWEST, outbox=tmp_path / "a")
    from_csv = run(source=SAMPLE_ORDERS, outbox=tmp_path / "b")
    mx, mc = from_xlsx.rendered.manifest, from_csv.rendered.manifest
    for k in ("rows_read", "rows_billed", "rows_rejected", "rows_not_billable",
              "rows_already_billed", "invoices", "lines", "totals"):
        assert mx[k] == mc[k], k
