"""Drafts, final runs and the lifecycle of a billed order (DESIGN.md §5 Lifecycle, §7 State).

Every outcome is read back from what an accountant gets — the delivered workbook, opened with
openpyxl — and from the state store. The changes-after-billing table of the issue is one test
per row (``test_change_after_billing``). Sources are small cuts of sample_data/booking_orders.csv
(edited with the csv module) so that the whole module stays fast:

- billing address BA-1004 (PO-KS-2026-19): 7 billable orders (one cancelled with fee 224.99)
  and one written off → one invoice;
- billing address BA-1026 (PO-VM-55-120): 11 billable orders (188292 cancelled with fee
  160.20) and one in status ERROR → one invoice. Booking 188168 (CHF 2115.00, paid) is the
  one that changes.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import text

from billing_runs import bill, credit
from conftest import INVOICE_DATE, SAMPLE_ORDERS
from flows import commands, commit_step, stages, state_store
from flows.commit_step import CommandError
from flows.state_store import open_store
from schemas.columns import AMOUNT
from schemas.workbook import INVOICES, LINES, TAXES
from test_state_store import store_location

NBSP = "\u00a0"
CHANGED = "188168"           # CHF 2115.00, Bezahlt, billing address BA-1026
FEE_ORDER = "188292"         # Storniert mit Gebühr CHF 801.00 / fee CHF 160.20, BA-1026
ADDRESSES = ("BA-1004", "BA-1026")
ROWS_READ, BILLED, NOT_BILLABLE = 20, 18, 2
SIBLINGS = 11                # billable orders on the invoice of CHANGED


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    return store_location(request, tmp_path)


# -- sources ----------------------------------------------------------------------------------

def sample_rows() -> tuple[list[str], list[list[str]]]:
    with open(SAMPLE_ORDERS, newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    return records[0], records[1:]


HEADER, ALL_ROWS = sample_rows()
COL = {name: i for i, name in enumerate(HEADER)}


def small_rows() -> list[list[str]]:
    return [list(r) for r in ALL_ROWS if r[COL["Rechnungsadresse"]] in ADDRESSES]


def edited(rows: list[list[str]], booking: str, **changes: str) -> list[list[str]]:
    """A copy of ``rows`` with the named columns of ``booking`` changed (German headers;
    ``Stornogebühr`` for the fee)."""
    out, hit = [], False
    for r in rows:
        r = list(r)
        if r[COL["Buchungsnummer"]] == booking:
            hit = True
            for name, value in changes.items():
                r[COL[name.replace("_", " ")]] = value
        out.append(r)
    assert hit, booking
    return out


def write_orders(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


# -- runs and what they delivered -------------------------------------------------------------

def params(config, invoice_date=INVOICE_DATE, draft=False):
    return stages.default_params(invoice_date, None, None, config, draft=draft)


def run(source, config, store, outbox, invoice_date=INVOICE_DATE, draft=False):
    return bill(str(source), config, params(config, invoice_date, draft),
                               Path(outbox), store)


def sheet(path: Path, name: str) -> list[dict]:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb[name].iter_rows(values_only=True))
    wb.close()
    header = rows[0]
    assert len(set(header)) == len(header), f"{name}: duplicate headers"
    return [dict(zip(header, r)) for r in rows[1:]]


def reconciliation(path: Path) -> dict[tuple[str, str], str]:
    return {(r["Bereich"], r["Kennzahl"]): r["Wert"] for r in sheet(path, "Abstimmung")}


def manifest(result) -> dict:
    return json.loads(result.delivery.manifest.read_text(encoding="utf-8"))


def entries(folder: Path) -> list[str]:
    """Everything in an outbox (files and folders, hidden ones too) but ``discarded/``."""
    return sorted(n for n in (p.name for p in folder.iterdir()) if n != "discarded")


def delivered(result) -> list[str]:
    """What one delivery puts in the outbox: workbook, manifest and, when the company issues
    QR-bills, their folder."""
    wb = result.delivery.workbook
    qr = manifest(result).get("qr_bills")
    return sorted([wb.name, wb.stem + ".manifest.json"] + ([qr["folder"]] if qr else []))


def assert_balanced(result) -> dict:
    m = manifest(result)
    assert m["rows_read"] == (m["rows_billed"] + m["rows_rejected"] + m["rows_not_billable"]
                              + m["rows_already_billed"])
    rec = reconciliation(result.delivery.workbook)
    assert rec[("Zeilen", "Abstimmung aufgegangen")] == "ja"
    assert int(rec[("Zeilen", "Gelesene Zeilen")]) == m["rows_read"]
    assert int(rec[("Zeilen", "Verrechnet")]) == m["rows_billed"]
    assert int(rec[("Zeilen", "Bereits verrechnet")]) == m["rows_already_billed"]
    assert int(rec[("Zeilen", "Nicht verrechenbar")]) == m["rows_not_billable"]
    return m


def numbers_in_store(store) -> list[str]:
    with store.connect() as conn:
        return sorted(r[0] for r in conn.execute(text("SELECT invoice_number FROM invoices")))


def assert_gapless(numbers, year=2026):
    assert sorted(numbers) == [f"RE-{year}-{n:06d}" for n in range(1, len(numbers) + 1)]


def active(store) -> dict[str, str]:
    """booking number → invoice number of every active billing; each booking at most once."""
    with store.connect() as conn:
        billed = state_store.active_billed(conn, "100")
    assert not billed["booking_number"].duplicated().any(), "a booking is billed twice"
    return dict(zip(billed["booking_number"], billed["invoice_number"]))


def invoice_of(lines: list[dict], booking: str) -> str:
    found = {r["Rechnungsnummer"] for r in lines if r["Buchungsnummer"] == booking}
    assert len(found) == 1, found
    return found.pop()


AMOUNT_HEADERS = {s.id: [c.header("de") for c in s.cols if c.kind == AMOUNT]
                  for s in (INVOICES, LINES, TAXES)}


def neg(v):
    return None if v is None else -v


def assert_negation(credit: dict, original: dict, sheet_id: str):
    for h in AMOUNT_HEADERS[sheet_id]:
        assert credit[h] == neg(original[h]), (sheet_id, h, credit[h], original[h])
        if original[h] is not None:
            assert credit[h] + original[h] == 0


def assert_credit_note(new_wb: Path, old_wb: Path, original: str) -> str:
    """The workbook ``new_wb`` holds exactly one credit note, for ``original`` (delivered in
    ``old_wb``), negating it exactly in every amount: invoice, home currencies, lines, taxes.
    Returns the credit note's number."""
    new_inv = sheet(new_wb, "Rechnungen")
    credits = [r for r in new_inv if r["Belegart"] == "Stornorechnung"]
    assert len(credits) == 1, credits
    cn = credits[0]
    orig = next(r for r in sheet(old_wb, "Rechnungen") if r["Rechnungsnummer"] == original)
    assert cn["Verbundene Rechnungsnummer"] == original
    assert cn["Fakturierungsstatus"] == "Gedruckt"
    assert_negation(cn, orig, "invoices")
    for k in (1, 2, 3):  # converted at the original's rates
        assert (cn[f"Hauswährung {k}"], cn[f"Wechselkurs {k}"], cn[f"Kursfaktor {k}"]) == \
            (orig[f"Hauswährung {k}"], orig[f"Wechselkurs {k}"], orig[f"Kursfaktor {k}"])
    assert cn["Hauswährung 2"] == "EUR" and cn["Rechnungsbetrag HW 2"] != 0
    assert cn["Anzahl Positionen"] == orig["Anzahl Positionen"]
    number = cn["Rechnungsnummer"]
    old_lines = [r for r in sheet(old_wb, "Positionen") if r["Rechnungsnummer"] == original]
    cn_lines = [r for r in sheet(new_wb, "Positionen") if r["Rechnungsnummer"] == number]
    assert len(cn_lines) == len(old_lines) == orig["Anzahl Positionen"]
    by_booking = {r["Buchungsnummer"]: r for r in old_lines}
    for line in cn_lines:
        assert line["Verrechnungsart"] == "Gutschrift"
        assert_negation(line, by_booking[line["Buchungsnummer"]], "lines")
    old_taxes = {(r["USt-Code"], r["USt-Satz"]): r for r in sheet(old_wb, "Steuern")
                 if r["Rechnungsnummer"] == original}
    cn_taxes = [r for r in sheet(new_wb, "Steuern") if r["Rechnungsnummer"] == number]
    assert len(cn_taxes) == len(old_taxes) > 0
    for t in cn_taxes:
        assert_negation(t, old_taxes[(t["USt-Code"], t["USt-Satz"])], "taxes")
    return number


