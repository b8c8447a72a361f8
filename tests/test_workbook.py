"""The delivered workbook, read back with openpyxl as the accountant's Excel would see it.

Every figure is taken from the cells (never from the frames the job kept), converted to an
exact Decimal through the cell value's text, and checked against DESIGN.md §6 and §9.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import zipfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils.escape import unescape

from conftest import INVOICE_DATE, SAMPLE_ORDERS
from flows.workbook import CUT_MARKER
from schemas.columns import AMOUNT, DATE, INT, PERCENT, RATE, TEXT, VARIANT
from schemas.workbook import INVOICES, LINES, RECONCILIATION, REJECTED, SHEETS, TAXES
from transforms import minor_units
from transforms.reconcile import label

HOME = (1, 2, 3)


# --- reading the workbook back ----------------------------------------------------------------

def sample_rows(path: Path = SAMPLE_ORDERS) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], body: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *body])
    return path


def col(header: list[str], name: str) -> int:
    """Index of a header in the sample (the two "Kennzeichen" columns are not asked for)."""
    return header.index(name)


def parts(wb, sheet, lang) -> list:
    """The worksheet of ``sheet`` and its continuations "Name (2)", "Name (3)", … in order."""
    base = sheet.name(lang)
    found = [wb[base]]
    k = 2
    while f"{base} ({k})" in wb.sheetnames:
        found.append(wb[f"{base} ({k})"])
        k += 1
    return found


def cells(wb, sheet, lang) -> list[dict]:
    """Data rows of a sheet (all parts) as {column id: openpyxl cell}."""
    out = []
    ids = sheet.ids
    for ws in parts(wb, sheet, lang):
        rows = list(ws.iter_rows())
        assert [c.value for c in rows[0]] == [c.header(lang) for c in sheet.cols], ws.title
        for row in rows[1:]:
            assert len(row) == len(ids)
            out.append(dict(zip(ids, row)))
    return out


def values(wb, sheet, lang) -> list[dict]:
    return [{k: c.value for k, c in r.items()} for r in cells(wb, sheet, lang)]


def dec(v) -> Decimal | None:
    """A cell's number as an exact Decimal via its text (no float arithmetic)."""
    if v is None:
        return None
    assert isinstance(v, (int, float)) and not isinstance(v, bool), v
    return Decimal(str(v))


def recon(wb, lang) -> dict[tuple[str, str, str | None], str]:
    return {(r["section"], r["metric"], r["currency"]): r["value"]
            for r in values(wb, RECONCILIATION, lang)}


def counts(wb, lang) -> dict[str, int]:
    rec = recon(wb, lang)
    section = label("counts", lang)
    return {key: int(rec[(section, label(key, lang), None)])
            for key in ("rows_read", "billed", "rejected", "not_billable", "already_billed")}


def open_wb(result):
    return openpyxl.load_workbook(result.delivery.workbook)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, sample_config):
    """One German run of the sample, shared by the read-only checks of this module."""
    from flows import pipeline
    folder = tmp_path_factory.mktemp("sample_run")
    done = pipeline.run(pipeline.Request(source=str(SAMPLE_ORDERS), config=sample_config,
                                         outbox=folder / "outbox", invoice_date=INVOICE_DATE,
                                         state=str(folder / "state.sqlite")))
    done.store.engine.dispose()
    result = done.result
    return result, openpyxl.load_workbook(result.delivery.workbook)


# --- sheets and headers ----------------------------------------------------------------------

@pytest.mark.parametrize("lang, names", [
    ("de", ["Rechnungen", "Positionen", "Steuern", "Abstimmung", "Abgelehnt"]),
    ("en", ["Invoices", "Lines", "Taxes", "Reconciliation", "Rejected"]),
])
def test_sheet_names_and_headers_follow_the_language(run, lang, names):
    result = run(language=lang)
    wb = open_wb(result)
    assert wb.sheetnames == names
    for sheet in SHEETS:
        ws = wb[sheet.name(lang)]
        header = [c.value for c in next(ws.iter_rows(max_row=1))]
        assert header == [c.header(lang) for c in sheet.cols]
        assert all(c.data_type == "s" for c in next(ws.iter_rows(max_row=1)))
    # the problem texts follow the language too
    problems = {r["source_row"]: r["problem"] for r in values(wb, REJECTED, lang)}
    expected = "not a valid amount" if lang == "en" else "kein gültiger Betrag"
    assert problems[153].startswith(expected)


