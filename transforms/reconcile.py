"""The Reconciliation and Rejected sheets: every input row is accounted for (DESIGN.md §9.1).

rows read = billed + rejected + not billable + already billed; a row counts once however many
problems it has. Totals are given per invoice currency and per home currency, so the
accountant can tick them off against the ERP.

Each row says what its value is (``value_kind``): a count (``int``), an amount in the row's
currency (``amount``), a date (``date``) or ``text``. The workbook writes it as a number in
that currency's format, a date or a text cell, so the sheet can be summed and tied out; the
``value`` column keeps the exact text of every value for the Prefect artifact and the manifest.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from schemas.booking_order import HEADERS
from schemas.problems import ALREADY_BILLED, NOT_BILLABLE, REJECTED, Reason

from . import minor_units, money
from .steps import Billing

LABELS = {
    "rows_read": ("Gelesene Zeilen", "Rows read"),
    "billed": ("Verrechnet", "Billed"),
    REJECTED: ("Abgelehnt", "Rejected"),
    NOT_BILLABLE: ("Nicht verrechenbar", "Not billable"),
    ALREADY_BILLED: ("Bereits verrechnet", "Already billed"),
    "balanced": ("Abstimmung aufgegangen", "Reconciled"),
    "invoices": ("Rechnungen", "Invoices"),
    "credit_notes": ("Stornorechnungen", "Credit notes"),
    "reissued": ("Neu fakturiert aus früheren Läufen (nicht in dieser Quelle)",
                 "Re-invoiced from earlier runs (not in this source)"),
    "lines": ("Positionen", "Lines"),
    "net_amount": ("Nettobetrag", "Net amount"),
    "tax_amount": ("USt-Betrag", "Tax amount"),
    "cash_rounding_amount": ("Rundung Rechnungsbetrag", "Cash rounding"),
    "invoice_amount": ("Rechnungsbetrag", "Invoice amount"),
    "rounding_difference": ("Betrag Rundungsdifferenz", "Rounding difference"),
    "stale_exchange_rate": ("Veralteter Wechselkurs", "Stale exchange rate"),
    "tax_rate_change": ("Steuersatzwechsel innerhalb der Rechnung",
                        "Tax rate changes within invoice"),
    "text_cut": ("Text gekürzt (Excel-Grenze)", "Text cut (Excel limit)"),
    "qr_bill_skipped": ("QR-Rechnung weggelassen", "QR-bill skipped"),
    "control_characters": ("Zellen mit Steuerzeichen (als _xHHHH_ geschrieben)",
                           "Cells with control characters (written as _xHHHH_)"),
    "address_as_customer": ("Rechnungsempfänger ohne Kundennummer (Adress-ID verwendet)",
                            "Invoice-to parties without customer number (address id used)"),
    "counts": ("Zeilen", "Rows"),
    "totals": ("Summen", "Totals"),
    "home_totals": ("Summen Hauswährung", "Home currency totals"),
    "flags": ("Hinweise", "Flags"),
    "source": ("Quelle", "Source"),
    "parameters": ("Parameter", "Parameters"),
    "not_billable_reason": ("Nicht verrechenbar: {}", "Not billable: {}"),
    "rejected_reason": ("Abgelehnt: {}", "Rejected: {}"),
    "source_rows": ("{}: Zeilen", "{}: rows"),
}

#: value kinds of the Reconciliation sheet (schemas.columns.VARIANT)
INT_VALUE, AMOUNT_VALUE, DATE_VALUE, TEXT_VALUE = "int", "amount", "date", "text"
#: the kind of a billing note's value (others are text)
NOTE_KINDS = {"text_cut": INT_VALUE}


def label(key: str, language: str) -> str:
    de, en = LABELS[key]
    return de if language == "de" else en


def row_buckets(problems: pd.DataFrame) -> pd.DataFrame:
    """One row per problem row (source, source_row) with its bucket and first reason."""
    if not len(problems):
        return pd.DataFrame(columns=["source", "source_row", "bucket", "reason"])
    p = problems.assign(bucket=problems["reason"].map(lambda r: Reason[r].bucket))
    return p.drop_duplicates(["source", "source_row"])[["source", "source_row", "bucket",
                                                        "reason"]]


def billed_rows(lines: pd.DataFrame) -> pd.DataFrame:
    """Input rows billed by this run: not credit lines, not orders restored from the state
    store to be re-invoiced (they are rows of an earlier input)."""
    own = lines
    if "charge_type" in lines:
        own = own[own["charge_type"] != "credit"]
    own = own[~own["source"].astype("str").str.startswith("state:")]
    return own[["source", "source_row"]].drop_duplicates()


def column_label(column, language: str):
    """A booking-order field as the export's header names it (German or English), so the
    accountant finds the cell; other names (customers.csv columns) stay as they are.

    >>> column_label("price", "de"), column_label("price", "en"), column_label("vat_id", "en")
    ('Preis', 'Price', 'vat_id')
    """
    if not isinstance(column, str):
        return None
    headers = HEADERS.get(column) or {"product_ref": ("Kennzeichen", "Ext. ref."),
                                      "implementation_ref": ("Kennzeichen", "Ext. ref.")}.get(
        column)
    if headers is None:
        return column
    return headers[0] if language == "de" or len(headers) < 2 else headers[1]


def rejected_sheet(problems: pd.DataFrame, language: str) -> pd.DataFrame:
    p = problems
    text = [Reason[r].text(language, d if isinstance(d, str) else "")
            for r, d in zip(p["reason"], p["detail"])]
    bucket = p["reason"].map(lambda r: Reason[r].bucket)
    order = {REJECTED: 0, NOT_BILLABLE: 1, ALREADY_BILLED: 2}
    out = pd.DataFrame({
        "source": p["source"].astype("str"),
        "source_row": p["source_row"].astype("Int64"),
        "booking_number": p["booking_number"],
        "column": p["column"].map(lambda c: column_label(c, language)),
        "problem": text,
        "value": p["value"].map(lambda v: None if v is None or v is pd.NA or v != v else str(v)),
        "_b": bucket.map(order),
    })
    return (out.sort_values(["_b", "source", "source_row"], kind="stable")
            .drop(columns="_b").reset_index(drop=True))


TOTALS = ("net_amount", "tax_amount", "cash_rounding_amount", "invoice_amount")


def address_parties(invoices: pd.DataFrame) -> list[str]:
    """The invoice-to parties billed under their billing address id because customers.csv
    has no entry for them (sorted): the ERP knows no such customer until one is created."""
    if "invoice_to_is_address" not in invoices or not len(invoices):
        return []
    flag = invoices["invoice_to_is_address"].astype("object").where(
        invoices["invoice_to_is_address"].notna(), False).astype(bool)
    return sorted(invoices.loc[flag, "invoice_to_bp"].astype("str").unique())


def currency_totals(invoices: pd.DataFrame) -> dict[str, dict]:
    """Per invoice currency: the exact decimal text of each total and the document count —
    the figures the Reconciliation sheet and the manifest both show."""
    grouped = invoices.groupby("currency", sort=True)
    sums, counts = grouped[list(TOTALS)].sum(), grouped.size()  # integer minor units: exact
    return {cur: {**{m: _money_text(int(sums.at[cur, m]), cur) for m in TOTALS},
                  "invoices": int(counts[cur])} for cur in sums.index}


def _money_text(minor: int, cur: str) -> str:
    return str(money.to_decimal(minor, minor_units.exponent(cur)))


def reconciliation(billing: Billing, rows_read: int, sources: list[tuple[str, str, int]],
                   parameters: dict[str, str], language: str) -> pd.DataFrame:
    rows: list[tuple[str, str, str | None, str, str]] = []

    def add(section, metric, cur, value, kind=None):
        if kind is None:
            kind = (INT_VALUE if isinstance(value, int) and not isinstance(value, bool)
                    else DATE_VALUE if isinstance(value, dt.date) else TEXT_VALUE)
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        rows.append((label(section, language), metric, cur, text, kind))

    buckets = row_buckets(billing.problems)
    billed = billed_rows(billing.lines)
    counts = {b: int((buckets["bucket"] == b).sum()) for b in (REJECTED, NOT_BILLABLE,
                                                              ALREADY_BILLED)}
    add("counts", label("rows_read", language), None, rows_read)
    add("counts", label("billed", language), None, len(billed))
    for b in (REJECTED, NOT_BILLABLE, ALREADY_BILLED):
        add("counts", label(b, language), None, counts[b])
    total = len(billed) + sum(counts.values())
    add("counts", label("balanced", language), None,
        ("ja" if language == "de" else "yes") if total == rows_read else
        (f"NEIN ({total} ≠ {rows_read})" if language == "de" else f"NO ({total} != {rows_read})"))
    for bucket, key in ((REJECTED, "rejected_reason"), (NOT_BILLABLE, "not_billable_reason")):
        sub = buckets[buckets["bucket"] == bucket]
        for reason, n in sorted(sub["reason"].value_counts().items()):
            add("counts", label(key, language).format(Reason[reason].text(language, "…")), None,
                int(n))
    inv = billing.invoices
    credit = (inv["document_type"] == "credit_note") if "document_type" in inv else \
        pd.Series(False, index=inv.index)
    add("totals", label("invoices", language), None, int((~credit).sum()))
    add("totals", label("credit_notes", language), None, int(credit.sum()))
    restored = billing.lines["source"].astype("str").str.startswith("state:")
    if restored.any():
        add("counts", label("reissued", language), None, int(restored.sum()))
    add("totals", label("lines", language), None, len(billing.lines))
    for cur, totals in currency_totals(inv).items():
        for m in TOTALS:
            add("totals", label(m, language), cur, totals[m], AMOUNT_VALUE)
    for k in (1, 2, 3):
        col = f"home_currency_{k}"
        if col not in inv or inv[col].isna().all():
            continue
        cur = inv[col].dropna().iloc[0]
        for m in ("net_amount", "tax_amount", "invoice_amount", "rounding_difference"):
            add("home_totals", f"{label(m, language)} HW {k}" if language == "de"
                else f"{label(m, language)} HC {k}", cur,
                _money_text(int(inv[f"{m}_hc_{k}"].sum()), cur), AMOUNT_VALUE)
    add("flags", label("address_as_customer", language), None, len(address_parties(inv)))
    for section, metric, cur, value in billing.notes:
        add(section, label(metric, language), cur, value, NOTE_KINDS.get(metric, TEXT_VALUE))
    for name, checksum, n in sources:
        add("source", name, None, f"sha256 {checksum}")
        add("source", label("source_rows", language).format(name), None, int(n))
    for key, value in parameters.items():
        add("parameters", key, None, value,
            DATE_VALUE if key.endswith("_date") and _is_iso_date(value) else None)
    frame = pd.DataFrame(rows, columns=["section", "metric", "currency", "value", "value_kind"])
    return frame.astype({"section": "str", "metric": "str", "currency": "str", "value": "str",
                         "value_kind": "str"})


def _is_iso_date(value) -> bool:
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


WARNINGS = {
    "stale_exchange_rate": (
        "Veraltete Wechselkurse verwendet: {} vom {}, älter als max_rate_age_days am "
        "Wechselkursdatum – exchange_rates.csv nachführen",
        "stale exchange rates used: {} of {}, older than max_rate_age_days on the exchange "
        "rate date – update exchange_rates.csv"),
    "text_cut": (
        "{} Textzelle(n) an Excels Grenze von 32'767 Zeichen gekürzt, markiert «…[gekürzt]»: {}",
        "{} text cell(s) cut at Excel's limit of 32,767 characters, marked '…[cut]': {}"),
    "address_as_customer": (
        "{} Rechnungsempfänger ohne Eintrag in customers.csv, verrechnet unter der Adress-ID "
        "({}): im ERP anlegen oder in customers.csv eintragen",
        "{} invoice-to part(y/ies) without an entry in customers.csv, billed under the address "
        "id ({}): create them in the ERP or add them to customers.csv"),
}


def warnings(billing: Billing, language: str, cut_cells=()) -> list[str]:
    """What the accountant must know before the workbook goes to the ERP, for the terminal
    and the run log as well as the sheet: stale rates used, text cut at Excel's limit (with
    the first places: sheet, row, column), parties the ERP does not know by a customer
    number."""
    i = 0 if language == "de" else 1
    # one line per date of the stale rates: "rates of 2026-10-30: CHF→EUR ECB, EUR→CHF ECB"
    stale: dict[str, list[str]] = {}
    for _, metric, _, value in billing.notes:
        if metric == "stale_exchange_rate":
            rate, _, day = str(value).rpartition(" ")
            stale.setdefault(day, []).append(rate)
    out = [WARNINGS["stale_exchange_rate"][i].format(", ".join(rates), day)
           for day, rates in sorted(stale.items())]
    if cut_cells:
        word = "Zeile" if language == "de" else "row"
        places = "; ".join(f"{sheet}, {word} {row}, {col}" for sheet, row, col in cut_cells[:3])
        out.append(WARNINGS["text_cut"][i].format(
            len(cut_cells), places + (", …" if len(cut_cells) > 3 else "")))
    parties = address_parties(billing.invoices) if billing.invoices is not None else []
    if parties:
        out.append(WARNINGS["address_as_customer"][i].format(
            len(parties), ", ".join(parties[:5]) + (", …" if len(parties) > 5 else "")))
    return out