# -- a billed base shared by the lifecycle tests ----------------------------------------------

@dataclass
class Base:
    folder: Path
    rows: list[list[str]]
    result: commit_step.FinalResult
    workbook: Path
    invoice: str            # the invoice that bills CHANGED
    other: str              # the other invoice (BA-1004)
    lines: list[dict]


@pytest.fixture(scope="module")
def base(tmp_path_factory, sample_config) -> Base:
    """One final run of the small source, the template every lifecycle test starts from."""
    folder = tmp_path_factory.mktemp("billed_base")
    rows = small_rows()
    source = write_orders(folder / "orders.csv", rows)
    store = open_store(folder / "state.sqlite")
    result = run(source, sample_config, store, folder / "outbox")
    store.engine.dispose()
    wb = result.delivery.workbook
    lines = sheet(wb, "Positionen")
    invoice = invoice_of(lines, CHANGED)
    numbers = {r["Rechnungsnummer"] for r in sheet(wb, "Rechnungen")}
    assert len(numbers) == 2
    return Base(folder, rows, result, wb, invoice, (numbers - {invoice}).pop(), lines)


@pytest.fixture
def billed(base, tmp_path):
    """A copy of the base's state store and outbox: (store, outbox)."""
    shutil.copy(base.folder / "state.sqlite", tmp_path / "state.sqlite")
    shutil.copytree(base.folder / "outbox", tmp_path / "outbox")
    store = open_store(tmp_path / "state.sqlite")
    yield store, tmp_path / "outbox"
    store.engine.dispose()


