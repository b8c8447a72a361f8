"""The workbook's sheets and fields, as the invoicing system (Infor LN "Rechnungen") names them.

DESIGN.md §6 is the source; headers follow the ERP session cisli3105m000 in German and English.

>>> INVOICES.cols[1].header("de"), INVOICES.cols[1].header("en")
('Rechnungsnummer', 'Invoice number')
"""

from __future__ import annotations

from .columns import AMOUNT, DATE, INT, PERCENT, RATE, TEXT, VARIANT, Col, Sheet

HOME_CURRENCIES = (1, 2, 3)


def _home_invoice_cols() -> list[Col]:
    cols = []
    for k in HOME_CURRENCIES:
        hc = f"home_currency_{k}"
        cols += [
            Col(hc, f"Hauswährung {k}", f"Home currency {k}", TEXT, nullable=True),
            Col(f"exchange_rate_{k}", f"Wechselkurs {k}", f"Exchange rate {k}", RATE, nullable=True),
            Col(f"rate_factor_{k}", f"Kursfaktor {k}", f"Rate factor {k}", INT, nullable=True),
            Col(f"net_amount_hc_{k}", f"Nettobetrag HW {k}", f"Net amount HC {k}", AMOUNT, hc, True),
            Col(f"tax_amount_hc_{k}", f"USt-Betrag HW {k}", f"Tax amount HC {k}", AMOUNT, hc, True),
            Col(f"invoice_amount_hc_{k}", f"Rechnungsbetrag HW {k}", f"Invoice amount HC {k}",
                AMOUNT, hc, True),
            Col(f"rounding_difference_hc_{k}", f"Betrag Rundungsdifferenz HW {k}",
                f"Rounding difference HC {k}", AMOUNT, hc, True),
        ]
    return cols


def _discount_cols() -> list[Col]:
    cols = []
    for k in HOME_CURRENCIES:
        cols.append(Col(f"discount_date_{k}", f"Skontodatum {k}", f"Discount date {k}", DATE,
                        nullable=True))
    for k in HOME_CURRENCIES:
        cols.append(Col(f"discount_amount_{k}", f"Skontobetrag {k}", f"Discount amount {k}",
                        AMOUNT, "currency", True))
    return cols


_ADDRESS = [
    Col(f"address_line_{k}", f"Adresszeile {k}", f"Address line {k}", nullable=True)
    for k in (1, 2, 3, 4)
]

INVOICES = Sheet("invoices", "Rechnungen", "Invoices", tuple([
    Col("financial_company", "Kaufmännische Firma", "Financial company"),
    Col("invoice_number", "Rechnungsnummer", "Invoice number"),
    Col("invoice_status", "Fakturierungsstatus", "Invoicing status"),
    Col("document_type", "Belegart", "Document type"),
    Col("linked_invoice_number", "Verbundene Rechnungsnummer", "Linked invoice number",
        nullable=True),
    Col("invoice_run", "Rechnungslauf", "Invoice run"),
    Col("composition_reference", "Referenz für Zusammenstellung", "Composition reference"),
    Col("invoice_date", "Rechnungsdatum", "Invoice date", DATE),
    Col("tax_date", "USt-Datum", "Tax date", DATE),
    Col("due_date", "Fällig am", "Due date", DATE),
    Col("invoice_to_bp", "Rechnungsempfänger", "Invoice-to business partner"),
    Col("invoice_to_vat_id", "USt-ID-Nr.", "VAT ID", nullable=True),
    Col("invoice_to_language", "Sprache", "Language", nullable=True),
    Col("invoice_to_email", "E-Mail", "E-mail", nullable=True),
    Col("invoice_to_name", "Name / Firma", "Name / company", nullable=True),
    Col("invoice_to_addition", "Zusatz / Abteilung", "Addition / department", nullable=True),
    *_ADDRESS,
    Col("po_box", "Postfach", "P.O. box", nullable=True),
    Col("zip", "PLZ", "ZIP", nullable=True),
    Col("city", "Ort", "City", nullable=True),
    Col("region", "Region", "Region", nullable=True),
    Col("country", "Land", "Country", nullable=True),
    Col("po_number", "Bestellnummer Kunde", "Customer PO number", nullable=True),
    Col("currency", "Rechnungswährung", "Invoice currency"),
    Col("net_amount", "Nettobetrag", "Net amount", AMOUNT, "currency"),
    Col("tax_amount", "USt-Betrag", "Tax amount", AMOUNT, "currency"),
    Col("cash_rounding_amount", "Rundung Rechnungsbetrag", "Cash rounding", AMOUNT, "currency"),
    Col("invoice_amount", "Rechnungsbetrag", "Invoice amount", AMOUNT, "currency"),
    Col("payment_terms", "Zahlungsbedingungen", "Payment terms"),
    *_discount_cols(),
    Col("exchange_rate_type", "Wechselkursverfahren", "Exchange rate type"),
    Col("exchange_rate_date", "Wechselkurs vom", "Exchange rate date", DATE),
    *_home_invoice_cols(),
    Col("fiscal_year", "Geschäftsjahr", "Fiscal year", INT),
    Col("fiscal_period", "Rechnungsperiode", "Fiscal period", INT),
    Col("reporting_year", "Berichtsjahr", "Reporting year", INT),
    Col("reporting_period", "Berichtsperiode", "Reporting period", INT),
    Col("tax_year", "USt-Jahr", "Tax year", INT),
    Col("tax_period", "USt-Periode", "Tax period", INT),
    Col("payment_reference", "Referenznummer Zahlschein", "Payment slip reference",
        nullable=True),
    Col("line_count", "Anzahl Positionen", "Number of lines", INT),
]))