def test_german_is_the_default_language(sample_run):
    _, wb = sample_run
    assert wb.sheetnames[0] == "Rechnungen"
    assert wb["Rechnungen"]["B1"].value == "Rechnungsnummer"


# --- every invoice adds up (DESIGN.md §9.2) ----------------------------------------------------

def test_every_invoice_adds_up_from_the_cells(sample_run):
    result, wb = sample_run
    invoices = values(wb, INVOICES, "de")
    lines = values(wb, LINES, "de")
    taxes = values(wb, TAXES, "de")
    assert len(invoices) == len(result.billing.invoices) > 10
    by_inv = defaultdict(list)
    for ln in lines:
        by_inv[ln["invoice_number"]].append(ln)
    tax_by_inv = defaultdict(list)
    for t in taxes:
        tax_by_inv[t["invoice_number"]].append(t)
    assert set(by_inv) == set(tax_by_inv) == {i["invoice_number"] for i in invoices}

    rounding_seen = diff_seen = 0
    for inv in invoices:
        no = inv["invoice_number"]
        ls, ts = by_inv[no], tax_by_inv[no]
        net, tax = dec(inv["net_amount"]), dec(inv["tax_amount"])
        cash, amount = dec(inv["cash_rounding_amount"]), dec(inv["invoice_amount"])
        assert inv["line_count"] == len(ls)
        assert sorted(ln["line_number"] for ln in ls) == list(range(1, len(ls) + 1))
        assert all(ln["currency"] == inv["currency"] for ln in ls)
        assert sum(dec(ln["net_amount"]) for ln in ls) == net, no
        assert sum(dec(ln["tax_amount"]) for ln in ls) == tax, no
        assert sum(dec(ln["line_amount"]) for ln in ls) == net + tax, no
        assert sum(dec(t["tax_amount"]) for t in ts) == tax, no
        assert sum(dec(t["tax_base"]) for t in ts) == net, no
        assert net + tax + cash == amount, no
        rounding_seen += cash != 0
        for k in HOME:
            hc = inv[f"home_currency_{k}"]
            assert hc is not None  # the sample company has three home currencies
            net_h = dec(inv[f"net_amount_hc_{k}"])
            tax_h = dec(inv[f"tax_amount_hc_{k}"])
            amount_h = dec(inv[f"invoice_amount_hc_{k}"])
            diff_h = dec(inv[f"rounding_difference_hc_{k}"])
            assert amount_h == net_h + tax_h + diff_h, (no, k)
            assert sum(dec(ln[f"net_amount_hc_{k}"]) for ln in ls) == net_h, (no, k)
            assert all(ln[f"home_currency_{k}"] == hc for ln in ls)
            if hc == inv["currency"]:
                assert (net_h, tax_h, amount_h) == (net, tax, amount)
                assert dec(inv[f"exchange_rate_{k}"]) == 1 and inv[f"rate_factor_{k}"] == 1
            else:
                assert dec(inv[f"exchange_rate_{k}"]) != 1
            diff_seen += diff_h != 0
    # the sample exercises both corrections, so the equations above are not trivially true
    assert rounding_seen and diff_seen


def test_workbook_totals_match_the_reconciliation_sheet(sample_run):
    _, wb = sample_run
    rec = recon(wb, "de")
    totals = label("totals", "de")
    sums = defaultdict(Decimal)
    for inv in values(wb, INVOICES, "de"):
        for m in ("net_amount", "tax_amount", "cash_rounding_amount", "invoice_amount"):
            sums[(m, inv["currency"])] += dec(inv[m])
    assert {cur for _, cur in sums} == {"CHF", "EUR", "JPY", "USD"}
    for (m, cur), total in sums.items():
        assert dec(rec[(totals, label(m, "de"), cur)]) == total, (m, cur)


# --- reconciliation and the Rejected sheet (DESIGN.md §9.1, §9.5) -----------------------------