def test_base_bills_two_invoices(base):
    m = assert_balanced(base.result)
    assert (m["rows_read"], m["rows_billed"], m["rows_not_billable"], m["invoices"]) == \
        (ROWS_READ, BILLED, NOT_BILLABLE, 2)
    assert sum(1 for r in base.lines if r["Rechnungsnummer"] == base.invoice) == SIBLINGS


# -- draft and final --------------------------------------------------------------------------

def test_draft_then_final(store_url, tmp_path, sample_config):
    store = open_store(store_url)
    try:
        source = write_orders(tmp_path / "orders.csv", small_rows())
        outbox = tmp_path / "outbox"

        draft = run(source, sample_config, store, outbox, draft=True)
        inv = sheet(draft.delivery.workbook, "Rechnungen")
        assert [r["Rechnungsnummer"] for r in inv] == \
            [f"P-{draft.run_id}-{n:05d}" for n in range(1, len(inv) + 1)]
        assert len(inv) == 2
        assert {r["Fakturierungsstatus"] for r in inv} == {"Zum Drucken bereit"}
        assert {r["Belegart"] for r in inv} == {"Rechnung"}
        with store.connect() as conn:
            assert state_store.active_billed(conn, "100").empty
            assert conn.execute(text("SELECT COUNT(*) FROM number_series")).scalar() == 0
            assert conn.execute(text("SELECT COUNT(*) FROM invoices")).scalar() == 0
            rec = state_store.run_record(conn, draft.run_id)
        assert (rec["mode"], rec["status"]) == ("draft", "delivered")
        assert manifest(draft)["mode"] == "draft"

        final = run(source, sample_config, store, outbox)
        assert final.run_id != draft.run_id
        wb = final.delivery.workbook
        inv = sheet(wb, "Rechnungen")
        assert [r["Rechnungsnummer"] for r in inv] == ["RE-2026-000001", "RE-2026-000002"]
        assert {r["Fakturierungsstatus"] for r in inv} == {"Gedruckt"}
        lines = sheet(wb, "Positionen")
        assert {r["Rechnungsnummer"] for r in lines} == {"RE-2026-000001", "RE-2026-000002"}
        m = assert_balanced(final)
        assert m["rows_billed"] == BILLED
        billed = active(store)
        assert billed == {r["Buchungsnummer"]: r["Rechnungsnummer"] for r in lines}
        assert len(billed) == m["rows_billed"] == len(lines)
        with store.connect() as conn:
            rec = state_store.run_record(conn, final.run_id)
            deliveries = conn.execute(text("SELECT file_name, sha256, run_id FROM deliveries "
                                           "WHERE run_id = :r"), {"r": final.run_id}).all()
        assert (rec["mode"], rec["status"]) == ("final", "delivered")
        digest = hashlib.sha256(wb.read_bytes()).hexdigest()
        assert rec["sha256"] == digest and rec["workbook"] == wb.name
        assert [tuple(d) for d in deliveries] == [(wb.name, digest, final.run_id)]
        assert numbers_in_store(store) == ["RE-2026-000001", "RE-2026-000002"]
    finally:
        store.engine.dispose()


