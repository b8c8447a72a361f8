"""The canonical booking order (DESIGN.md §3) and the headers OpenOlat gives its fields.

OpenOlat's "Buchungsaufträge" export is found by header text, German or English, never by
position (shared/openolat-booking-orders.md §1). Both external references share the header
"Kennzeichen" / "Ext. ref.": the first is the product's, the second the implementation's.

>>> HEADERS["booking_number"]
('Buchungsnummer', 'Booking number')
>>> STATUS_LABELS["Storniert mit Gebühr"]
'CANCELED'
"""

from __future__ import annotations

from functools import cache

import pandera.pandas as pa

from .dtypes import DATETIME, INT64, NULLABLE_INT64, TEXT

#: canonical id -> accepted header texts (German first). Matched case- and space-insensitively.
HEADERS: dict[str, tuple[str, ...]] = {
    "orderer_username": ("Benutzername", "User name", "Username"),
    "orderer_first_name": ("Vorname", "First name"),
    "orderer_last_name": ("Nachname", "Last name"),
    "orderer_email": ("E-Mail-Adresse", "E-mail address", "E-Mail", "Email"),
    "orderer_institutional_id": ("Institutionsnummer (Matrikelnummer)",
                                 "Institutional identifier (registration number)",
                                 "Institutionsnummer", "Matrikelnummer",
                                 "Institutional identifier"),
    "membership_status": ("Mitgliedschaftsstatus", "Membership status"),
    "product": ("Produkt", "Product"),
    "product_org_id": ("Org ID (Produkt)", "Org ID (product)"),
    "product_org_name": ("Org name (Produkt)", "Org name (product)"),
    "implementation": ("Durchführung", "Implementation"),
    "implementation_type": ("Durchführungstyp", "Implementation type"),
    "implementation_status": ("Durchführungsstatus", "Implementation status"),
    "implementation_format": ("Durchführungsformat", "Implementation format"),
    "service_begin": ("Durchführung von", "Execution from"),
    "service_end": ("Durchführung bis", "Execution to"),
    "location": ("Durchführungsort", "Location"),
    "booking_number": ("Buchungsnummer", "Booking number"),
    "booking_status": ("Buchungsstatus", "Booking status"),
    "offer": ("Angebot", "Offer"),
    "payment_method": ("Angebotstyp", "Offer type"),
    "cost_center": ("Kostenstelle", "Cost center"),
    "account": ("Konto", "Account"),
    "po_number": ("PO Nummer", "PO number"),
    "order_comment": ("Kommentar zur Bestellung", "Order comment"),
    "order_date": ("Auftragsdatum", "Order date"),
    "price": ("Preis", "Price"),
    "cancellation_fee": ("Stornogebühr", "Cancellation fee"),
    "billing_address_id": ("Rechnungsadresse", "Billing address"),
    "name": ("Name / Firma", "Name / company"),
    "addition": ("Zusatz / Abteilung", "Addition / department"),
    "address_line_1": ("Adresszeile 1", "Address line 1"),
    "address_line_2": ("Adresszeile 2", "Address line 2"),
    "address_line_3": ("Adresszeile 3", "Address line 3"),
    "address_line_4": ("Adresszeile 4", "Address line 4"),
    "po_box": ("Postfach", "P.O. box", "PO box"),
    "region": ("Region",),
    "zip": ("PLZ", "ZIP"),
    "city": ("Ort", "City"),
    "country": ("Land", "Country"),
    "billing_org_id": ("Org ID (Rechnungsadresse)", "Org ID (Billing address)"),
    "billing_org_name": ("Org name (Rechnungsadresse)", "Org name (Billing address)"),
}

#: The header shared by the product's and the implementation's external reference.
EXT_REF_HEADERS = ("Kennzeichen", "Ext. ref.")
EXT_REF_IDS = ("product_ref", "implementation_ref")

#: A file without these cannot be billed at all.
REQUIRED = ("booking_number", "booking_status", "order_date", "price", "billing_address_id")

TEXT_FIELDS = (
    "orderer_username", "orderer_first_name", "orderer_last_name", "orderer_email",
    "orderer_institutional_id", "product", "product_ref", "product_org_id", "product_org_name",
    "implementation", "implementation_ref", "implementation_type", "implementation_status",
    "implementation_format", "location", "offer", "cost_center", "account", "po_number",
    "order_comment", "name", "addition", "address_line_1", "address_line_2", "address_line_3",
    "address_line_4", "po_box", "region", "zip", "city", "country", "billing_org_id",
    "billing_org_name",
)
DATE_FIELDS = ("order_date", "service_begin", "service_end")
#: The dates a booking may carry, first and last day: a real date outside it is rejected on
#: its row. Excel's dates begin in 1900 and pandas' nanosecond dates end in 2262; tax
#: periods, due dates and terms add years to a date, so the range stops well before that.
DATE_RANGE = ("1900-01-01", "2199-12-31")
#: The largest price or fee, in minor units (10 billion CHF). A million bookings at this
#: amount still sum inside int64, and an invoice of up to a thousand of them keeps the 15
#: significant digits Excel shows exactly.
MAX_AMOUNT_MINOR = 10**12
MONEY_FIELDS = ("price", "cancellation_fee")