def test_reconciliation_balances_and_counts_every_csv_row(sample_run):
    result, wb = sample_run
    _, body = sample_rows()
    n = counts(wb, "de")
    assert n["rows_read"] == len(body) == 240
    assert n["rows_read"] == (n["billed"] + n["rejected"] + n["not_billable"]
                              + n["already_billed"])
    assert n["rejected"] == 3  # the three faulty rows of the sample (sample_data/README.md)
    assert recon(wb, "de")[(label("counts", "de"), label("balanced", "de"), None)] == "ja"
    billed = {ln["source_row"] for ln in values(wb, LINES, "de")}
    assert len(billed) == n["billed"]
    unbilled = {r["source_row"] for r in values(wb, REJECTED, "de")}
    assert len(unbilled) == n["rejected"] + n["not_billable"] + n["already_billed"]


def test_every_unbilled_row_is_on_the_rejected_sheet_with_its_source_row(sample_run):
    _, wb = sample_run
    header, body = sample_rows()
    bn = col(header, "Buchungsnummer")
    booking_at = {i + 2: r[bn] for i, r in enumerate(body)}
    billed = {(ln["source"], ln["source_row"]) for ln in values(wb, LINES, "de")}
    rejected = values(wb, REJECTED, "de")
    unbilled = {(r["source"], r["source_row"]) for r in rejected}
    assert not billed & unbilled
    assert billed | unbilled == {("booking_orders.csv", row) for row in booking_at}
    for r in rejected:
        assert r["booking_number"] == booking_at[r["source_row"]]
        assert r["problem"] and r["column"]
    by_row = {r["source_row"]: r for r in rejected}
    price = col(header, "Preis")
    assert by_row[153]["column"] == "Preis" and by_row[153]["value"] == body[151][price]
    assert by_row[180]["column"] == "Kostenstelle" and "Frankreich" in by_row[180]["value"]
    assert by_row[189]["column"] == "Auftragsdatum"


# --- cell kinds, formats, layout ----------------------------------------------------------------

def _decimals(number_format: str) -> int:
    m = re.search(r"0\.(0+)", number_format)
    return len(m.group(1)) if m else 0


def test_amounts_carry_their_currencys_decimals(sample_run):
    _, wb = sample_run
    seen = defaultdict(set)
    for sheet in (INVOICES, LINES, TAXES):
        for row in cells(wb, sheet, "de"):
            for c in sheet.cols:
                cell = row[c.id]
                if c.kind != AMOUNT or cell.value is None:
                    continue
                cur = row[c.currency].value
                exp = minor_units.exponent(cur)
                assert cell.data_type == "n", (sheet.id, c.id)
                assert _decimals(cell.number_format) == exp, (sheet.id, c.id, cur,
                                                              cell.number_format)
                # the value itself has no more decimals than its currency allows
                assert dec(cell.value) == dec(cell.value).quantize(Decimal(1).scaleb(-exp))
                seen[cur].add(_decimals(cell.number_format))
    assert seen == {"CHF": {2}, "EUR": {2}, "USD": {2}, "JPY": {0}}


def test_cell_kinds_dates_numbers_and_text(sample_run):
    _, wb = sample_run
    for sheet in SHEETS:
        for row in cells(wb, sheet, "de"):
            for c in sheet.cols:
                cell = row[c.id]
                if cell.value is None or c.kind == VARIANT:  # VARIANT: the test below
                    continue
                if c.kind == DATE:
                    assert cell.data_type == "d" and cell.is_date, (sheet.id, c.id)
                    assert isinstance(cell.value, dt.datetime)
                elif c.kind in (AMOUNT, INT, PERCENT, RATE):
                    assert cell.data_type == "n", (sheet.id, c.id, cell.value)
                else:
                    assert c.kind == TEXT and cell.data_type == "s", (sheet.id, c.id)
    inv = values(wb, INVOICES, "de")
    assert {r["invoice_date"] for r in inv} == {dt.datetime(2026, 10, 30)}
    assert all(r["due_date"] > r["invoice_date"] for r in inv)