def test_already_billed(base, billed, sample_config):
    store, outbox = billed
    source = base.folder / "orders.csv"
    before = entries(outbox)
    first_billed = active(store)
    assert len(first_billed) == BILLED

    again = run(source, sample_config, store, outbox)
    assert again.already_delivered and again.run_id == base.result.run_id
    assert again.delivery is None
    assert entries(outbox) == before

    later = run(source, sample_config, store, outbox, invoice_date=dt.date(2026, 10, 29))
    assert not later.already_delivered and later.run_id != base.result.run_id
    m = assert_balanced(later)
    assert (m["rows_billed"], m["invoices"], m["credit_notes"]) == (0, 0, 0)
    assert m["rows_already_billed"] == manifest(base.result)["rows_billed"] == BILLED
    assert sheet(later.delivery.workbook, "Rechnungen") == []
    problems = [r["Problem"] for r in sheet(later.delivery.workbook, "Abgelehnt")]
    assert sorted(p for p in problems if p.startswith("bereits verrechnet")) == sorted(
        f"bereits verrechnet (Rechnung {r['Rechnungsnummer']})" for r in base.lines)
    assert active(store) == first_billed
    assert numbers_in_store(store) == ["RE-2026-000001", "RE-2026-000002"]
    with store.connect() as conn:
        assert conn.execute(text("SELECT last_number FROM number_series")).scalar() == 2


# -- changes after billing: one test per row of the table ----------------------------

@dataclass(frozen=True)
class Change:
    """One row of the table: the edit, and what the next final run must issue."""
    edits: dict                       # booking -> {German header: new value}
    credit: bool                      # credit note for the invoice of CHANGED + new invoice
    dropped: str | None = None        # booking of that invoice not on the new one
    line: tuple | None = None         # (booking, Verrechnungsart, Nettobetrag) now billed
    billed: int = 0                   # expected Reconciliation counts of the second run
    not_billable: int = NOT_BILLABLE
    already: int = BILLED
    written_off: str = "credit"


REBILLED = dict(billed=SIBLINGS, already=BILLED - SIBLINGS)
DROPPED = dict(billed=SIBLINGS - 1, not_billable=NOT_BILLABLE + 1, already=BILLED - SIBLINGS)

CHANGES = {
    "price_edited": Change(
        {CHANGED: {"Preis": f"CHF{NBSP}999.95"}}, True,
        line=(CHANGED, "Preis", 999.95), **REBILLED),
    "fee_edited": Change(
        {FEE_ORDER: {"Stornogebühr": f"CHF{NBSP}99.95"}}, True,
        line=(FEE_ORDER, "Stornogebühr", 99.95), **REBILLED),
    "cancelled_without_fee": Change(
        {CHANGED: {"Buchungsstatus": "Storniert", "Stornogebühr": ""}}, True,
        dropped=CHANGED, **DROPPED),
    "cancelled_with_fee": Change(
        {CHANGED: {"Buchungsstatus": "Storniert mit Gebühr", "Stornogebühr": f"CHF{NBSP}423.00"}},
        True, line=(CHANGED, "Stornogebühr", 423.0), **REBILLED),
    "written_off_credit": Change(
        {CHANGED: {"Buchungsstatus": "Ausgebucht"}}, True, dropped=CHANGED, **DROPPED),
    "written_off_keep": Change(
        {CHANGED: {"Buchungsstatus": "Ausgebucht"}}, False, written_off="keep"),
    "unchanged": Change({}, False),
}


