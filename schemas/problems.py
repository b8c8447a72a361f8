"""Why a row was not billed: stable reason ids, their bucket, and plain words in German and English.

Problems are data (STYLE.md, beancount): every stage returns them as a frame with the Rejected
sheet's columns plus the reason id, and the reconciliation counts rows per bucket.

>>> Reason.NO_TAX_RULE.text("en", "")
'no tax rule matches this booking (cost center, product, country)'
>>> Reason.DUPLICATE_BOOKING.bucket
'rejected'
"""

from __future__ import annotations

import functools
from enum import Enum

import pandas as pd

REJECTED = "rejected"
NOT_BILLABLE = "not_billable"
ALREADY_BILLED = "already_billed"

PROBLEM_COLUMNS = ["source", "source_row", "booking_number", "column", "reason", "detail", "value"]


class Reason(Enum):
    # value: (bucket, German, English); "{detail}" is filled with a language-neutral detail.
    REQUIRED = (REJECTED, "Pflichtfeld ist leer", "required value is empty")
    BAD_DATE = (REJECTED, "kein gültiges Datum (erwartet JJJJ-MM-TT oder TT.MM.JJJJ)",
                "not a valid date (expected YYYY-MM-DD or DD.MM.YYYY)")
    # {detail}: 1250.00 in the file's amount format, e.g. "CHF 1'250.00" (transforms.amounts)
    BAD_AMOUNT = (REJECTED, "kein gültiger Betrag (erwartet z. B. «{detail}»)",
                  "not a valid amount (expected e.g. '{detail}')")
    TOO_MANY_DECIMALS = (REJECTED, "mehr Dezimalstellen als die Währung {detail} erlaubt",
                         "more decimals than currency {detail} allows")
    UNKNOWN_CURRENCY = (REJECTED, "unbekannte Währung (kein ISO-4217-Code)",
                        "unknown currency (not an ISO 4217 code)")
    NEGATIVE_AMOUNT = (REJECTED, "Betrag ist negativ", "amount is negative")
    AMOUNT_TOO_LARGE = (REJECTED, "Betrag zu gross (höchstens 10 Milliarden, z. B. "
                        "CHF 10 000 000 000.00)", "amount too large (at most 10 billion, e.g. "
                        "CHF 10,000,000,000.00)")
    DATE_OUT_OF_RANGE = (REJECTED, "Datum ausserhalb 1900-01-01 bis 2199-12-31",
                         "date outside 1900-01-01 to 2199-12-31")
    CURRENCY_MISMATCH = (REJECTED, "Stornogebühr in anderer Währung ({detail}) als der Preis",
                         "cancellation fee in another currency ({detail}) than the price")
    UNKNOWN_STATUS = (REJECTED, "unbekannter Buchungsstatus", "unknown booking status")
    BAD_BOOKING_NUMBER = (REJECTED, "Buchungsnummer länger als 64 Zeichen oder mit "
                          "Steuerzeichen", "booking number longer than 64 characters or "
                          "holding a control character")
    DUPLICATE_BOOKING = (REJECTED, "Buchungsnummer mehrfach vorhanden (Zeilen {detail})",
                         "booking number appears more than once (rows {detail})")
    END_BEFORE_BEGIN = (REJECTED, "Durchführung endet vor ihrem Beginn",
                        "implementation ends before it begins")
    UNKNOWN_COUNTRY = (REJECTED, "Land nicht erkannt", "country not recognised")
    NO_TAX_RULE = (REJECTED, "keine Steuerregel passt zu dieser Buchung (Kostenstelle, Produkt, "
                   "Land)", "no tax rule matches this booking (cost center, product, country)")
    NO_TAX_RATE = (REJECTED, "kein Steuersatz für Steuercode {detail} am Steuerdatum",
                   "no tax rate for tax code {detail} on the tax date")
    NO_EXCHANGE_RATE = (REJECTED, "kein Wechselkurs {detail} am Wechselkursdatum",
                        "no exchange rate {detail} on the exchange rate date")
    UNKNOWN_PAYMENT_TERMS = (REJECTED, "unbekannte Zahlungsbedingung {detail}",
                             "unknown payment terms {detail}")
    INVALID_VAT_ID = (REJECTED, "MWST-/USt-IdNr. des Kunden {detail} ist ungültig "
                      "(customers.csv)", "VAT id of customer {detail} is not valid "
                      "(customers.csv)")
    UNKNOWN_CUSTOMER = (REJECTED, "Rechnungsadresse {detail} hat keinen Eintrag in customers.csv "
                        "(keine Kundennummer für das ERP)", "billing address {detail} has no "
                        "entry in customers.csv (no customer number for the ERP)")
    NO_COMPANY = (REJECTED, "keine Firma der Gruppe verrechnet Produkte dieser Organisation "
                  "(group.toml)", "no company of the group bills products of this "
                  "organisation (group.toml)")
    INVALID = (REJECTED, "ungültiger Wert ({detail})", "invalid value ({detail})")
    NOT_INVOICE_METHOD = (NOT_BILLABLE, "keine Zahlung per Rechnung", "not paid by invoice")
    STATUS_NOT_BILLABLE = (NOT_BILLABLE, "Buchungsstatus wird nicht verrechnet",
                           "booking status is not billed")
    CANCELED_NO_FEE = (NOT_BILLABLE, "storniert ohne Stornogebühr",
                       "cancelled without cancellation fee")
    ZERO_AMOUNT = (NOT_BILLABLE, "Betrag ist null oder leer", "amount is zero or empty")
    AFTER_CUTOFF = (NOT_BILLABLE, "Auftrag nach dem Stichtag", "ordered after the cutoff date")
    # One booking number is one booking of the source, whichever company of the state store
    # billed it (flows/state_store.billed_elsewhere); detail: "<company>, <invoice>". Above
    # ALREADY_BILLED: below it, that name is the member, not the bucket.
    ALREADY_BILLED_ELSEWHERE = (ALREADY_BILLED, "bereits von einer anderen Firma verrechnet "
                                "(Firma, Rechnung: {detail})", "already billed by another "
                                "company (company, invoice: {detail})")
    BILLED_ELSEWHERE_CHANGED = (ALREADY_BILLED, "von einer anderen Firma verrechnet und seither "
                                "geändert (Firma, Rechnung: {detail}); dort gutschreiben, dann "
                                "wird sie hier verrechnet", "billed by another company and "
                                "changed since (company, invoice: {detail}); credit it there, "
                                "then it is billed here")
    ALREADY_BILLED = (ALREADY_BILLED, "bereits verrechnet (Rechnung {detail})",
                      "already billed (invoice {detail})")

    @property
    def bucket(self) -> str:
        return self.value[0]

    def text(self, language: str, detail: str) -> str:
        template = self.value[1] if language == "de" else self.value[2]
        return template.replace("{detail}", detail or "")