def test_reconciliation_values_are_typed_cells(sample_run):
    """Counts are whole numbers, amounts numbers in their currency's format, dates dates,
    and no value is a number stored as text (what Excel flags and cannot sum)."""
    result, wb = sample_run
    rows = cells(wb, RECONCILIATION, "de")
    by = {(r["section"].value, r["metric"].value, r["currency"].value): r["value"] for r in rows}
    counts_section = label("counts", "de")
    for (section, metric, _), cell in by.items():
        if section == counts_section and metric != label("balanced", "de"):
            assert cell.data_type == "n" and isinstance(cell.value, int), metric
            assert cell.number_format == "0"
        if cell.data_type == "s" and metric != "financial_company":  # a code, text as in the ERP
            assert not re.fullmatch(r"-?[\d.,]+", cell.value), (metric, cell.value)
    totals = [(k, c) for k, c in by.items() if k[0] in (label("totals", "de"),
                                                        label("home_totals", "de")) and k[2]]
    assert {k[2] for k, _ in totals} == {"CHF", "EUR", "JPY", "USD"}
    for (_, metric, cur), cell in totals:
        assert cell.data_type == "n", metric
        assert _decimals(cell.number_format) == minor_units.exponent(cur), (metric, cur)
    params = label("parameters", "de")
    assert by[(params, "invoice_date", None)].is_date
    assert by[(params, "invoice_date", None)].value == dt.datetime(2026, 10, 30)
    assert by[(params, "run", None)].value == result.run_id
    source = label("source", "de")
    assert by[(source, "booking_orders.csv", None)].value.startswith("sha256 ")
    assert by[(source, label("source_rows", "de").format("booking_orders.csv"), None)] \
        .value == 240
    # the frame the artifact and the manifest read keeps each value's exact text
    recon_frame = result.rendered.tables["reconciliation"]
    assert set(recon_frame["value_kind"]) == {"int", "amount", "date", "text"}
    assert all(isinstance(v, str) for v in recon_frame["value"])


def test_every_sheet_prints_landscape_with_header_and_run_in_the_footer(sample_run):
    result, wb = sample_run
    for sheet in SHEETS:
        ws = wb[sheet.name("de")]
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 0
        assert ws.print_title_rows == "$1:$1", ws.title
        assert ws.oddFooter.center.text == f"Lauf {result.run_id}"
        assert ws.oddFooter.right.text == "Seite &P von &N"
    # the sha256 of the source wraps in its cell instead of running onto a page of its own
    rec = wb[RECONCILIATION.name("de")]
    sha = [c for c in rec["D"] if isinstance(c.value, str) and c.value.startswith("sha256 ")]
    assert sha and all(c.alignment.wrap_text for c in sha)


def test_header_row_frozen_and_autofilter_over_all_columns(sample_run):
    _, wb = sample_run
    for sheet in SHEETS:
        ws = wb[sheet.name("de")]
        assert ws.freeze_panes == "A2", ws.title
        last = openpyxl.utils.get_column_letter(len(sheet.cols))
        assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}", ws.title
        widths = [ws.column_dimensions[openpyxl.utils.get_column_letter(j + 1)].width
                  for j in range(len(sheet.cols))]
        assert all(w and w > 5 for w in widths), ws.title


def _no_formulas(path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name), name
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            assert all(c.data_type != "f" for c in row), ws.title


def test_hyperlink_name_and_phone_comment_stay_text(sample_run):
    result, wb = sample_run
    lines = values(wb, LINES, "de")
    inv_no = {ln["booking_number"]: ln["invoice_number"] for ln in lines}
    assert "191224" in inv_no and "191060" in inv_no  # both rows are billed
    inv = {r["invoice_number"].value: r for r in cells(wb, INVOICES, "de")}
    name = inv[inv_no["191224"]]["invoice_to_name"]
    assert name.value == '=HYPERLINK("http://example.invalid","klick")'
    assert name.data_type == "s"
    _no_formulas(result.delivery.workbook)


def test_formula_like_texts_in_written_columns_stay_text(run, tmp_path):
    """The sample's "+41 44 …" is an order comment, which no sheet shows; put such texts into
    columns that are written (address, addition, PO number, orderer) and read them back."""
    header, body = sample_rows()
    row = list(body[6])  # booking 187530, a billable CHF order
    texts = {"Adresszeile 2": "+41 44 555 12 34", "Zusatz / Abteilung": "-Einkauf-",
             "PO Nummer": "@SUM(A1:A9)", "Vorname": "=1+1", "Ort": "=cmd|' /C calc'!A0"}
    for h, v in texts.items():
        row[col(header, h)] = v
    src = write_csv(tmp_path / "formulas.csv", header, [row])
    result = run(source=src)
    wb = open_wb(result)
    inv = cells(wb, INVOICES, "de")[0]
    for cid, v in (("address_line_2", "+41 44 555 12 34"), ("invoice_to_addition", "-Einkauf-"),
                   ("po_number", "@SUM(A1:A9)"), ("city", "=cmd|' /C calc'!A0")):
        assert inv[cid].value == v and inv[cid].data_type == "s", cid
    line = cells(wb, LINES, "de")[0]
    assert line["orderer_name"].value.startswith("=1+1")
    assert line["orderer_name"].data_type == "s"
    _no_formulas(result.delivery.workbook)