@pytest.mark.parametrize("case", list(CHANGES))
def test_change_after_billing(case, base, billed, tmp_path, sample_config):
    change = CHANGES[case]
    store, outbox = billed
    config = sample_config
    if change.written_off != "credit":
        from schemas.settings import parse_settings
        assert parse_settings({"code": "100", "name": "X", "home_currencies": ["CHF"],
                               "written_off": "keep"}).written_off == "keep"
        config = dataclasses.replace(sample_config, settings=dataclasses.replace(
            sample_config.settings, written_off=change.written_off))
    rows = base.rows
    for booking, edits in change.edits.items():
        rows = edited(rows, booking, **edits)
    source = write_orders(tmp_path / "changed.csv", rows)
    if not change.edits:  # same orders, another invoice date
        result = run(source, config, store, outbox, invoice_date=dt.date(2026, 10, 29))
    else:
        result = run(source, config, store, outbox)
    wb = result.delivery.workbook

    m = assert_balanced(result)
    assert (m["rows_read"], m["rows_billed"], m["rows_rejected"], m["rows_not_billable"],
            m["rows_already_billed"]) == (ROWS_READ, change.billed, 0, change.not_billable,
                                          change.already)
    inv = sheet(wb, "Rechnungen")
    lines = sheet(wb, "Positionen")
    new_invoices = [r for r in inv if r["Belegart"] == "Rechnung"]
    if not change.credit:
        assert inv == [] and lines == []
        assert (m["invoices"], m["credit_notes"]) == (0, 0)
        problems = {r["Buchungsnummer"]: r["Problem"] for r in sheet(wb, "Abgelehnt")}
        assert problems[CHANGED] == f"bereits verrechnet (Rechnung {base.invoice})"
        assert active(store) == {r["Buchungsnummer"]: r["Rechnungsnummer"] for r in base.lines}
        assert numbers_in_store(store) == ["RE-2026-000001", "RE-2026-000002"]
        return

    cn = assert_credit_note(wb, base.workbook, base.invoice)
    assert (m["credit_notes"], m["invoices"]) == (1, 1)
    assert len(new_invoices) == 1
    new = new_invoices[0]
    assert new["Fakturierungsstatus"] == "Gedruckt" and new["Verbundene Rechnungsnummer"] is None
    # numbers stay gapless across runs: credit note first, then the new invoice
    assert (cn, new["Rechnungsnummer"]) == ("RE-2026-000003", "RE-2026-000004")
    assert_gapless(numbers_in_store(store))
    assert_gapless([r["Rechnungsnummer"] for r in sheet(base.workbook, "Rechnungen")] + [
        r["Rechnungsnummer"] for r in inv])

    # the invoice and its credit note sum to zero in every amount column
    orig = next(r for r in sheet(base.workbook, "Rechnungen")
                if r["Rechnungsnummer"] == base.invoice)
    credit_row = next(r for r in inv if r["Rechnungsnummer"] == cn)
    for h in AMOUNT_HEADERS["invoices"]:
        if orig[h] is not None:
            assert orig[h] + credit_row[h] == 0, h

    # the new invoice: the other orders of the credited invoice, with the new values
    siblings = {r["Buchungsnummer"] for r in base.lines if r["Rechnungsnummer"] == base.invoice}
    expected = siblings - {change.dropped}
    new_lines = [r for r in lines if r["Rechnungsnummer"] == new["Rechnungsnummer"]]
    assert {r["Buchungsnummer"] for r in new_lines} == expected
    assert len(new_lines) == len(expected) == new["Anzahl Positionen"]
    old_by_booking = {r["Buchungsnummer"]: r for r in base.lines}
    changed_booking = change.line[0] if change.line else None
    for r in new_lines:
        if r["Buchungsnummer"] == changed_booking:
            assert (r["Verrechnungsart"], r["Nettobetrag"]) == change.line[1:]
            assert r["Nettobetrag"] != old_by_booking[r["Buchungsnummer"]]["Nettobetrag"]
        else:
            old = old_by_booking[r["Buchungsnummer"]]
            assert (r["Verrechnungsart"], r["Nettobetrag"]) == \
                (old["Verrechnungsart"], old["Nettobetrag"])
    assert round(sum(r["Nettobetrag"] for r in new_lines), 2) == new["Nettobetrag"]
    if change.dropped:  # cancelled without fee / written off: counted not billable
        problems = {r["Buchungsnummer"]: r["Problem"] for r in sheet(wb, "Abgelehnt")}
        assert problems[change.dropped] == {
            "cancelled_without_fee": "storniert ohne Stornogebühr",
            "written_off_credit": "Buchungsstatus wird nicht verrechnet"}[case]

    # the state store: original credited, every order billed once, on its current invoice
    now = active(store)
    for booking in siblings:
        if booking in expected:
            assert now[booking] == new["Rechnungsnummer"]
        else:
            assert booking not in now
    others = {r["Buchungsnummer"] for r in base.lines if r["Rechnungsnummer"] == base.other}
    assert {b for b, n in now.items() if n == base.other} == others
    with store.connect() as conn:
        data = state_store.invoice_data(conn, "100", [base.invoice, base.other, cn])
    assert (data[base.invoice]["status"], data[base.other]["status"]) == ("credited", "open")
    assert data[cn]["invoice"]["linked_invoice_number"] == base.invoice
    orig_data = data[base.invoice]["invoice"]
    for c in INVOICES.cols:  # exact in minor units, as kept in the store
        if c.kind == AMOUNT and orig_data[c.id] is not None:
            assert data[cn]["invoice"][c.id] == -orig_data[c.id], c.id


