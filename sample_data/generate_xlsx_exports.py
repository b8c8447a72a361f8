"""Generate sample OpenOlat Excel exports ("Buchungsaufträge") from ``booking_orders.csv``.

Writes, next to this script, two real ``.xlsx`` workbooks (with openpyxl) in the two shapes
OpenOlat 20.x writes (shared/openolat-booking-orders.md §1, §3):

* ``Orders_Herbst_2026_newest.xlsx`` -- the newest export: sheet "Buchungsaufträge", German
  headers, all rows of the CSV; leading user-property columns Benutzername, Vorname, Nachname,
  E-Mail-Adresse, Institutionsnummer, then Mitgliedschaftsstatus; Durchführungsort; dates as
  real Excel date cells; translated statuses; prices as text (``CHF\u00a01250.00``).
* ``Orders_Herbst_2026_older.xlsx`` -- an older export: sheet "Booking orders", English
  headers, no Membership status / Location / Org ID (Billing address) columns, the fee header
  untranslated "Cancellation fee"; dates as text (``2026-09-14 00:00:00.0``, the order date
  with its time of day) and the literal ``null`` for an empty date; raw booking and
  implementation status (``PAYED``, ``CANCELED``, ``confirmed``, ...); offer type
  ``CurriculumElement``. A subset of the CSV: every third row plus every cancelled,
  written-off, error and faulty row; credit-card orders are left out (older versions export
  only invoice orders). Booking number and account are written as *number* cells here, on
  purpose, so that the reader's whole-number handling (``187001``, never ``187001.0``) is
  exercised by a real file.

Both keep the CSV's faulty rows (decimal-comma price, empty order date, French billing
address) and its text traps (``=HYPERLINK(...)`` name stays a text cell, ``+41 44`` comment).

Deterministic: the CSV is the only input; the workbook's created/modified properties and the
zip members' timestamps are fixed, so running again gives byte-identical files.

Run (from the project root, with the project's virtualenv):
``python sample_data/generate_xlsx_exports.py``
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.styles import Font
from openpyxl.writer.excel import ExcelWriter

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "booking_orders.csv"
NEWEST = HERE / "Orders_Herbst_2026_newest.xlsx"
OLDER = HERE / "Orders_Herbst_2026_older.xlsx"

FIXED_TIME = dt.datetime(2026, 10, 28, 8, 0, 0)
ZIP_TIME = (2026, 10, 28, 8, 0, 0)
DATE_FORMAT = "DD.MM.YYYY"

# German label (as in the CSV) -> raw value the older export writes
STATUS_RAW = {
    "Neu": "NEW", "Offen": "PREPAYMENT", "Bezahlt": "PAYED", "Storniert": "CANCELED",
    "Storniert mit Gebühr": "CANCELED", "Ausgebucht": "WRITTEN_OFF", "Fehler": "ERROR",
}
IMPL_STATUS_RAW = {
    "Vorbereitung": "preparation", "Provisorisch": "provisional", "Bestätigt": "confirmed",
    "Aktiv": "active", "Abgebrochen": "cancelled", "Beendet": "finished", "Gelöscht": "deleted",
}
#: the orderer's membership in the implementation, as the newest export shows it
MEMBERSHIP = {"Storniert": "Storniert", "Storniert mit Gebühr": "Storniert", "Neu": "Reserviert",
              "Fehler": "Reserviert"}

# (output header, CSV header or a function of the CSV record, kind); kind: text, date, number
NEWEST_COLUMNS = [
    ("Benutzername", "Benutzername", "text"),
    ("Vorname", "Vorname", "text"),
    ("Nachname", "Nachname", "text"),
    ("E-Mail-Adresse", "E-Mail-Adresse", "text"),
    ("Institutionsnummer", lambda r: institutional_id(r["Benutzername"]), "text"),
    ("Mitgliedschaftsstatus", lambda r: MEMBERSHIP.get(r["Buchungsstatus"], "Aktiv"), "text"),
    ("Produkt", "Produkt", "text"),
    ("Kennzeichen ", "Kennzeichen ", "text"),
    ("Org ID (Produkt)", "Org ID (Produkt)", "text"),
    ("Org name (Produkt)", "Org name (Produkt)", "text"),
    ("Durchführung", "Durchführung", "text"),
    ("Kennzeichen", "Kennzeichen", "text"),
    ("Durchführungstyp", "Durchführungstyp", "text"),
    ("Durchführungsstatus", "Durchführungsstatus", "text"),
    ("Durchführungsformat", "Durchführungsformat", "text"),
    ("Durchführung von", "Durchführung von", "date"),
    ("Durchführung bis", "Durchführung bis", "date"),
    ("Durchführungsort", "Durchführungsort", "text"),
    ("Buchungsnummer", "Buchungsnummer", "text"),
    ("Buchungsstatus", "Buchungsstatus", "text"),
    ("Angebot", "Angebot", "text"),
    ("Angebotstyp", "Angebotstyp", "text"),
    ("Kostenstelle", "Kostenstelle", "text"),
    ("Konto", "Konto", "text"),
    ("PO Nummer", "PO Nummer", "text"),
    ("Kommentar zur Bestellung", "Kommentar zur Bestellung", "text"),
    ("Auftragsdatum", "Auftragsdatum", "date"),
    ("Preis", "Preis", "text"),
    ("Stornogebühr", "Stornogebühr", "text"),
    ("Rechnungsadresse", "Rechnungsadresse", "text"),
    ("Name / Firma", "Name / Firma", "text"),
    ("Zusatz / Abteilung", "Zusatz / Abteilung", "text"),
    ("Adresszeile 1", "Adresszeile 1", "text"),
    ("Adresszeile 2", "Adresszeile 2", "text"),
    ("Adresszeile 3", "Adresszeile 3", "text"),
    ("Adresszeile 4", "Adresszeile 4", "text"),
    ("Postfach", "Postfach", "text"),
    ("Region", "Region", "text"),
    ("PLZ", "PLZ", "text"),
    ("Ort", "Ort", "text"),
    ("Land", "Land", "text"),
    ("Org ID (Rechnungsadresse)", "Org ID (Rechnungsadresse)", "text"),
    ("Org name (Rechnungsadresse)", "Org name (Rechnungsadresse)", "text"),
]

OLDER_COLUMNS = [
    ("User name", "Benutzername", "text"),
    ("First name", "Vorname", "text"),
    ("Last name", "Nachname", "text"),
    ("E-mail address", "E-Mail-Adresse", "text"),
    ("Institutional identifier", lambda r: institutional_id(r["Benutzername"]), "text"),
    ("Product", "Produkt", "text"),
    ("Ext. ref.", "Kennzeichen ", "text"),
    ("Org ID (product)", "Org ID (Produkt)", "text"),
    ("Org name (product)", "Org name (Produkt)", "text"),
    ("Implementation", "Durchführung", "text"),
    ("Ext. ref.", "Kennzeichen", "text"),
    ("Implementation type", "Durchführungstyp", "text"),
    ("Implementation status", lambda r: IMPL_STATUS_RAW[r["Durchführungsstatus"]], "text"),
    ("Implementation format", "Durchführungsformat", "text"),
    ("Execution from", lambda r: timestamp_text(r["Durchführung von"]), "text"),
    ("Execution to", lambda r: timestamp_text(r["Durchführung bis"]), "text"),
    ("Booking number", "Buchungsnummer", "number"),
    ("Booking status", lambda r: STATUS_RAW[r["Buchungsstatus"]], "text"),
    ("Offer", "Angebot", "text"),
    ("Offer type", lambda r: "CurriculumElement", "text"),
    ("Cost center", "Kostenstelle", "text"),
    ("Account", "Konto", "number"),
    ("PO number", "PO Nummer", "text"),
    ("Order comment", "Kommentar zur Bestellung", "text"),
    ("Order date", lambda r: timestamp_text(r["Auftragsdatum"], r["Buchungsnummer"]), "text"),
    ("Price", "Preis", "text"),
    ("Cancellation fee", "Stornogebühr", "text"),
    ("Billing address", "Rechnungsadresse", "text"),
    ("Name / company", "Name / Firma", "text"),
    ("Addition / department", "Zusatz / Abteilung", "text"),
    ("Address line 1", "Adresszeile 1", "text"),
    ("Address line 2", "Adresszeile 2", "text"),
    ("Address line 3", "Adresszeile 3", "text"),
    ("Address line 4", "Adresszeile 4", "text"),
    ("P.O. box", "Postfach", "text"),
    ("Region", "Region", "text"),
    ("ZIP", "PLZ", "text"),
    ("City", "Ort", "text"),
    ("Country", "Land", "text"),
    ("Org name (Billing address)", "Org name (Rechnungsadresse)", "text"),
]


def institutional_id(username: str) -> str:
    """A stable Swiss-style matriculation number ("17-123-456") for a user name."""
    n = int(hashlib.sha256(username.encode()).hexdigest()[:8], 16)
    return f"{15 + n % 10}-{n // 10 % 1000:03d}-{n // 10000 % 1000:03d}"


def timestamp_text(iso_date: str, booking: str | None = None) -> str:
    """An older export's date text: ``2026-09-14 00:00:00.0``; ``null`` when empty. The order
    date carries a time of day (derived from the booking number, deterministic)."""
    if not iso_date:
        return "null"
    if booking is None:
        return f"{iso_date} 00:00:00.0"
    n = int(booking)
    return f"{iso_date} {7 + n % 11:02d}:{n * 7 % 60:02d}:{n * 13 % 60:02d}.0"


def load() -> list[dict[str, str]]:
    with SOURCE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    return [dict(zip(header, r)) for r in rows[1:]]


def older_subset(records: list[dict[str, str]]) -> list[dict[str, str]]:
    keep = []
    for i, r in enumerate(records):
        if r["Angebotstyp"] != "Rechnung":
            continue  # older exports hold invoice orders only
        special = (r["Buchungsstatus"] in ("Storniert", "Storniert mit Gebühr", "Ausgebucht",
                                           "Fehler")
                   or not r["Auftragsdatum"] or "," in r["Preis"] or r["Land"] == "Frankreich"
                   or r["Name / Firma"].startswith("="))
        if i % 3 == 0 or special:
            keep.append(r)
    return keep


def cell_value(record: dict[str, str], source, kind: str):
    text = source(record) if callable(source) else record[source]
    if text == "":
        return None
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "number":
        return int(text)
    return text


def build(sheet: str, columns, records) -> openpyxl.Workbook:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    bold = Font(bold=True)
    for c, (header, _, _) in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=c, value=header)
        cell.font = bold
    for r, rec in enumerate(records, start=2):
        for c, (_, source, kind) in enumerate(columns, start=1):
            value = cell_value(rec, source, kind)
            if value is None:
                continue
            cell = ws.cell(row=r, column=c, value=value)
            if kind == "date":
                cell.number_format = DATE_FORMAT
            elif isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text such as =HYPERLINK(...) must stay text
    ws.freeze_panes = "A2"
    props = wb.properties
    props.creator = "OpenOlat"
    props.lastModifiedBy = None
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    return wb


def to_bytes(wb: openpyxl.Workbook) -> bytes:
    """The workbook's bytes with fixed zip timestamps (openpyxl's own ``save`` stamps the
    current time into the properties, and zipfile into every member)."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).save()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as zin, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            zout.writestr(fixed, zin.read(info.filename))
    return out.getvalue()


def write(path: Path, sheet: str, columns, records) -> None:
    path.write_bytes(to_bytes(build(sheet, columns, records)))
    print(f"wrote {path.name}: {len(records)} rows, sheet '{sheet}', "
          f"sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:12]}")


def main() -> None:
    records = load()
    write(NEWEST, "Buchungsaufträge", NEWEST_COLUMNS, records)
    write(OLDER, "Booking orders", OLDER_COLUMNS, older_subset(records))


if __name__ == "__main__":
    main()
