"""Reading OpenOlat booking orders: headers, cells, statuses, and every bad cell reported.

transforms.headers.map_headers finds the fields among German or English headers;
transforms.parse.parse_booking_orders turns text into typed values (money in exact minor
units, never rounded) and reports each bad cell with its source row, column and text;
transforms.validate.validate_booking_orders applies the pandera contract lazily (DESIGN.md §3,
§9.5).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from schemas.booking_order import HEADERS, STATUSES
from schemas.problems import Reason
from transforms.headers import map_headers
from transforms.parse import parse_booking_orders, parse_dates, parse_money
from transforms.validate import validate_booking_orders

sys.path.insert(0, str(Path(__file__).parent))
from test_compose_billable import read_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

BASE = {"booking_status": "PAYED", "order_date": "2025-05-12", "price": "CHF 100.00",
        "billing_address_id": "BA-1"}


def raw(text: str, **defaults) -> pd.DataFrame:
    """Raw export cells as text; source rows 2, 3, … as in the file (row 1 is the header)."""
    frame = read_table(text)
    if "booking_number" not in frame:
        frame["booking_number"] = [str(100 + i) for i in range(len(frame))]
    for col, val in {**BASE, **defaults}.items():
        if col not in frame:
            frame[col] = val
    frame["source"] = "export.csv"
    frame["source_row"] = pd.Series(range(2, len(frame) + 2), dtype="int64")
    return frame


def found(problems: pd.DataFrame) -> list[tuple]:
    p = problems.sort_values(["source_row", "column"], kind="stable")
    return [(int(r.source_row), r.column, r.reason, r.value) for r in p.itertuples()]


def parse_and_validate(frame):
    parsed, p1 = parse_booking_orders(frame)
    valid, p2 = validate_booking_orders(parsed)
    return valid, pd.concat([p1, p2], ignore_index=True)


# ---------------------------------------------------------------------------------------------
# every bad cell
# ---------------------------------------------------------------------------------------------

def test_every_bad_cell_of_a_column_is_reported():
    frame = raw("""
        booking_number | order_date | price
        1              | 2025-05-12 | CHF 100.00
        2              | 2025-05-12 | CHF 1O0.00
        3              | 2025-13-45 | CHF 300.00
        4              | 2025-05-12 | CHF 12.345
        5              | 2025-05-12 | CHF 500.00
    """)
    good, problems = parse_booking_orders(frame)
    assert found(problems) == [
        (3, "price", "BAD_AMOUNT", "CHF 1O0.00"),
        (4, "order_date", "BAD_DATE", "2025-13-45"),
        (5, "price", "TOO_MANY_DECIMALS", "CHF 12.345"),
    ]
    assert problems.set_index("source_row").loc[5, "booking_number"] == "4"
    assert good["booking_number"].tolist() == ["1", "5"]
    assert good["source_row"].tolist() == [2, 6]


def test_one_row_with_several_bad_cells_reports_each():
    frame = raw("""
        booking_number | order_date | service_begin | price | booking_status | country
        1              | 31.02.2025 | gestern       | CHF   | Irgendwas      | Atlantis
    """)
    good, problems = parse_booking_orders(frame)
    assert good.empty
    assert found(problems) == [
        (2, "booking_status", "UNKNOWN_STATUS", "Irgendwas"),
        (2, "country", "UNKNOWN_COUNTRY", "Atlantis"),
        (2, "order_date", "BAD_DATE", "31.02.2025"),
        (2, "price", "BAD_AMOUNT", "CHF"),
        (2, "service_begin", "BAD_DATE", "gestern"),
    ]


# ---------------------------------------------------------------------------------------------
# money
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,minor,currency", [
    ("CHF\u00a01250.00", 125000, "CHF"),  # OpenOlat writes a no-break space
    ("CHF 1250.00", 125000, "CHF"),
    ("CHF\u202f1250.5", 125050, "CHF"),
    ("JPY 150000", 150000, "JPY"),
    ("EUR 0.05", 5, "EUR"),
    ("1250.00 CHF", 125000, "CHF"),
    ("chf 7", 700, "CHF"),
    ("BHD 1.234", 1234, "BHD"),
    ("BHD 1.250", 1250, "BHD"),  # three decimals in a currency that has three
    ("CHF 0.250", 25, "CHF"),  # no thousands group starts with 0
    ("CHF 1250.000", 125000, "CHF"),
    ("KWD 10", 10000, "KWD"),
    ("CHF\u00a01'250.00", 125000, "CHF"),  # PriceAmountFormat (transforms.amounts)
    ("CHF 1,250.00", 125000, "CHF"),
    ("CHF 1.250,00", 125000, "CHF"),
    ("CHF 12,50", 1250, "CHF"),
    ("CHF 1 250,00", 125000, "CHF"),
    ("JPY\u00a0454'800.00", 454800, "JPY"),
])
def test_money_text_to_minor_units(text, minor, currency):
    frame = raw("booking_number\n1", price=text)
    good, problems = parse_booking_orders(frame)
    assert problems.empty
    assert (int(good.loc[0, "price"]), good.loc[0, "price_currency"]) == (minor, currency)


@pytest.mark.parametrize("text,reason,detail", [
    ("CHF 12.345", "TOO_MANY_DECIMALS", "CHF"),  # never rounded to 12.35
    ("JPY 150000.5", "TOO_MANY_DECIMALS", "JPY"),
    ("CHF 1.250", "TOO_MANY_DECIMALS", "CHF"),  # 1250 without decimals? never read as 1.25
    ("JPY 12.500", "TOO_MANY_DECIMALS", "JPY"),
    ("XYZ 10.00", "UNKNOWN_CURRENCY", None),
    # a bad amount is explained with 1250.00 in the file's format (none readable here)
    ("12.50", "BAD_AMOUNT", "CHF 1'250.00"),  # no currency
    ("CHF 1,250", "BAD_AMOUNT", "CHF 1'250.00"),  # OpenOlat always writes two decimals
    ("CHF 1250,00", "BAD_AMOUNT", "CHF 1'250.00"),  # a decimal comma always comes grouped
    ("CHF 1'25.00", "BAD_AMOUNT", "CHF 1'250.00"),  # groups of three
    ("CHF zwölf", "BAD_AMOUNT", "CHF 1'250.00"),
    ("JPY 1,250", "BAD_AMOUNT", "JPY 1'250.00"),  # the example in the cell's currency
])
def test_bad_money_text(text, reason, detail):
    frame = raw("booking_number\n1", price=text)
    good, problems = parse_booking_orders(frame)
    assert good.empty
    assert found(problems) == [(2, "price", reason, text)]
    got = problems.loc[0, "detail"]
    assert (None if pd.isna(got) else got) == detail


def test_too_many_decimals_is_explained_with_the_currency():
    frame = raw("booking_number\n1", price="CHF 12.345")
    _, problems = parse_booking_orders(frame)
    r = problems.iloc[0]
    assert Reason[r["reason"]].text("en", r["detail"]) == "more decimals than currency CHF allows"


def test_parse_money_blank_is_missing_not_bad():
    out = parse_money(pd.Series(["", "null", None, "CHF 1.00"], dtype="object"))
    assert out["reason"].isna().all()
    assert out["minor"].tolist()[:3] == [pd.NA, pd.NA, pd.NA]
    assert int(out["minor"][3]) == 100


def test_negative_price_is_rejected_by_validation():
    frame = raw("""
        booking_number | price
        1              | CHF -5.00
        2              | CHF 5.00
    """)
    good, problems = parse_and_validate(frame)
    assert good["booking_number"].tolist() == ["2"]
    assert [(s, c, r) for s, c, r, _ in found(problems)] == [(2, "price", "NEGATIVE_AMOUNT")]


def test_cancellation_fee_in_another_currency_is_rejected():
    frame = raw("""
        booking_number | booking_status | price      | cancellation_fee
        1              | CANCELED       | CHF 100.00 | EUR 10.00
        2              | CANCELED       | CHF 100.00 | CHF 10.00
    """)
    good, problems = parse_booking_orders(frame)
    assert found(problems) == [(2, "cancellation_fee", "CURRENCY_MISMATCH", "EUR 10.00")]
    assert problems.loc[0, "detail"] == "EUR"
    assert good["booking_number"].tolist() == ["2"]
    assert int(good.loc[0, "cancellation_fee"]) == 1000


# ---------------------------------------------------------------------------------------------
# dates
# ---------------------------------------------------------------------------------------------

def test_date_forms_of_openolat_exports():
    dates, bad = parse_dates(pd.Series(
        ["2025-05-12 00:00:00.0", "2025-05-12", "12.05.2025", "1.5.2025", "null", "", None,
         "2025-05-12T08:30:00", "2025-02-29", "12/05/2025", "2025-5-12"], dtype="object"))
    shown = [None if pd.isna(d) else d.strftime("%Y-%m-%d") for d in dates]
    assert shown == ["2025-05-12", "2025-05-12", "2025-05-12", "2025-05-01", None, None, None,
                     "2025-05-12", None, None, None]
    assert bad.tolist() == [False, False, False, False, False, False, False, False, True, True,
                            True]


def test_real_date_cells():
    import datetime as dt
    dates, bad = parse_dates(pd.Series([dt.datetime(2025, 5, 12, 0, 0), dt.date(2025, 5, 13),
                                        None], dtype="object"))
    assert [None if pd.isna(d) else d.strftime("%Y-%m-%d") for d in dates] == \
        ["2025-05-12", "2025-05-13", None]
    assert not bad.any()
    dates, bad = parse_dates(pd.Series(pd.to_datetime(["2025-05-12 08:15", None])))
    assert dates.dt.strftime("%Y-%m-%d").tolist()[0] == "2025-05-12" and not bad.any()


def test_missing_order_date_is_required_missing_service_date_is_fine():
    frame = raw("""
        booking_number | order_date            | service_begin | service_end
        1              | null                  | null          |
        2              | 2025-05-12 00:00:00.0 | 12.05.2025    | 2025-05-16 00:00:00.0
    """)
    good, problems = parse_booking_orders(frame)
    assert found(problems) == [(2, "order_date", "REQUIRED", "null")]
    assert good["booking_number"].tolist() == ["2"]
    row = good.iloc[0]
    assert [row[c].strftime("%Y-%m-%d") for c in ("order_date", "service_begin",
                                                   "service_end")] == \
        ["2025-05-12", "2025-05-12", "2025-05-16"]


def test_service_end_before_begin_is_rejected():
    frame = raw("""
        booking_number | service_begin | service_end
        1              | 2025-05-16    | 2025-05-12
        2              | 2025-05-12    | 2025-05-12
        3              | 2025-05-12    |
    """)
    good, problems = parse_and_validate(frame)
    assert good["booking_number"].tolist() == ["2", "3"]
    assert [(s, c, r) for s, c, r, _ in found(problems)] == [(2, "service_end", "END_BEFORE_BEGIN")]


# ---------------------------------------------------------------------------------------------
# statuses
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("label,status", [
    ("Bezahlt", "PAYED"), ("Paid", "PAYED"), ("Erledigt", "PAYED"),
    ("Storniert mit Gebühr", "CANCELED"), ("Storniert", "CANCELED"), ("Cancelled", "CANCELED"),
    ("Offen", "PREPAYMENT"), ("Ausstehend", "PREPAYMENT"), ("In Zahlungsprozess", "PREPAYMENT"),
    ("Neu", "NEW"), ("In Verarbeitung", "NEW"),
    ("Ausgebucht", "WRITTEN_OFF"), ("Written off", "WRITTEN_OFF"),
    ("Fehler", "ERROR"), ("Achtung", "ERROR"),
    *[(s, s) for s in STATUSES],
    (" Bezahlt ", "PAYED"),
])
def test_translated_and_raw_statuses(label, status):
    good, problems = parse_booking_orders(raw("booking_number\n1", booking_status=label))
    assert problems.empty
    assert good.loc[0, "booking_status"] == status


@pytest.mark.parametrize("label,reason", [("Irgendwas", "UNKNOWN_STATUS"),
                                          ("PAID_LATER", "UNKNOWN_STATUS"),
                                          ("", "REQUIRED"), ("null", "REQUIRED")])
def test_unknown_or_missing_status(label, reason):
    good, problems = parse_booking_orders(raw("booking_number\n1", booking_status=label))
    assert good.empty
    assert found(problems) == [(2, "booking_status", reason, label)]


# ---------------------------------------------------------------------------------------------
# keys, countries
# ---------------------------------------------------------------------------------------------

def test_duplicate_booking_numbers_reject_both_rows_and_name_them():
    frame = raw("""
        booking_number | price
        104212         | CHF 100.00
        104228         | CHF 200.00
        104212         | CHF 300.00
        104300         | CHF 400.00
    """)
    good, problems = parse_booking_orders(frame)
    assert good["booking_number"].tolist() == ["104228", "104300"]
    assert found(problems) == [(2, "booking_number", "DUPLICATE_BOOKING", "104212"),
                               (4, "booking_number", "DUPLICATE_BOOKING", "104212")]
    assert problems["detail"].tolist() == ["2, 4", "2, 4"]
    assert Reason.DUPLICATE_BOOKING.text("de", "2, 4") == \
        "Buchungsnummer mehrfach vorhanden (Zeilen 2, 4)"


def test_required_booking_number_and_billing_address():
    frame = raw("""
        booking_number | billing_address_id
                       | BA-1
        2              |
        3              | BA-3
    """)
    good, problems = parse_booking_orders(frame)
    assert [(s, c, r) for s, c, r, _ in found(problems)] == [
        (2, "booking_number", "REQUIRED"), (3, "billing_address_id", "REQUIRED")]
    assert good["booking_number"].tolist() == ["3"]


def test_country_text_to_iso_code_unknown_rejected():
    frame = raw("""
        booking_number | country
        1              | Schweiz
        2              |  ch
        3              | Deutschland
        4              | Atlantis
        5              |
        6              | Österreich
    """)
    good, problems = parse_booking_orders(frame)
    assert found(problems) == [(5, "country", "UNKNOWN_COUNTRY", "Atlantis")]
    assert dict(zip(good["booking_number"], good["country_code"].fillna(""))) == {
        "1": "CH", "2": "CH", "3": "DE", "5": "", "6": "AT"}


def test_parsed_frame_meets_its_contract_and_keeps_text_as_text():
    frame = raw("""
        booking_number | po_number | zip   | cost_center | order_comment
        007            | 00123     | 08001 | KST-100     | =SUM(A1)
    """)
    good, problems = parse_and_validate(frame)
    assert problems.empty
    row = good.iloc[0]
    assert (row["booking_number"], row["po_number"], row["zip"], row["order_comment"]) == \
        ("007", "00123", "08001", "=SUM(A1)")
    assert str(good["price"].dtype) == "Int64"
    assert str(good["order_date"].dtype) == "datetime64[ns]"


# ---------------------------------------------------------------------------------------------
# headers
# ---------------------------------------------------------------------------------------------

def _header_line(name: str) -> list[str]:
    first = (ROOT / "sample_data" / name).read_text(encoding="utf-8-sig").splitlines()[0]
    return first.split(";" if first.count(";") > first.count(",") else ",")


def test_german_export_headers():
    headers = _header_line("booking_orders.csv")
    m = map_headers(headers)
    assert m.missing == () and m.duplicates == ()
    by_id = {cid: headers[i] for i, cid in m.columns.items()}
    assert by_id["product_ref"] == "Kennzeichen "  # OpenOlat's trailing space
    assert by_id["implementation_ref"] == "Kennzeichen"
    assert headers.index("Kennzeichen ") < headers.index("Kennzeichen")
    assert by_id["booking_number"] == "Buchungsnummer"
    assert by_id["price"] == "Preis"
    assert by_id["cancellation_fee"] == "Stornogebühr"
    assert by_id["service_begin"] == "Durchführung von"
    assert by_id["billing_address_id"] == "Rechnungsadresse"
    assert by_id["payment_method"] == "Angebotstyp"


def test_english_export_headers():
    headers = _header_line("booking_orders_en.csv")
    m = map_headers(headers)
    assert m.missing == () and m.duplicates == ()
    ids = [m.columns[i] for i in sorted(m.columns)]
    de = map_headers(_header_line("booking_orders.csv"))
    assert ids == [de.columns[i] for i in sorted(de.columns)]
    refs = [i for i, cid in m.columns.items() if cid in ("product_ref", "implementation_ref")]
    assert [headers[i] for i in refs] == ["Ext. ref.", "Ext. ref."]
    assert [m.columns[i] for i in refs] == ["product_ref", "implementation_ref"]


def test_headers_in_any_order_case_and_spacing():
    m = map_headers(["  preis", "BUCHUNGSNUMMER", "Kennzeichen", "Auftragsdatum",
                     "Buchungs status", "Kennzeichen  ", "Rechnungsadresse", "Lernfortschritt",
                     "Buchungsstatus"])
    assert m.columns == {0: "price", 1: "booking_number", 2: "product_ref", 3: "order_date",
                         5: "implementation_ref", 6: "billing_address_id",
                         8: "booking_status"}
    assert m.ignored == ("Buchungs status", "Lernfortschritt")
    assert m.missing == ()


def test_missing_and_duplicate_headers():
    m = map_headers(["Buchungsnummer", "Preis", "Price", "Kennzeichen"])
    assert m.missing == ("booking_status", "order_date", "billing_address_id")
    assert m.duplicates == ("Price",)
    assert m.columns[3] == "product_ref"


def test_every_declared_header_maps_back_to_its_field():
    for cid, texts in HEADERS.items():
        for text in texts:
            m = map_headers([text])
            assert m.columns == {0: cid}, text