def test_reinvoiced_orders_missing_from_the_new_source_come_from_the_store(
        base, billed, tmp_path, sample_config):
    """Orders of a credited invoice that the new source no longer carries are re-invoiced as
    they were billed; they are not rows of this input, so they do not enter its counts."""
    store, outbox = billed
    gone = "188201"
    rows = [r for r in edited(base.rows, CHANGED, Preis=f"CHF{NBSP}999.95")
            if r[COL["Buchungsnummer"]] != gone]
    result = run(write_orders(tmp_path / "changed.csv", rows), sample_config, store, outbox)
    m = assert_balanced(result)
    assert (m["rows_read"], m["rows_billed"], m["rows_already_billed"]) == \
        (ROWS_READ - 1, SIBLINGS - 1, BILLED - SIBLINGS)
    lines = sheet(result.delivery.workbook, "Positionen")
    new = [r for r in lines if r["Verrechnungsart"] != "Gutschrift"]
    assert {r["Buchungsnummer"] for r in new} == \
        {r["Buchungsnummer"] for r in base.lines if r["Rechnungsnummer"] == base.invoice}
    restored = next(r for r in new if r["Buchungsnummer"] == gone)
    old = next(r for r in base.lines if r["Buchungsnummer"] == gone)
    assert restored["Nettobetrag"] == old["Nettobetrag"]
    assert active(store)[gone] == restored["Rechnungsnummer"]


def test_price_edit_against_each_store(store_url, tmp_path, sample_config):
    """The price-edited row of the table on SQLite and PostgreSQL, from an empty store."""
    store = open_store(store_url)
    try:
        outbox = tmp_path / "outbox"
        rows = small_rows()
        first = run(write_orders(tmp_path / "a.csv", rows), sample_config, store, outbox)
        original = invoice_of(sheet(first.delivery.workbook, "Positionen"), CHANGED)
        second = run(write_orders(tmp_path / "b.csv", edited(rows, CHANGED,
                                                             Preis=f"CHF{NBSP}999.95")),
                     sample_config, store, outbox)
        cn = assert_credit_note(second.delivery.workbook, first.delivery.workbook, original)
        assert cn == "RE-2026-000003"
        assert_balanced(second)
        assert_gapless(numbers_in_store(store))
        now = active(store)
        assert now[CHANGED] == "RE-2026-000004" and len(now) == BILLED
    finally:
        store.engine.dispose()


# -- commands: credit on demand ---------------------------------------------------------------

def test_credit_on_demand_without_reinvoice(base, billed, sample_config):
    store, outbox = billed
    result = credit(base.invoice, False, sample_config,
                                        params(sample_config), outbox, store)
    wb = result.delivery.workbook
    cn = assert_credit_note(wb, base.workbook, base.invoice)
    assert cn == "RE-2026-000003"
    assert [r["Belegart"] for r in sheet(wb, "Rechnungen")] == ["Stornorechnung"]
    now = active(store)
    assert base.invoice not in now.values()
    assert len(now) == BILLED - SIBLINGS
    assert_gapless(numbers_in_store(store))
    with store.connect() as conn:
        assert state_store.invoice_data(conn, "100", [base.invoice])[base.invoice]["status"] \
            == "credited"
    with pytest.raises(CommandError, match="credited"):
        credit(base.invoice, False, sample_config, params(sample_config),
                                   outbox, store)
    with pytest.raises(CommandError, match="credit_note"):
        credit(cn, True, sample_config, params(sample_config), outbox,
                                   store)
    with pytest.raises(CommandError, match="RE-2026-999999"):
        credit("RE-2026-999999", False, sample_config,
                                   params(sample_config), outbox, store)
    assert_gapless(numbers_in_store(store))
    assert len(numbers_in_store(store)) == 3


