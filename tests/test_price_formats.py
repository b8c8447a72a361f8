"""Prices in every format OpenOlat writes, one format per file, never read as another amount.

The test data is made the way OpenOlat makes it: :func:`java_price` is a port of
``org/olat/resource/accesscontrol/ui/PriceFormat.java`` (``fullFormat``: the currency code,
``CHF`` when there is none, U+00A0, then ``format``: ``setScale(2, RoundingMode.HALF_EVEN)``)
and ``org/olat/core/util/PriceAmountFormat.java`` (``DecimalFormat("#,##0.00")`` with the
symbols of ``Locale.ENGLISH``, then ``,`` → grouping and ``.`` → decimal separator of the
installation's format), as ``AccountingReportConfiguration.generateDataRow`` writes the Price
and Cancellation fee cells (text cells). ``plain`` is what older 20.x versions wrote:
two decimals, a point, no grouping. The port is written from the Java, not from
transforms/amounts.py, so that the two can disagree.
"""

from __future__ import annotations

import csv
import io
import types
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import examples
from flows import stages
from flows.config import ConfigError
from flows.sources import csv_file
from flows.sources import openolat_xlsx as xl
from schemas.problems import Reason
from schemas.settings import SETTINGS, SettingError, Settings, parse_settings
from transforms import amounts
from transforms.minor_units import EXPONENTS
from transforms.headers import map_headers
from transforms.parse import parse_booking_orders, parse_money

SETTINGS_H = settings(max_examples=examples(0.75), deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])

#: PriceAmountFormat's enum: (grouping separator, decimal separator); plain: older versions
JAVA_FORMATS = {
    "apostrophePoint": ("'", "."),
    "pointComma": (".", ","),
    "commaPoint": (",", "."),
    "spacePoint": (" ", "."),
    "spaceComma": (" ", ","),
    "plain": (None, "."),
}
NBSP = "\u00a0"


def java_decimal_format(amount: Decimal) -> str:
    """``new DecimalFormat("#,##0.00", new DecimalFormatSymbols(Locale.ENGLISH))`` of a
    BigDecimal of scale 2: minus sign ``-``, grouping ``,`` every three digits, ``.``, two
    decimals (rounding HALF_EVEN, the DecimalFormat default; the scale is 2 already)."""
    q = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    sign = "-" if q < 0 else ""  # a BigDecimal has no negative zero
    units, cents = divmod(abs(int(q.scaleb(2))), 100)
    digits = str(units)
    groups = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    return f"{sign}{','.join(groups)}.{cents:02d}"


def java_price(amount: Decimal | None, currency: str | None, fmt: str) -> str:
    """``PriceFormat.fullFormat(price)`` for an installation with PriceAmountFormat ``fmt``."""
    if amount is None:
        return ""
    code = currency if currency is not None else "CHF"
    scaled = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)  # PriceFormat.format
    grouping, decimal = JAVA_FORMATS[fmt]
    if grouping is None:  # older versions: BigDecimal of scale 2, no grouping
        text = f"{scaled:f}" if scaled != 0 else "0.00"
    else:
        text = (java_decimal_format(scaled).replace(",", "G").replace(".", "D")
                .replace("G", grouping).replace("D", decimal))
    return code + NBSP + text


def test_the_port_writes_what_the_java_writes():
    assert java_price(Decimal("1234567.89"), "CHF", "apostrophePoint") == "CHF\u00a01'234'567.89"
    assert java_price(Decimal("1234567.89"), "EUR", "pointComma") == "EUR\u00a01.234.567,89"
    assert java_price(Decimal("1234567.89"), None, "commaPoint") == "CHF\u00a01,234,567.89"
    assert java_price(Decimal("1234567.89"), "CHF", "spaceComma") == "CHF\u00a01 234 567,89"
    assert java_price(Decimal("454800"), "JPY", "apostrophePoint") == "JPY\u00a0454'800.00"
    assert java_price(Decimal("0.125"), "CHF", "spacePoint") == "CHF\u00a00.12"  # half even
    assert java_price(Decimal("0.135"), "CHF", "spacePoint") == "CHF\u00a00.14"
    assert java_price(Decimal("-1234.5"), "CHF", "pointComma") == "CHF\u00a0-1.234,50"
    assert java_price(Decimal("-0.001"), "CHF", "commaPoint") == "CHF\u00a00.00"
    assert java_price(Decimal("999.995"), "CHF", "apostrophePoint") == "CHF\u00a01'000.00"
    assert java_price(Decimal("1250"), "CHF", "plain") == "CHF\u00a01250.00"
    assert java_price(None, "CHF", "pointComma") == ""


# --- formatting then parsing gives the amount back ---------------------------------------------