def test_control_characters_stay_text_and_the_workbook_opens(run, tmp_path):
    header, body = sample_rows()
    row = list(body[6])
    name = "Müller\x07Druck\x01AG\x1b"
    row[col(header, "Name / Firma")] = name
    row[col(header, "Vorname")] = "\x02Anna"
    src = write_csv(tmp_path / "control.csv", header, [row])
    result = run(source=src)
    wb = open_wb(result)  # parses every sheet's XML
    cell = cells(wb, INVOICES, "de")[0]["invoice_to_name"]
    assert cell.data_type == "s"
    # XML cannot hold these characters; they are escaped as _xHHHH_, which Excel shows back
    assert unescape(cell.value) == name
    orderer = cells(wb, LINES, "de")[0]["orderer_name"]
    assert orderer.data_type == "s" and unescape(orderer.value).startswith("\x02Anna")
    assert counts(wb, "de")["billed"] == 1


# --- determinism (DESIGN.md §9.4) ----------------------------------------------------------------

def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_inputs_give_byte_identical_workbooks(run, tmp_path):
    a = run(outbox=tmp_path / "a")
    b = run(outbox=tmp_path / "b")
    assert a.delivery.workbook.name == b.delivery.workbook.name
    assert a.delivery.workbook.parent != b.delivery.workbook.parent
    assert _sha(a.delivery.workbook) == _sha(b.delivery.workbook) == a.delivery.sha256
    assert a.delivery.manifest.read_bytes() == b.delivery.manifest.read_bytes()
    # and the bytes depend on the inputs: another language is another workbook
    c = run(outbox=tmp_path / "c", language="en")
    assert _sha(c.delivery.workbook) != a.delivery.sha256


# --- tax period and rate, deferrals ---------------------------------------------------------

def test_sample_invoices_are_in_the_invoices_tax_period_lines_keep_their_rate(sample_run,
                                                                              sample_config):
    """Agreed consideration (MWSTG art. 40): an invoice of 30.10.2026 is in tax period 2026/4
    whenever its courses run; each line keeps the rate of its service begin."""
    _, wb = sample_run
    invoices = values(wb, INVOICES, "de")
    assert len(invoices) == 51
    assert {(r["tax_date"].date(), r["tax_year"], r["tax_period"]) for r in invoices} == \
        {(INVOICE_DATE, 2026, 4)}
    codes = sample_config.tables["tax_codes"]
    for r in values(wb, LINES, "de"):
        day = (r["service_begin"] or dt.datetime.combine(INVOICE_DATE, dt.time())).date()
        valid = codes[(codes["tax_code"] == r["tax_code"])
                      & (codes["valid_from"].dt.date <= day)
                      & ~(codes["valid_to"].dt.date < day)]
        assert len(valid) == 1, (r["booking_number"], day)
        assert dec(r["tax_rate"]) * 10_000 == int(valid["rate"].iloc[0])


def test_deferrals_sheet_spreads_the_lines_net_and_adds_up_to_it(run, sample_config, tmp_path):
    from dataclasses import replace

    from schemas.workbook import DEFERRALS
    config = replace(sample_config, settings=replace(sample_config.settings, deferrals=True))
    wb = open_wb(run(config=config, outbox=tmp_path / "d", language="en"))
    assert wb.sheetnames == ["Invoices", "Lines", "Taxes", "Deferrals", "Reconciliation",
                             "Rejected"]
    rows = values(wb, DEFERRALS, "en")  # headers checked against the schema
    kinds = {r["deferral_row"] for r in rows}
    assert kinds == {"Line", "Period total"}
    net = defaultdict(Decimal)
    for r in values(wb, LINES, "en"):
        net[r["currency"]] += dec(r["net_amount"])
    for kind in kinds:
        spread = defaultdict(Decimal)
        for r in rows:
            if r["deferral_row"] == kind:
                spread[r["currency"]] += dec(r["net_amount"])
        assert spread == net
    # lines whose course runs after October 2026 are deferred past the invoice's period
    later = [r for r in rows if r["deferral_row"] == "Line"
             and (r["fiscal_year"], r["fiscal_period"]) > (2026, 10)]
    assert later and all(dec(r["deferred_amount"]) == dec(r["net_amount"]) for r in later)


