"""Bad booking-order input: a clear message naming file (and line) for a file that cannot be
read, and for a bad row a line on the Rejected sheet with file, row, column and value — with
the reconciliation balanced and nothing half-written in the outbox (DESIGN.md §9.1, §9.5).

Small CSVs are built from the sample's header and rows with the csv module; prices keep the
sample's no-break space (``CHF\\u00a01250.00``).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import pytest

from conftest import SAMPLE, SAMPLE_ORDERS
from flows.sources.base import SourceError
from schemas.problems import Reason
from schemas.workbook import INVOICES, LINES, RECONCILIATION, REJECTED, SHEETS
from transforms.reconcile import label

LANG = "de"

from transforms.reconcile import column_label  # noqa: E402


# --- helpers ---------------------------------------------------------------------------------

def sample(path: Path = SAMPLE_ORDERS, delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    return rows[0], rows[1:]


HEADER, BODY = sample()


def ix(name: str, header: list[str] = HEADER) -> int:
    return header.index(name)


def row_of(booking: str) -> list[str]:
    """A copy of the sample row with this booking number."""
    return list(next(r for r in BODY if r[ix("Buchungsnummer")] == booking))


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER,
              delimiter: str = ",") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows([header, *rows])
    return path


def sheet_rows(wb, sheet) -> list[dict]:
    out = []
    base = sheet.name(LANG)
    names = [base] + [n for n in wb.sheetnames if n.startswith(base + " (")]
    for name in names:
        rows = list(wb[name].iter_rows(values_only=True))
        assert list(rows[0]) == [c.header(LANG) for c in sheet.cols]
        out += [dict(zip(sheet.ids, r)) for r in rows[1:]]
    return out


def counts(wb) -> dict[str, int]:
    rec = {(r["section"], r["metric"]): r["value"] for r in sheet_rows(wb, RECONCILIATION)}
    sec = label("counts", LANG)
    return {k: int(rec[(sec, label(k, LANG))])
            for k in ("rows_read", "billed", "rejected", "not_billable", "already_billed")}


def assert_balanced(result, rows_in_file: int) -> openpyxl.Workbook:
    """The workbook opens, every input row is in exactly one bucket and the counts add up."""
    wb = openpyxl.load_workbook(result.delivery.workbook)
    assert wb.sheetnames == [s.name(LANG) for s in SHEETS]
    n = counts(wb)
    assert n["rows_read"] == rows_in_file == result.rows_read
    assert n["rows_read"] == n["billed"] + n["rejected"] + n["not_billable"] + n["already_billed"]
    billed = {(r["source"], r["source_row"]) for r in sheet_rows(wb, LINES)}
    unbilled = {(r["source"], r["source_row"]) for r in sheet_rows(wb, REJECTED)}
    assert not billed & unbilled
    assert len(billed) == n["billed"]
    assert len(billed | unbilled) == rows_in_file
    assert not list(result.delivery.workbook.parent.glob("*.part"))
    assert not list(result.delivery.workbook.parent.glob(".*.part"))
    return wb


def rejected_by_row(wb) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in sheet_rows(wb, REJECTED):
        out.setdefault(r["source_row"], []).append(r)
    return out


def problem_text(reason: Reason, detail: str = "") -> str:
    return reason.text(LANG, detail)


def assert_outbox_untouched(outbox: Path) -> None:
    assert not outbox.exists() or not any(outbox.iterdir())


# --- the file as a whole -----------------------------------------------------------------------

def test_missing_required_column_is_named_in_german_and_english(run, tmp_path):
    drop = ix("Buchungsnummer")
    rows = [[c for j, c in enumerate(r) if j != drop] for r in BODY[:5]]
    header = [h for j, h in enumerate(HEADER) if j != drop]
    src = write_csv(tmp_path / "ohne_nummer.csv", rows, header)
    with pytest.raises(SourceError) as err:
        run(source=src)
    assert err.value.source == "ohne_nummer.csv" and err.value.row == 1
    assert "Buchungsnummer" in str(err.value) and "Booking number" in str(err.value)
    assert str(err.value).startswith("ohne_nummer.csv:1:")
    assert_outbox_untouched(tmp_path / "outbox")


def test_missing_column_in_an_english_export(run, tmp_path):
    header, body = sample(SAMPLE / "booking_orders_en.csv", delimiter=";")
    drop = header.index("Price")
    src = write_csv(tmp_path / "no_price.csv",
                    [[c for j, c in enumerate(r) if j != drop] for r in body],
                    [h for j, h in enumerate(header) if j != drop], delimiter=";")
    with pytest.raises(SourceError, match=r"no_price\.csv:1: .*Preis / Price"):
        run(source=src)


def test_tab_separated_file_is_refused_with_a_clear_message(run, tmp_path):
    src = write_csv(tmp_path / "tabs.csv", BODY[:3], delimiter="\t")
    with pytest.raises(SourceError, match=r"tabs\.csv:1: tab-separated") as err:
        run(source=src)
    assert err.value.row == 1
    assert_outbox_untouched(tmp_path / "outbox")


def test_not_utf8_names_the_line(run, tmp_path):
    good = "".join(",".join(r) + "\n" for r in [HEADER, *BODY[:2]]).encode("utf-8")
    bad_row = list(BODY[2])
    bad_row[ix("Ort")] = "Zürich"
    # as a Windows editor would save it; characters latin-1 lacks (–) become "?"
    bad = (",".join(bad_row) + "\n").encode("latin-1", errors="replace")
    assert "Zürich".encode("latin-1") in bad
    src = tmp_path / "latin1.csv"
    src.write_bytes(good + bad)
    with pytest.raises(SourceError) as err:
        run(source=src)
    assert err.value.row == 4  # header is line 1, the latin-1 row is the third data row
    assert "latin1.csv:4:" in str(err.value) and "UTF-8" in str(err.value)
    assert_outbox_untouched(tmp_path / "outbox")


def test_excel_or_zip_bytes_given_as_csv(run, tmp_path):
    produced = run(outbox=tmp_path / "made")  # a real .xlsx (a zip) to feed back in
    src = tmp_path / "export.csv"
    shutil.copy(produced.delivery.workbook, src)
    with pytest.raises(SourceError, match=r"export\.csv: .*(Excel|zip)"):
        run(source=src)
    assert_outbox_untouched(tmp_path / "outbox")


def test_an_xlsx_that_is_not_a_booking_order_export(run, tmp_path):
    produced = run(outbox=tmp_path / "made")  # our own workbook: no booking-order headers
    src = tmp_path / "not_an_export.xlsx"
    shutil.copy(produced.delivery.workbook, src)
    with pytest.raises(SourceError, match=r"not_an_export\.xlsx"):
        run(source=src)
    assert_outbox_untouched(tmp_path / "outbox")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_empty_file(run, tmp_path, content):
    src = tmp_path / "leer.csv"
    src.write_bytes(content)
    with pytest.raises(SourceError, match=r"leer\.csv: the file is empty"):
        run(source=src)
    assert_outbox_untouched(tmp_path / "outbox")


def test_non_existent_file(run, tmp_path):
    with pytest.raises(SourceError, match=r"nope\.csv: no such file"):
        run(source=tmp_path / "nope.csv")
    with pytest.raises(SourceError, match="is a folder"):
        run(source=tmp_path)
    assert_outbox_untouched(tmp_path / "outbox")


def test_broken_quote_names_the_line(run, tmp_path):
    lines = [",".join(r) for r in [HEADER, *BODY[:3]]]
    lines[2] = lines[2].replace(",Rechnung,", ',"Rechnung"x,', 1)  # data row 2 = line 3
    src = tmp_path / "quote.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"quote\.csv:3: not readable as CSV") as err:
        run(source=src)
    assert err.value.row == 3


def test_more_cells_than_headers_names_the_row(run, tmp_path):
    rows = [list(r) for r in BODY[:4]]
    rows[2] = rows[2] + ["surplus"]
    src = write_csv(tmp_path / "wide.csv", rows)
    with pytest.raises(SourceError, match=r"wide\.csv:4: more cells than headers"):
        run(source=src)


def test_header_only_file_gives_an_empty_but_valid_workbook(run, tmp_path):
    src = write_csv(tmp_path / "nur_kopf.csv", [])
    result = run(source=src)
    wb = assert_balanced(result, 0)
    assert sheet_rows(wb, INVOICES) == [] and sheet_rows(wb, LINES) == []
    assert result.rendered.manifest["invoices"] == 0


def test_file_with_nothing_billable_gives_an_empty_but_valid_workbook(run, tmp_path):
    cancelled = [list(r) for r in BODY if r[ix("Buchungsstatus")] == "Storniert"][:2]
    src = write_csv(tmp_path / "storniert.csv", cancelled)
    result = run(source=src)
    wb = assert_balanced(result, 2)
    assert counts(wb)["not_billable"] == 2


# --- bad rows ------------------------------------------------------------------------------

def test_bad_rows_are_rejected_with_file_row_column_and_value(run, tmp_path):
    rows = [row_of(b) for b in ("187530", "187557", "187577", "187586", "187619", "187656",
                                "187686", "187691", "188243")]
    price, date = ix("Preis"), ix("Auftragsdatum")
    rows[0][price] = "XYZ\u00a0100.00"                  # unknown currency
    rows[1][date] = "31.02.2026"                        # no such day
    rows[2][ix("Stornogebühr")] = "CHF\u00a0zwölf"      # not an amount (a cancelled order's fee)
    rows[3][ix("Buchungsnummer")] = rows[4][ix("Buchungsnummer")]  # duplicate booking number
    rows[5][ix("Land")] = "Frankreich"                  # no tax rule for France
    rows[6][ix("Durchführung von")] = "bald"            # unparseable service date
    rows[7][price] = "CHF\u00a012.345"                  # too many decimals for CHF
    src = write_csv(tmp_path / "zeilen.csv", rows)

    result = run(source=src)
    wb = assert_balanced(result, len(rows))
    rej = rejected_by_row(wb)
    expected = {
        2: ("price", "XYZ\u00a0100.00", problem_text(Reason.UNKNOWN_CURRENCY)),
        3: ("order_date", "31.02.2026", problem_text(Reason.BAD_DATE)),
        4: ("cancellation_fee", "CHF\u00a0zwölf", problem_text(Reason.BAD_AMOUNT, "CHF 1250.00")),
        5: ("booking_number", "187619", problem_text(Reason.DUPLICATE_BOOKING, "5, 6")),
        6: ("booking_number", "187619", problem_text(Reason.DUPLICATE_BOOKING, "5, 6")),
        7: ("cost_center", None, problem_text(Reason.NO_TAX_RULE)),
        8: ("service_begin", "bald", problem_text(Reason.BAD_DATE)),
        9: ("price", "CHF\u00a012.345", problem_text(Reason.TOO_MANY_DECIMALS, "CHF")),
    }
    assert set(rej) == set(expected)
    for row, (column, value, text) in expected.items():
        (r,) = rej[row]
        assert r["source"] == "zeilen.csv"
        assert r["booking_number"] == rows[row - 2][ix("Buchungsnummer")]
        assert r["column"] == column_label(column, LANG) and r["problem"] == text, row
        if value is not None:
            assert r["value"] == value, row
    assert "Frankreich" in rej[7][0]["value"]
    # the two good rows (CHF and JPY) are billed
    assert {r["source_row"] for r in sheet_rows(wb, LINES)} == {10}  # 188243 JPY
    assert counts(wb)["rejected"] == 8


def test_hyperlink_name_is_billed_and_kept_as_text(run, tmp_path):
    row = row_of("191224")
    assert row[ix("Name / Firma")].startswith("=HYPERLINK(")
    src = write_csv(tmp_path / "link.csv", [row, row_of("187530")])
    result = run(source=src)
    wb = assert_balanced(result, 2)
    assert counts(wb)["billed"] == 2
    ws = wb[INVOICES.name(LANG)]
    name_col = INVOICES.ids.index("invoice_to_name") + 1
    names = {ws.cell(r, name_col).value: ws.cell(r, name_col).data_type
             for r in range(2, ws.max_row + 1)}
    assert names[row[ix("Name / Firma")]] == "s"


def test_cancelled_and_credit_card_rows_are_not_billable_with_their_reason(run, tmp_path):
    rows = [list(r) for r in BODY if r[ix("Buchungsstatus")] == "Storniert"][:1]
    rows += [list(r) for r in BODY if r[ix("Angebotstyp")] != "Rechnung"][:1]
    rows += [row_of("187530")]
    src = write_csv(tmp_path / "nb.csv", rows)
    result = run(source=src)
    wb = assert_balanced(result, 3)
    n = counts(wb)
    assert (n["billed"], n["not_billable"], n["rejected"]) == (1, 2, 0)
    rej = rejected_by_row(wb)
    assert rej[2][0]["problem"] == problem_text(Reason.CANCELED_NO_FEE)
    assert rej[3][0]["problem"] == problem_text(Reason.NOT_INVOICE_METHOD)
    assert rej[3][0]["value"] == rows[1][ix("Angebotstyp")]


def test_missing_exchange_rate_rejects_those_invoices_never_rate_1(run, tmp_path):
    from flows.config import load_config
    cfg_dir = tmp_path / "config"
    shutil.copytree(SAMPLE, cfg_dir, ignore=shutil.ignore_patterns("booking_orders*", "*.py"))
    rates = cfg_dir / "exchange_rates.csv"
    kept = [ln for ln in rates.read_text(encoding="utf-8").splitlines(keepends=True)
            if not ln.startswith("ECB,USD,")]
    rates.write_text("".join(kept), encoding="utf-8")
    config = load_config(cfg_dir)

    usd = [list(r) for r in BODY if r[ix("Preis")].startswith("USD")
           and r[ix("Buchungsstatus")] in ("Bezahlt", "Offen", "Neu")]
    chf = [row_of("187530"), row_of("187691")]
    assert len(usd) >= 2
    src = write_csv(tmp_path / "usd.csv", chf + usd)
    result = run(source=src, config=config)
    wb = assert_balanced(result, len(chf) + len(usd))
    rej = rejected_by_row(wb)
    usd_rows = set(range(2 + len(chf), 2 + len(chf) + len(usd)))
    assert set(rej) == usd_rows
    for row in usd_rows:
        (r,) = rej[row]
        assert r["source"] == "usd.csv" and r["column"] == "Preis"
        assert r["problem"].startswith("kein Wechselkurs USD→CHF")
        assert r["value"] == "2026-10-30"
    invoices = sheet_rows(wb, INVOICES)
    assert {i["currency"] for i in invoices} == {"CHF"}
    # the CHF invoices still convert into USD (home currency 3) with a real rate
    assert all(i["home_currency_3"] == "USD" and i["exchange_rate_3"] not in (None, 1)
               for i in invoices)
    assert counts(wb)["rejected"] == len(usd)


def test_the_sample_itself_balances(run):
    result = run()
    assert_balanced(result, len(BODY))


def test_cancelled_order_is_billed_on_its_fee_when_its_price_is_unreadable(run, tmp_path):
    """A pointComma export (test_price_formats.java_price writes it as OpenOlat does) in
    which a cancelled order's price and a paid order's price cannot be read: the cancelled
    order bills its fee and is not rejected; the paid one is rejected on its price."""
    from decimal import Decimal

    from test_price_formats import java_price

    def point_comma(text: str) -> str:
        if not text:
            return text
        currency, amount = text.split("\u00a0")
        return java_price(Decimal(amount), currency, "pointComma")

    rows = [row_of(b) for b in ("187577", "187530", "188123", "188048")]
    for r in rows:
        r[ix("Preis")], r[ix("Stornogebühr")] = (point_comma(r[ix("Preis")]),
                                                 point_comma(r[ix("Stornogebühr")]))
    assert rows[3][ix("Preis")] == "EUR\u00a04.131,00"
    rows[0][ix("Preis")] = "CHF\u00a0432"  # unreadable: no decimals; cancelled with a fee
    rows[1][ix("Preis")] = "CHF\u00a0432"  # the same on an order that bills its price
    src = write_csv(tmp_path / "storno.csv", rows)

    wb = assert_balanced(run(source=src), len(rows))
    lines = {r["source_row"]: r for r in sheet_rows(wb, LINES)}
    assert set(lines) == {2, 4, 5}
    assert (lines[2]["charge_type"], Decimal(str(lines[2]["net_amount"]))) == \
        ("Stornogebühr", Decimal("86.40"))
    assert Decimal(str(lines[5]["net_amount"])) == Decimal("826.20")  # EUR 826,20, net
    rej = rejected_by_row(wb)
    assert set(rej) == {3}
    assert rej[3][0]["problem"] == problem_text(Reason.BAD_AMOUNT, "CHF 1.250,00")


def test_price_format_setting_fixes_the_format_of_the_export(run, tmp_path, sample_config):
    """price_format = "pointComma": an export in that format is billed as the detected one
    is; the same export read as apostrophePoint bills nothing and names the expected form."""
    import dataclasses
    from decimal import Decimal

    from test_price_formats import java_price

    rows = [row_of(b) for b in ("187530", "188123", "188048")]
    for r in rows:
        for c in (ix("Preis"), ix("Stornogebühr")):
            if r[c]:
                currency, amount = r[c].split("\u00a0")
                r[c] = java_price(Decimal(amount), currency, "pointComma")
    src = write_csv(tmp_path / "komma.csv", rows)

    def config(fmt):
        return dataclasses.replace(sample_config, settings=dataclasses.replace(
            sample_config.settings, price_format=fmt))

    detected = counts(assert_balanced(run(source=src, outbox=tmp_path / "a"), 3))
    fixed = counts(assert_balanced(run(source=src, config=config("pointComma"),
                                       outbox=tmp_path / "b"), 3))
    assert fixed == detected and fixed["billed"] == 3
    wb = assert_balanced(run(source=src, config=config("apostrophePoint"),
                             outbox=tmp_path / "c"), 3)
    assert counts(wb)["rejected"] == 3
    problems = {r["problem"] for r in sheet_rows(wb, REJECTED)}
    assert problems == {problem_text(Reason.BAD_AMOUNT, "CHF 1'250.00"),
                        problem_text(Reason.BAD_AMOUNT, "EUR 1'250.00")}