CURRENCIES = st.sampled_from(["CHF", "EUR", "USD", "JPY", "BHD", "GBP"])
AMOUNTS = st.one_of(
    st.just(Decimal(0)),
    st.decimals(min_value=0, max_value=999, places=2),
    st.decimals(min_value=1000, max_value=999_999, places=2),
    st.decimals(min_value=1_000_000, max_value=10**13, places=2),
    st.decimals(min_value=-10**7, max_value=10**7, places=4),  # rounded half even by Java
    st.integers(min_value=0, max_value=10**12).map(Decimal),  # JPY-like whole amounts
)


def expected_minor(amount: Decimal, currency: str) -> int | None:
    """What the price is in minor units, from the amount Java wrote (two decimals), or None
    when the currency has fewer decimals than a non-zero cent part needs."""
    written = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    minor = written.scaleb(EXPONENTS[currency])
    return int(minor) if minor == minor.to_integral_value() else None


def read_one(text: str, price_format: str) -> tuple[int | None, str | None, str | None]:
    out = parse_money(pd.Series([text], dtype="str"), price_format).iloc[0]
    minor = None if pd.isna(out["minor"]) else int(out["minor"])
    reason = None if pd.isna(out["reason"]) else out["reason"]
    detail = None if pd.isna(out["detail"]) else out["detail"]
    return minor, reason, detail


@SETTINGS_H
@given(st.sampled_from(list(JAVA_FORMATS)), AMOUNTS, CURRENCIES,
       st.sampled_from([True, False]))
def test_every_format_reads_back_the_exact_amount(fmt, amount, currency, fixed):
    text = java_price(amount, currency, fmt)
    minor, reason, detail = read_one(text, fmt if fixed else amounts.DETECT)
    want = expected_minor(amount, currency)
    if want is None:  # JPY 454'800.50: never rounded to a yen
        assert (minor, reason, detail) == (None, "TOO_MANY_DECIMALS", currency)
    else:
        assert (minor, reason) == (want, None)


@SETTINGS_H
@given(st.sampled_from(list(JAVA_FORMATS)), st.sampled_from(list(JAVA_FORMATS)), AMOUNTS,
       CURRENCIES)
def test_an_amount_in_another_format_is_rejected_or_read_the_same(written, read, amount,
                                                                     currency):
    text = java_price(amount, currency, written)
    minor, reason, detail = read_one(text, read)
    if reason is None:
        assert minor == expected_minor(amount, currency)
    else:
        assert minor is None
        if reason == "BAD_AMOUNT":
            assert detail == amounts.example(read, currency)


@SETTINGS_H
@given(st.lists(st.tuples(st.sampled_from(list(JAVA_FORMATS)), AMOUNTS, CURRENCIES),
                min_size=1, max_size=12))
def test_a_file_of_mixed_formats_reads_no_amount_as_another(cells):
    texts = pd.Series([java_price(a, c, f) for f, a, c in cells], dtype="str")
    out = parse_money(texts)
    for (f, a, c), (_, row) in zip(cells, out.iterrows()):
        if pd.isna(row["reason"]):
            assert int(row["minor"]) == expected_minor(a, c)


# --- one format per file -----------------------------------------------------------------------

def frame(prices, fees=None, statuses=None, source="export.csv") -> pd.DataFrame:
    n = len(prices)
    return pd.DataFrame({
        "booking_number": [str(100 + i) for i in range(n)],
        "booking_status": statuses or ["PAYED"] * n,
        "order_date": ["2026-05-12"] * n,
        "price": prices,
        "cancellation_fee": fees or [""] * n,
        "billing_address_id": ["BA-1"] * n,
        "source": [source] * n,
        "source_row": pd.Series(range(2, n + 2), dtype="int64"),
    })


def rejected(problems) -> list[tuple]:
    return [(int(r.source_row), r.column, r.reason, r.detail) for r in problems.itertuples()]


def test_mixed_formats_reject_the_rows_that_do_not_fit_with_the_files_example():
    raw = frame([f"CHF{NBSP}1'250.00", f"CHF{NBSP}12.50", f"CHF{NBSP}3'000.00",
                 f"CHF{NBSP}1.250,00", f"EUR{NBSP}1,250.00"])
    good, problems = parse_booking_orders(raw)
    assert good["price"].tolist() == [125000, 1250, 300000]
    assert rejected(problems) == [(5, "price", "BAD_AMOUNT", "CHF 1'250.00"),
                                  (6, "price", "BAD_AMOUNT", "EUR 1'250.00")]
    r = problems.iloc[0]
    assert Reason[r["reason"]].text("de", r["detail"]) == \
        "kein gültiger Betrag (erwartet z. B. «CHF 1'250.00»)"
    assert Reason[r["reason"]].text("en", r["detail"]) == \
        "not a valid amount (expected e.g. 'CHF 1'250.00')"