# --- sheet continuation and cut text -------------------------------------------------------------

def test_sheets_continue_on_numbered_sheets_without_losing_rows(run, sample_run, tmp_path):
    full, full_wb = sample_run
    result = run(max_rows=50, outbox=tmp_path / "split")
    wb = open_wb(result)
    names = [ws.title for ws in parts(wb, LINES, "de")]
    n_lines = len(result.billing.lines)
    expected_parts = -(-n_lines // 49)
    assert expected_parts >= 3
    assert names == ["Positionen"] + [f"Positionen ({k})" for k in range(2, expected_parts + 1)]
    for ws in parts(wb, LINES, "de"):
        assert 2 <= ws.max_row <= 50
        assert ws.freeze_panes == "A2"
    assert sum(ws.max_row - 1 for ws in parts(wb, LINES, "de")) == n_lines == 213
    # every sheet, joined over its parts, holds exactly the rows of the unsplit workbook
    for sheet in SHEETS:
        split_rows = values(wb, sheet, "de")
        whole_rows = values(full_wb, sheet, "de")
        assert split_rows == whole_rows, sheet.id  # same inputs: same run id and parameters
    assert result.rendered.manifest["sheets"][:3] == ["Rechnungen", "Rechnungen (2)",
                                                      "Positionen"]


def test_text_over_the_limit_is_cut_with_a_marker_and_reported(run, tmp_path):
    header, body = sample_rows()
    ba, nm = col(header, "Rechnungsadresse"), col(header, "Name / Firma")
    picked, seen = [], set()
    for r in body[6:]:  # a few billable rows with distinct billing addresses
        if r[ba] not in seen and r[col(header, "Buchungsstatus")] in ("Bezahlt", "Offen"):
            seen.add(r[ba])
            picked.append(list(r))
        if len(picked) == 4:
            break
    long_name = "Genossenschaft für sehr lange Firmennamen " * 4  # > 100 characters
    picked[1][nm] = long_name
    picked[2][col(header, "Kommentar zur Bestellung")] = "K" * 500  # not on any sheet
    src = write_csv(tmp_path / "long.csv", header, picked)

    result = run(source=src, max_text=100)
    wb = open_wb(result)
    marker = CUT_MARKER["de"]
    cut = [(ws.title, c.coordinate) for ws in wb.worksheets for row in ws.iter_rows()
           for c in row if isinstance(c.value, str) and c.value.endswith(marker)]
    assert len(cut) == 1
    name = [r["invoice_to_name"] for r in values(wb, INVOICES, "de")
            if r["invoice_to_name"].endswith(marker)][0]
    assert len(name) == 100
    assert name == long_name[: 100 - len(marker)] + marker
    flags = label("flags", "de")
    assert recon(wb, "de")[(flags, label("text_cut", "de"), None)] == 1
    assert len(result.rendered.cut_cells) == 1
    assert counts(wb, "de")["billed"] == 4
    # the terminal and the run log say so too (the manifest's warnings), naming the place
    cut_warnings = [w for w in result.rendered.manifest["warnings"] if "gekürzt" in w]
    assert cut_warnings == [f"1 Textzelle(n) an Excels Grenze von 32'767 Zeichen gekürzt, "
                            f"markiert «…[gekürzt]»: {cut[0][0]}, Zeile {cut[0][1][1:]}, "
                            f"Name / Firma"]

    # without a limit nothing is cut and nothing is reported
    whole = run(source=src, outbox=tmp_path / "whole")
    wb = open_wb(whole)
    assert long_name.strip() in {r["invoice_to_name"] for r in values(wb, INVOICES, "de")}
    assert (flags, label("text_cut", "de"), None) not in recon(wb, "de")
    assert not [w for w in whole.rendered.manifest["warnings"] if "gekürzt" in w]