STATUSES = ("NEW", "PREPAYMENT", "PAYED", "CANCELED", "WRITTEN_OFF", "ERROR")

#: OpenOlat's display labels (German and English) mapped back to the stored status.
STATUS_LABELS: dict[str, str] = {
    **{s: s for s in STATUSES},
    "Neu": "NEW", "New": "NEW",
    "In Verarbeitung": "NEW", "In processing": "NEW",
    "Offen": "PREPAYMENT", "Open": "PREPAYMENT",
    "Ausstehend": "PREPAYMENT", "Pending": "PREPAYMENT",
    "Akzeptiert aber ausstehend": "PREPAYMENT", "Accepted but pending": "PREPAYMENT",
    "In Zahlungsprozess": "PREPAYMENT", "In payment process": "PREPAYMENT",
    "Bezahlt": "PAYED", "Paid": "PAYED", "Erledigt": "PAYED", "Done": "PAYED",
    "Storniert": "CANCELED", "Canceled": "CANCELED", "Cancelled": "CANCELED",
    "Storniert mit Gebühr": "CANCELED", "Canceled with fee": "CANCELED",
    "Ausgebucht": "WRITTEN_OFF", "Written off": "WRITTEN_OFF",
    "Fehler": "ERROR", "Error": "ERROR", "Achtung": "ERROR", "Warning": "ERROR",
}

#: Offer-type texts that mean "paid by invoice". Older exports wrote the resource type
#: ("CurriculumElement") there; they only export orders with a billing address, i.e. invoices.
INVOICE_METHODS = ("rechnung", "invoice", "invoice.method", "curriculumelement")


def _nullable_text() -> pa.Column:
    return pa.Column(TEXT, nullable=True)


def booking_order_schema(currencies) -> pa.DataFrameSchema:
    """Checks on the parsed frame; every check's error text is a Reason id. Built once per
    set of currencies: building it costs as much as checking a few hundred orders."""
    return _booking_order_schema(tuple(currencies))


@cache
def _booking_order_schema(currencies: tuple[str, ...]) -> pa.DataFrameSchema:
    money = {
        "price": pa.Column(NULLABLE_INT64, [pa.Check.ge(0, error="NEGATIVE_AMOUNT"),
                                     pa.Check.le(MAX_AMOUNT_MINOR, error="AMOUNT_TOO_LARGE")],
                           nullable=True),
        "cancellation_fee": pa.Column(NULLABLE_INT64, [
            pa.Check.ge(0, error="NEGATIVE_AMOUNT"),
            pa.Check.le(MAX_AMOUNT_MINOR, error="AMOUNT_TOO_LARGE")], nullable=True),
        "price_currency": pa.Column(TEXT, pa.Check.isin(currencies, error="UNKNOWN_CURRENCY"),
                                    nullable=True),
        "cancellation_fee_currency": pa.Column(
            TEXT, pa.Check.isin(currencies, error="UNKNOWN_CURRENCY"), nullable=True),
    }
    return pa.DataFrameSchema(
        {
            "booking_number": pa.Column(TEXT, [
                pa.Check.str_length(min_value=1, error="REQUIRED"),
                # the state store keeps it as VARCHAR(64), and an id holds no control character
                pa.Check.str_length(max_value=64, error="BAD_BOOKING_NUMBER"),
                pa.Check(lambda s: ~s.str.contains(r"[\x00-\x1f\x7f]", regex=True),
                         error="BAD_BOOKING_NUMBER")]),
            "booking_status": pa.Column(TEXT, pa.Check.isin(STATUSES, error="UNKNOWN_STATUS")),
            "payment_method": pa.Column(TEXT, nullable=True),
            "order_date": pa.Column(DATETIME),
            "service_begin": pa.Column(DATETIME, nullable=True),
            "service_end": pa.Column(DATETIME, nullable=True),
            "billing_address_id": pa.Column(TEXT, pa.Check.str_length(min_value=1,
                                                                        error="REQUIRED")),
            "country_code": pa.Column(TEXT, nullable=True),
            **money,
            **{f: _nullable_text() for f in TEXT_FIELDS},
            "source": pa.Column(TEXT),
            "source_row": pa.Column(INT64),
        },
        checks=[pa.Check(lambda df: ~(df["service_end"] < df["service_begin"]),
                         error="END_BEFORE_BEGIN")],
        strict=True,
        name="booking order",
    )