def test_price_and_fee_share_the_files_format():
    raw = frame([f"CHF{NBSP}1.250,00", f"CHF{NBSP}2.500,00", f"CHF{NBSP}100,00"],
                fees=["", f"CHF{NBSP}250,00", f"CHF{NBSP}12.50"],
                statuses=["PAYED", "CANCELED", "CANCELED"])
    good, problems = parse_booking_orders(raw)
    assert good["cancellation_fee"].tolist()[:2] == [pd.NA, 25000]
    assert rejected(problems) == [(4, "cancellation_fee", "BAD_AMOUNT", "CHF 1.250,00")]


@pytest.mark.parametrize("texts,fmt,minor", [
    (["CHF 12.50", "CHF 99.95"], "apostrophePoint", [1250, 9995]),  # point: any point format
    (["CHF 12,50", "CHF 99,95"], "pointComma", [1250, 9995]),  # comma: any comma format
    (["CHF 1.250,00"], "pointComma", [125000]),  # never 1.25
    (["CHF 1 250,00", "CHF 7,00"], "spaceComma", [125000, 700]),
    (["CHF 1250.00", "CHF 7.00"], "plain", [125000, 700]),
])
def test_which_format_a_file_has(texts, fmt, minor):
    raw = frame(texts)
    good, problems = parse_booking_orders(raw)
    assert problems.empty and good["price"].tolist() == minor
    # the detected format reads the file as the fixed one does
    good_fixed, problems_fixed = parse_booking_orders(raw, fmt)
    assert problems_fixed.empty and good_fixed["price"].tolist() == minor


@pytest.mark.parametrize("text,fmt", [
    ("CHF 1.250", "pointComma"),  # 1250 without decimals, never 1.25
    ("CHF 1,250", "commaPoint"),  # OpenOlat always writes two decimals
    ("CHF 1250.00", "apostrophePoint"),  # a price of 1000 or more is always grouped
    ("CHF 1250,00", "spaceComma"),
    ("CHF 12.50", "pointComma"),
    ("CHF 1'250.00", "plain"),
])
def test_the_company_setting_fixes_the_format(text, fmt):
    good, problems = parse_booking_orders(frame([text, "CHF 500.00", "CHF 500,00"]), fmt)
    assert (2, "price", "BAD_AMOUNT", amounts.example(fmt, "CHF")) in rejected(problems)
    assert 100 not in set(good["booking_number"].astype(int))


@pytest.mark.parametrize("fmt", [amounts.DETECT, *amounts.NAMES])
@pytest.mark.parametrize("others", [[], ["CHF 1.250,00"], ["CHF 12.50", "CHF 1250.00"]])
def test_1_250_is_never_read_as_1_25(fmt, others):
    good, problems = parse_booking_orders(frame(["CHF 1.250", "JPY 1.250", *others]), fmt)
    assert {"100", "101"} <= set(problems["booking_number"])
    assert not {"100", "101"} & set(good["booking_number"])


def test_each_file_of_a_frame_has_its_own_format():
    raw = pd.concat([frame([f"CHF{NBSP}1.250,00", f"CHF{NBSP}1.250"], source="a.csv"),
                     frame([f"CHF{NBSP}1'250.00"], source="b.csv")], ignore_index=True)
    raw["booking_number"] = ["1", "2", "3"]
    good, problems = parse_booking_orders(raw)
    assert good["price"].tolist() == [125000, 125000]
    assert good["source"].tolist() == ["a.csv", "b.csv"]
    assert rejected(problems) == [(3, "price", "BAD_AMOUNT", "CHF 1.250,00")]


def test_a_cancelled_order_bills_its_fee_whatever_its_price_says():
    raw = frame(["CHF 1250,00", "CHF 1250,00", "CHF 1'250.00", "CHF 500.00"],
                fees=["CHF 150.00", "", "CHF 1,5", ""],
                statuses=["Storniert mit Gebühr", "PAYED", "CANCELED", "PAYED"])
    good, problems = parse_booking_orders(raw)
    by_number = good.set_index("booking_number")
    assert int(by_number.loc["100", "cancellation_fee"]) == 15000
    assert pd.isna(by_number.loc["100", "price"])  # unread, and not needed
    assert [(r[0], r[1], r[2]) for r in rejected(problems)] == [
        (3, "price", "BAD_AMOUNT"),  # a paid order is billed on its price
        (4, "cancellation_fee", "BAD_AMOUNT")]  # the fee must be readable


# --- settings, sources, headers ----------------------------------------------------------------