LINES = Sheet("lines", "Positionen", "Lines", tuple([
    Col("invoice_number", "Rechnungsnummer", "Invoice number"),
    Col("line_number", "Position", "Line", INT),
    Col("booking_number", "Buchungsnummer", "Booking number"),
    Col("charge_type", "Verrechnungsart", "Charge type"),
    Col("order_date", "Auftragsdatum", "Order date", DATE),
    Col("booking_status", "Buchungsstatus", "Booking status"),
    Col("product", "Produkt", "Product", nullable=True),
    Col("product_ref", "Kennzeichen Produkt", "Product ext. ref.", nullable=True),
    Col("implementation", "Durchführung", "Implementation", nullable=True),
    Col("implementation_ref", "Kennzeichen Durchführung", "Implementation ext. ref.",
        nullable=True),
    Col("service_begin", "Durchführung von", "Execution from", DATE, nullable=True),
    Col("service_end", "Durchführung bis", "Execution to", DATE, nullable=True),
    Col("offer", "Angebot", "Offer", nullable=True),
    Col("cost_center", "Kostenstelle", "Cost center", nullable=True),
    Col("account", "Konto", "Account", nullable=True),
    Col("orderer_name", "Besteller", "Orderer", nullable=True),
    Col("quantity", "Menge", "Quantity", INT),
    Col("unit_price", "Preis", "Price", AMOUNT, "currency"),
    Col("net_amount", "Nettobetrag", "Net amount", AMOUNT, "currency"),
    Col("tax_code", "USt-Code", "Tax code"),
    Col("tax_rate", "USt-Satz", "Tax rate", PERCENT),
    Col("tax_amount", "USt-Betrag", "Tax amount", AMOUNT, "currency"),
    Col("line_amount", "Betrag", "Amount", AMOUNT, "currency"),
    Col("currency", "Währung", "Currency"),
    *[Col(f"net_amount_hc_{k}", f"Nettobetrag HW {k}", f"Net amount HC {k}", AMOUNT,
          f"home_currency_{k}", True) for k in HOME_CURRENCIES],
    *[Col(f"home_currency_{k}", f"Hauswährung {k}", f"Home currency {k}", nullable=True)
      for k in HOME_CURRENCIES],
    Col("source", "Quelle", "Source"),
    Col("source_row", "Quellzeile", "Source row", INT),
]))

TAXES = Sheet("taxes", "Steuern", "Taxes", tuple([
    Col("invoice_number", "Rechnungsnummer", "Invoice number"),
    Col("tax_code", "USt-Code", "Tax code"),
    Col("tax_rate", "USt-Satz", "Tax rate", PERCENT),
    Col("tax_base", "Steuerbasis", "Tax base", AMOUNT, "currency"),
    Col("tax_amount", "USt-Betrag", "Tax amount", AMOUNT, "currency"),
    Col("currency", "Währung", "Currency"),
    *[c for k in HOME_CURRENCIES for c in (
        Col(f"home_currency_{k}", f"Hauswährung {k}", f"Home currency {k}", nullable=True),
        Col(f"tax_base_hc_{k}", f"Steuerbasis HW {k}", f"Tax base HC {k}", AMOUNT,
            f"home_currency_{k}", True),
        Col(f"tax_amount_hc_{k}", f"USt-Betrag HW {k}", f"Tax amount HC {k}", AMOUNT,
            f"home_currency_{k}", True),
    )],
]))