def test_credit_and_reinvoice_on_demand(base, billed, sample_config):
    store, outbox = billed
    result = credit(base.invoice, True, sample_config,
                                        params(sample_config), outbox, store)
    wb = result.delivery.workbook
    cn = assert_credit_note(wb, base.workbook, base.invoice)
    inv = sheet(wb, "Rechnungen")
    assert [(r["Rechnungsnummer"], r["Belegart"]) for r in inv] == \
        [(cn, "Stornorechnung"), ("RE-2026-000004", "Rechnung")]
    new_lines = [r for r in sheet(wb, "Positionen") if r["Rechnungsnummer"] == "RE-2026-000004"]
    old = {r["Buchungsnummer"]: r for r in base.lines if r["Rechnungsnummer"] == base.invoice}
    assert {r["Buchungsnummer"] for r in new_lines} == set(old)
    for r in new_lines:
        assert (r["Verrechnungsart"], r["Nettobetrag"]) == \
            (old[r["Buchungsnummer"]]["Verrechnungsart"], old[r["Buchungsnummer"]]["Nettobetrag"])
    orig = next(r for r in sheet(base.workbook, "Rechnungen")
                if r["Rechnungsnummer"] == base.invoice)
    assert inv[1]["Nettobetrag"] == orig["Nettobetrag"]
    now = active(store)
    assert {b for b, n in now.items() if n == "RE-2026-000004"} == set(old)
    assert len(now) == BILLED
    assert_gapless(numbers_in_store(store))


def test_an_invoice_credited_meanwhile_is_not_credited_twice(base, billed, sample_config,
                                                               monkeypatch):
    """Two credit commands for one invoice: the second passed its first check before the
    first one committed, and must still be refused once it holds the store's lock."""
    from contextlib import contextmanager

    from flows.state_store import StateStore
    store, outbox = billed
    take_lock = StateStore.locked_many
    rival = {}

    @contextmanager
    def locked_many(self, companies):
        if "started" not in rival:  # the first lock taken: the rival command wins it
            rival["started"] = True
            rival["result"] = credit(base.invoice, True, sample_config,
                                                         params(sample_config), outbox, store)
        with take_lock(self, companies) as conn:
            yield conn

    monkeypatch.setattr(StateStore, "locked_many", locked_many)
    with pytest.raises(CommandError, match="credited meanwhile"):
        credit(base.invoice, False, sample_config, params(sample_config),
                                   outbox, store)
    assert rival["result"].delivery is not None
    with store.connect() as conn:
        credits = conn.execute(text("SELECT invoice_number FROM invoices WHERE "
                                    "linked_invoice_number = :n"), {"n": base.invoice}).all()
    assert [c[0] for c in credits] == ["RE-2026-000003"]
    assert_gapless(numbers_in_store(store))
    assert len(active(store)) == BILLED