def problems(rows: pd.DataFrame | None = None, **const) -> pd.DataFrame:
    """Build a problem frame from the given rows (carrying ``source``, ``source_row``,
    ``booking_number``) and constant columns such as ``reason=Reason.X.name``."""
    if rows is None or len(rows) == 0:
        return empty_problems()
    # each column made as a frame's column assignment makes it, the frame built once: a run
    # builds dozens of these, mostly of a few rows, where inserting column by column cost 6 ms
    columns = {}
    for c in PROBLEM_COLUMNS:
        value = const[c] if c in const else rows[c] if c in rows else None
        column = _aligned(value, rows.index)
        if c == "source_row":
            column = column.astype("Int64")
        else:
            column = column.astype("object").where(column.notna(), None)
        columns[c] = column
    return pd.DataFrame(columns, copy=False).reset_index(drop=True)


def _aligned(value, index: pd.Index) -> pd.Series:
    """``value`` as ``frame[c] = value`` stores it in a frame of this index: a Series by its
    labels, anything else as given (a scalar repeated)."""
    if isinstance(value, pd.Series):
        return value if value.index.equals(index) else value.reindex(index)
    return pd.Series(value, index=index)


def empty_problems() -> pd.DataFrame:
    """A frame without problems, a copy of one built once: every stage that finds nothing
    returns one, and building it costs 2 ms."""
    return _empty_problems().copy()


@functools.cache
def _empty_problems() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in PROBLEM_COLUMNS})
    frame["source_row"] = frame["source_row"].astype("Int64")
    return frame


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_problems()
    return pd.concat(frames, ignore_index=True)