RECONCILIATION = Sheet("reconciliation", "Abstimmung", "Reconciliation", (
    Col("section", "Bereich", "Section"),
    Col("metric", "Kennzahl", "Metric"),
    Col("currency", "Währung", "Currency", nullable=True),
    Col("value", "Wert", "Value", VARIANT, "currency"),
))

REJECTED = Sheet("rejected", "Abgelehnt", "Rejected", (
    Col("source", "Quelle", "Source"),
    Col("source_row", "Quellzeile", "Source row", INT, nullable=True),
    Col("booking_number", "Buchungsnummer", "Booking number", nullable=True),
    Col("column", "Spalte", "Column", nullable=True),
    Col("problem", "Problem", "Problem"),
    Col("value", "Wert", "Value", nullable=True),
))

SHEETS = (INVOICES, LINES, TAXES, RECONCILIATION, REJECTED)

#: Coded values shown in the workbook's language (code -> (German, English)).
VALUE_LABELS = {
    "invoice_status": {"ready_to_print": ("Zum Drucken bereit", "Ready to print"),
                       "printed": ("Gedruckt", "Printed")},
    "document_type": {"invoice": ("Rechnung", "Invoice"),
                      "credit_note": ("Stornorechnung", "Credit note")},
    "charge_type": {"price": ("Preis", "Price"), "fee": ("Stornogebühr", "Cancellation fee"),
                    "credit": ("Gutschrift", "Credit")},
}


def label_values(frame, language: str):
    """The frame with coded values replaced by their labels in ``language``."""
    i = 0 if language == "de" else 1
    changes = {c: frame[c].map({k: v[i] for k, v in labels.items()}).fillna(frame[c])
               for c, labels in VALUE_LABELS.items() if c in frame}
    return frame.assign(**changes) if changes else frame


# ---------------------------------------------------------------------------------------------
# Abgrenzung / Deferrals (optional: company setting ``deferrals``; transforms/deferrals.py)
# ---------------------------------------------------------------------------------------------

DEFERRALS = Sheet("deferrals", "Abgrenzung", "Deferrals", (
    Col("deferral_row", "Zeilenart", "Row type"),
    Col("invoice_number", "Rechnungsnummer", "Invoice number", nullable=True),
    Col("line_number", "Position", "Line", INT, nullable=True),
    Col("booking_number", "Buchungsnummer", "Booking number", nullable=True),
    Col("service_begin", "Durchführung von", "Execution from", DATE, nullable=True),
    Col("service_end", "Durchführung bis", "Execution to", DATE, nullable=True),
    Col("invoice_fiscal_year", "Geschäftsjahr Rechnung", "Invoice fiscal year", INT,
        nullable=True),
    Col("invoice_fiscal_period", "Rechnungsperiode Rechnung", "Invoice fiscal period", INT,
        nullable=True),
    Col("month", "Leistungsmonat", "Service month", DATE),
    Col("fiscal_year", "Geschäftsjahr", "Fiscal year", INT),
    Col("fiscal_period", "Periode", "Fiscal period", INT),
    Col("days", "Leistungstage", "Service days", INT, nullable=True),
    Col("currency", "Währung", "Currency"),
    Col("net_amount", "Nettobetrag", "Net amount", AMOUNT, "currency"),
    Col("deferred_amount", "Abgegrenzt", "Deferred", AMOUNT, "currency"),
))

#: sheets a company setting turns on, each written after the sheet named here
OPTIONAL_SHEETS = ((DEFERRALS, "taxes"),)

VALUE_LABELS["deferral_row"] = {"line": ("Position", "Line"),
                                "total": ("Summe Periode", "Period total")}


def workbook_sheets(tables) -> tuple[Sheet, ...]:
    """The sheets of one workbook: every sheet of :data:`SHEETS`, and each optional sheet
    that ``tables`` holds, in its place."""
    out = list(SHEETS)
    for sheet, after in OPTIONAL_SHEETS:
        if sheet.id in tables:
            at = next((i + 1 for i, s in enumerate(out) if s.id == after), len(out))
            out.insert(at, sheet)
    return tuple(out)