def test_price_format_setting():
    base = {"code": "100", "name": "X", "home_currencies": ["CHF"]}
    assert parse_settings(base).price_format == "detect"
    assert parse_settings({**base, "price_format": "pointComma"}).price_format == "pointComma"
    with pytest.raises(SettingError, match="price_format: expected one of detect, plain"):
        parse_settings({**base, "price_format": "1.234,56"})
    setting = next(s for s in SETTINGS if s.name == "price_format")
    for name in (amounts.DETECT, *amounts.NAMES):
        assert setting.parse("price_format", name) == name


def _company(code, fmt):
    return types.SimpleNamespace(settings=Settings(code, "X", ("CHF",), price_format=fmt))


def test_the_companies_of_a_group_must_agree_on_the_format():
    ex = types.SimpleNamespace(location="/data/orders.csv")
    assert stages.price_format(ex, [_company("1", "pointComma"), _company("2", "pointComma")]) == \
        "pointComma"
    with pytest.raises(ConfigError, match="price_format.*1: pointComma, 2: detect"):
        stages.price_format(ex, [_company("1", "pointComma"), _company("2", "detect")])
    db = types.SimpleNamespace(location="postgresql://billing@db/openolat")
    assert stages.price_format(db, [_company("1", "pointComma")]) == "plain"


HEADER = ["Benutzername", "Institutionsnummer (Matrikelnummer)", "Buchungsnummer",
          "Buchungsstatus", "Angebotstyp", "Auftragsdatum", "Preis", "Stornogebühr",
          "Rechnungsadresse"]
ROWS = [  # booking, status, price, fee
    ("1", "Bezahlt", Decimal("1250"), None),
    ("2", "Storniert mit Gebühr", Decimal("4131.00"), Decimal("826.20")),
    ("3", "Offen", Decimal("1234567.89"), None),
    ("4", "Bezahlt", Decimal("99.5"), None),
]


def export_rows(fmt: str, currency: str = "CHF") -> list[list[str]]:
    return [["anna", f"17-{i:03d}-000", b, s, "Rechnung", "2026-05-12",
             java_price(p, currency, fmt), java_price(f, currency, fmt), "BA-1"]
            for i, (b, s, p, f) in enumerate(ROWS)]


def check(frame_, fmt):
    good, problems = parse_booking_orders(frame_)
    assert problems.empty, problems
    assert good["price"].tolist() == [125000, 413100, 123456789, 9950]
    assert good["cancellation_fee"].tolist()[1] == 82620
    assert good["orderer_institutional_id"].tolist()[0] == "17-000-000"
    return good


@pytest.mark.parametrize("delimiter", [";", ","])  # "1,250.00" is quoted in a comma CSV
@pytest.mark.parametrize("fmt", list(JAVA_FORMATS))
def test_csv_export_in_each_format(tmp_path, fmt, delimiter):
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows([HEADER, *export_rows(fmt)])
    data = buf.getvalue().encode("utf-8-sig")
    path = tmp_path / "orders.csv"
    path.write_bytes(data)
    ex = csv_file.read(str(path))
    check(ex.frame, fmt)
    strict, _ = csv_file.parse_strict(data, "orders.csv")  # both readers give the same text
    pd.testing.assert_frame_equal(strict, ex.frame)


@pytest.mark.parametrize("fmt", list(JAVA_FORMATS))
def test_xlsx_export_in_each_format(tmp_path, fmt):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Buchungsaufträge"
    ws.append(HEADER)
    for row in export_rows(fmt):
        ws.append([v or None for v in row])  # OpenOlat writes text cells; empty: no cell
    path = tmp_path / "Orders.xlsx"
    wb.save(path)
    assert openpyxl.load_workbook(path)["Buchungsaufträge"]["G2"].data_type == "s"
    check(xl.read(str(path)).frame, fmt)


def test_the_exports_institutional_identifier_headers():
    for text in ("Institutionsnummer (Matrikelnummer)",
                 "Institutional identifier (registration number)"):
        assert map_headers([text]).columns == {0: "orderer_institutional_id"}


def test_choose_counts_cells_and_breaks_ties_towards_current_formats():
    masks = amounts.fits(pd.Series(["1'250.00", "1,250.00", "12.50", "1250.00"]))
    assert amounts.choose(masks, np.array([2, 1, 5, 0])) == "apostrophePoint"
    assert amounts.choose(masks, np.array([1, 2, 5, 0])) == "commaPoint"
    assert amounts.choose(masks, np.array([0, 0, 5, 0])) == "apostrophePoint"  # a tie
    assert amounts.choose(masks, np.array([1, 0, 5, 2])) == "plain"
    assert amounts.choose(masks[:0], np.array([], dtype=np.int64)) is None