def test_cli_credit(base, billed, capsys, monkeypatch, sample_config):
    from flows import config as config_module
    from flows.cli import main
    for key, value in (("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
                       ("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"),
                       ("PREFECT_LOGGING_LEVEL", "WARNING")):
        monkeypatch.setenv(key, value)  # what the CLI sets; restored after the test
    store, outbox = billed
    state = str(store.engine.url.database)
    store.engine.dispose()
    orig = next(r for r in sheet(base.workbook, "Rechnungen")
                if r["Rechnungsnummer"] == base.invoice)
    code = main(["credit", "--invoice", base.invoice, "--state", state, "--outbox", str(outbox),
                 "--invoice-date", "2026-10-30"])
    out = capsys.readouterr().out
    assert code == 0, out
    amount = f"{-orig['Rechnungsbetrag']:.2f}"
    assert f"RE-2026-000003  Stornorechnung  CHF {amount}  {base.invoice}" in out
    assert "Delivered:" in out and "100_2026-10-30_" in out

    # the configuration was read for real above; reuse it for the refused command
    monkeypatch.setattr(config_module, "load_config", lambda _: sample_config)
    code = main(["credit", "--invoice", "RE-2026-999999", "--state", state, "--outbox",
                 str(outbox), "--invoice-date", "2026-10-30"])
    err = capsys.readouterr().err
    assert code == 2
    assert "RE-2026-999999" in err and "not in the state store" in err


# -- commands: drafts -------------------------------------------------------------------------

def test_redate_a_draft(tmp_path, sample_config):
    store = open_store(tmp_path / "state.sqlite")
    outbox = tmp_path / "outbox"
    draft = run(write_orders(tmp_path / "orders.csv", small_rows()), sample_config, store,
                outbox, draft=True)
    old_files = delivered(draft)
    new_date = dt.date(2026, 10, 29)
    result = commands.redate(store, draft.run_id, new_date)
    new = result.delivery.workbook
    assert result.run_id != draft.run_id
    assert new.name == f"100_2026-10-29_{result.run_id}.xlsx"
    inv = sheet(new, "Rechnungen")
    assert [r["Rechnungsnummer"] for r in inv] == [f"P-{result.run_id}-00001",
                                                  f"P-{result.run_id}-00002"]
    assert {r["Rechnungsdatum"] for r in inv} == {dt.datetime(2026, 10, 29)}
    assert {r["Fakturierungsstatus"] for r in inv} == {"Zum Drucken bereit"}
    assert entries(outbox) == delivered(result)
    assert entries(outbox / "discarded") == old_files
    with store.connect() as conn:
        assert state_store.run_record(conn, draft.run_id)["status"] == "discarded"
        rec = state_store.run_record(conn, result.run_id)
        assert (rec["mode"], rec["status"], rec["invoice_date"]) == \
            ("draft", "delivered", "2026-10-29")
        assert state_store.active_billed(conn, "100").empty
    with pytest.raises(CommandError, match="already discarded"):
        commands.redate(store, draft.run_id, dt.date(2026, 10, 28))
    store.engine.dispose()


def test_discard_a_draft(tmp_path, sample_config):
    store = open_store(tmp_path / "state.sqlite")
    outbox = tmp_path / "outbox"
    source = write_orders(tmp_path / "orders.csv", small_rows())
    draft = run(source, sample_config, store, outbox, draft=True)
    files = delivered(draft)
    assert entries(outbox) == files
    moved = commands.discard(store, draft.run_id.lower())
    assert sorted(p.name for p in moved) == files
    assert entries(outbox) == []
    assert entries(outbox / "discarded") == files
    with store.connect() as conn:
        assert state_store.run_record(conn, draft.run_id)["status"] == "discarded"
    with pytest.raises(CommandError, match="already discarded"):
        commands.discard(store, draft.run_id)
    with pytest.raises(CommandError, match="discarded"):
        run(source, sample_config, store, outbox, draft=True)
    with pytest.raises(CommandError, match="no run"):
        commands.discard(store, "NOSUCHRN")
    with store.connect() as conn:  # its orders stay unbilled
        assert state_store.active_billed(conn, "100").empty
    store.engine.dispose()


def test_discarding_or_redating_a_final_run_is_refused(base, billed):
    store, outbox = billed
    before = entries(outbox)
    with pytest.raises(CommandError, match="final run"):
        commands.discard(store, base.result.run_id)
    with pytest.raises(CommandError, match="final run"):
        commands.redate(store, base.result.run_id, dt.date(2026, 10, 29))
    assert entries(outbox) == before
    assert not (outbox / "discarded").exists()
    with store.connect() as conn:
        assert state_store.run_record(conn, base.result.run_id)["status"] == "delivered"


def test_redate_of_a_draft_whose_orders_were_billed_since_is_refused(tmp_path, sample_config,
                                                                      capsys):
    """The draft's orders were billed finally after it was made: re-dating would deliver an
    empty workbook and discard the proposal. It is refused; the draft stays as it was."""
    from flows.cli import main

    store_file = tmp_path / "state.sqlite"
    store = open_store(store_file)
    outbox = tmp_path / "outbox"
    source = write_orders(tmp_path / "orders.csv", small_rows())
    draft = run(source, sample_config, store, outbox, draft=True)
    final = run(source, sample_config, store, outbox)
    before = entries(outbox)
    with pytest.raises(commit_step.NothingToBill,
                       match=rf"draft {draft.run_id} was not re-dated.*of its {ROWS_READ} "
                             rf"orders {BILLED} were billed already \(final runs "
                             rf"{final.run_id}\), {NOT_BILLABLE} not billable"):
        commands.redate(store, draft.run_id, dt.date(2026, 10, 29))
    code = main(["redate", "--run", draft.run_id, "--invoice-date", "2026-10-29",
                 "--state", str(store_file)])
    err = capsys.readouterr().err
    assert code == 2 and "the draft is kept" in err and "Traceback" not in err
    assert entries(outbox) == before
    assert not (outbox / "discarded").exists()
    with store.connect() as conn:
        assert state_store.run_record(conn, draft.run_id)["status"] == "delivered"
        assert [r["run_id"] for r in state_store.runs(conn)] == [draft.run_id, final.run_id]
    store.engine.dispose()
