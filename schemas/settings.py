"""Company settings (DESIGN.md §4): one declarative table of name, default, example and parser.

The table gives the defaults, the validation with the key's name in every message, and the
README's configuration section. Decimals are written as quoted strings in TOML so that no
binary float ever holds a rounding increment.

>>> parse_settings({"code": "100", "name": "X", "home_currencies": ["CHF"]}).tax_rounding
'invoice'
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable


class SettingError(ValueError):
    """A company setting is missing or not valid; the message names the key."""


def _text(key, v):
    if not isinstance(v, str) or not v.strip():
        raise SettingError(f"{key}: expected a text, got {v!r}")
    return v.strip()


def _bool(key, v):
    if not isinstance(v, bool):
        raise SettingError(f"{key}: expected true or false, got {v!r}")
    return v


def _int_range(lo, hi):
    def parse(key, v):
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise SettingError(f"{key}: expected a whole number from {lo} to {hi}, got {v!r}")
        return v
    return parse


def _choice(*options):
    def parse(key, v):
        if v not in options:
            raise SettingError(f"{key}: expected one of {', '.join(options)}, got {v!r}")
        return v
    return parse


def _currency_list(key, v):
    if (not isinstance(v, list) or not 1 <= len(v) <= 3
            or not all(isinstance(c, str) and re.fullmatch(r"[A-Z]{3}", c) for c in v)):
        raise SettingError(f"{key}: expected 1 to 3 ISO currency codes like [\"CHF\", \"EUR\"], "
                           f"got {v!r}")
    if len(set(v)) != len(v):
        raise SettingError(f"{key}: a currency is listed twice: {v!r}")
    return tuple(v)


def _status_list(key, v):
    allowed = ("NEW", "PREPAYMENT", "PAYED")
    if not isinstance(v, list) or not all(s in allowed for s in v):
        raise SettingError(f"{key}: expected a list of {', '.join(allowed)}, got {v!r}")
    return tuple(v)


def _increments(key, v):
    if not isinstance(v, dict):
        raise SettingError(f"{key}: expected a table like {{ CHF = \"0.05\" }}, got {v!r}")
    out = {}
    for cur, inc in v.items():
        if not isinstance(inc, str) or not re.fullmatch(r"\d+(\.\d+)?", inc.strip()):
            raise SettingError(f"{key}.{cur}: expected a decimal in quotes like \"0.05\", "
                               f"got {inc!r}")
        out[cur] = inc.strip()
    return out


def _iban(key, v):
    from stdnum import iban
    from stdnum.exceptions import ValidationError
    if not isinstance(v, str):
        raise SettingError(f"{key}: expected an IBAN in quotes, got {v!r}")
    try:
        return iban.compact(iban.validate(v))
    except ValidationError as err:
        raise SettingError(f"{key}: not a valid IBAN ({err.message}): {v!r}") from None


def _qr_iban(key, v):
    number = _iban(key, v)
    if number[:2] not in ("CH", "LI") or not 30000 <= int(number[4:9]) <= 31999:
        raise SettingError(f"{key}: not a QR-IBAN (a Swiss or Liechtenstein IBAN whose bank "
                           f"number is 30000–31999): {v!r}")
    return number


def _address(key, v):
    needed = ("street", "postal_code", "city", "country")
    if not isinstance(v, dict) or any(not isinstance(v.get(k), str) or not v[k].strip()
                                      for k in needed):
        raise SettingError(f"{key}: expected a table with {', '.join(needed)} (and optional "
                           f"house_number), got {v!r}")
    unknown = sorted(set(v) - {*needed, "house_number"})
    if unknown:
        raise SettingError(f"{key}.{unknown[0]}: unknown field")
    return {k: str(val).strip() for k, val in v.items()}


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    example: str
    parse: Callable[[str, Any], Any]
    help: str


REQUIRED = object()

#: dates that can decide a line's tax rate (the line's own; a missing one: the invoice date)
TAX_RATE_DATES = ("service_begin", "service_end", "order_date", "invoice_date")
#: dates that can decide the invoice's tax period
TAX_PERIOD_DATES = ("invoice_date", "service_end", "service_begin", "order_date")
#: the deprecated ``tax_date_basis`` and the ``tax_rate_date`` each of its values means
_TAX_DATE_BASIS = {"service_date": "service_begin", "order_date": "order_date",
                   "invoice_date": "invoice_date"}

SETTINGS: tuple[Setting, ...] = (
    Setting("code", REQUIRED, '"100"', _text, "financial company code in the ERP"),
    Setting("name", REQUIRED, '"Bildungszentrum AG"', _text, "company name"),
    Setting("country", "CH", '"CH"', _text, "company country (ISO alpha-2)"),
    Setting("language", "de", '"de"', _choice("de", "en"), "workbook language"),
    Setting("home_currencies", REQUIRED, '["CHF", "EUR"]', _currency_list,
            "1 to 3 home currencies, the first is the local one"),
    Setting("invoice_number_prefix", "RE", '"RE"', _text, "prefix of invoice numbers"),
    Setting("fiscal_year_start_month", 1, "1", _int_range(1, 12),
            "month the fiscal year starts in"),
    Setting("tax_period", "quarter", '"quarter"', _choice("month", "quarter", "half_year"),
            "length of a tax (VAT) period"),
    Setting("tax_rate_date", "service_begin", '"service_begin"',
            _choice(*TAX_RATE_DATES),
            "which date decides a line's tax rate; a missing date falls back to the invoice date"),
    Setting("tax_period_date", "invoice_date", '"invoice_date"',
            _choice(*TAX_PERIOD_DATES),
            "which date decides the invoice's tax date and tax (VAT) period (latest of its "
            "lines; a missing date falls back to the invoice date)"),
    Setting("tax_date_basis", None, '"service_date"',
            _choice(*_TAX_DATE_BASIS),
            "deprecated: the old name of tax_rate_date (service_date = service_begin); it "
            "never decides the tax period"),
    Setting("default_payment_terms", "N30", '"N30"', _text,
            "payment terms code for customers without their own"),
    Setting("default_exchange_rate_type", "ECB", '"ECB"', _text,
            "exchange rate type for customers without their own"),
    Setting("combine", True, "true", _bool,
            "combine a customer's bookings into one invoice (else one invoice per booking)"),
    Setting("tax_rounding", "invoice", '"invoice"', _choice("invoice", "line"),
            "round tax once per invoice and tax code, or per line"),
    Setting("rounding", "half_up", '"half_up"', _choice("half_up", "half_even"),
            "how every rounding rule rounds an exact half: away from zero, or to even (as "
            "the receiving ERP does)"),
    Setting("deferrals", False, "false", _bool,
            "write the sheet Abgrenzung / Deferrals: each line's net spread over the months of "
            "its service period"),
    Setting("prices_include_tax", False, "false", _bool,
            "OpenOlat prices are gross (tax included) instead of net"),
    Setting("billable_statuses", ("NEW", "PREPAYMENT", "PAYED"), '["NEW", "PREPAYMENT", "PAYED"]',
            _status_list, "booking statuses that bill the price"),
    Setting("max_rate_age_days", 10, "10", _int_range(0, 3660),
            "an exchange rate older than this on its date is flagged"),
    Setting("cash_rounding", {}, '{ CHF = "0.05" }', _increments,
            "rounding increment of the invoice amount per currency (none: off)"),
    Setting("written_off", "credit", '"credit"', _choice("credit", "keep"),
            "an order written off after billing: credit its invoice, or keep the invoice"),
    Setting("iban", None, '"CH93 0076 2011 6238 5295 7"', _iban,
            "creditor IBAN the customers pay into (checked, check digits included)"),
    Setting("qr_iban", None, '"CH44 3199 9123 0008 8901 2"', _qr_iban,
            "QR-IBAN: when set, invoices get QR references instead of RF creditor references"),
    Setting("qr_bill", False, "false", _bool,
            "write a Swiss QR-bill (SVG) per CHF/EUR invoice beside the workbook"),
    Setting("price_format", "detect", '"detect"',
            _choice("detect", "plain", "apostrophePoint", "pointComma", "commaPoint",
                    "spacePoint", "spaceComma"),
            "how OpenOlat writes amounts (its PriceAmountFormat: apostrophePoint 1'250.00, "
            "pointComma 1.250,00, commaPoint 1,250.00, spacePoint 1 250.00, spaceComma "
            "1 250,00; plain 1250.00 before 2025); detect: each file's own"),
    Setting("address", None, '{ street = "Bahnhofstrasse", house_number = "1", '
            'postal_code = "8001", city = "Zürich", country = "CH" }', _address,
            "structured creditor address for QR-bills"),
    Setting("unknown_customer", "address_id", '"address_id"', _choice("address_id", "reject"),
            "a billing address without a customers.csv entry: bill it under its address id "
            "(counted on the Reconciliation sheet and in the summary) or reject its rows"),
)


def _defaults_from_table(cls):
    """``cls`` as a frozen dataclass whose field defaults are the ones :data:`SETTINGS` gives,
    so each default is written once. Every field must be a setting; a mutable default (a
    table) is copied for each instance."""
    table = {s.name: s for s in SETTINGS}
    for name in cls.__annotations__:
        if name not in table:
            raise TypeError(f"Settings.{name} is not in SETTINGS")
        default = table[name].default
        if default is REQUIRED:
            continue
        if isinstance(default, (dict, list, set)):
            setattr(cls, name, field(default_factory=lambda d=default: copy.deepcopy(d)))
        else:
            setattr(cls, name, default)
    return dataclass(frozen=True)(cls)


@_defaults_from_table
class Settings:
    """One company's settings; each field's default is its row's in :data:`SETTINGS`."""
    code: str
    name: str
    home_currencies: tuple[str, ...]
    country: str
    language: str
    invoice_number_prefix: str
    fiscal_year_start_month: int
    tax_period: str
    tax_rate_date: str
    tax_period_date: str
    default_payment_terms: str
    default_exchange_rate_type: str
    combine: bool
    tax_rounding: str
    rounding: str
    deferrals: bool
    prices_include_tax: bool
    billable_statuses: tuple[str, ...]
    max_rate_age_days: int
    cash_rounding: dict
    written_off: str
    iban: str | None
    qr_iban: str | None
    qr_bill: bool
    address: dict | None
    price_format: str
    unknown_customer: str

    @property
    def tax_date_basis(self) -> str:
        """The rate date under its deprecated name, for code that still reads it."""
        old = {v: k for k, v in _TAX_DATE_BASIS.items()}
        return old.get(self.tax_rate_date, self.tax_rate_date)


def parse_settings(table: dict) -> Settings:
    """Settings from the ``[company]`` table; unknown keys are errors (a typo is not ignored)."""
    known = {s.name for s in SETTINGS}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SettingError(f"{unknown[0]}: unknown setting (known: {', '.join(sorted(known))})")
    values = {}
    for s in SETTINGS:
        if s.name in table:
            values[s.name] = s.parse(s.name, table[s.name])
        elif s.default is REQUIRED:
            raise SettingError(f"{s.name}: required setting is missing (example: "
                               f"{s.name} = {s.example})")
    if "tax_date_basis" in values:
        # deprecated alias: it named the rate date, and the period followed it; the period
        # now has a setting of its own (tax_period_date, default the invoice date)
        if "tax_rate_date" in values:
            raise SettingError("tax_date_basis: deprecated name of tax_rate_date; set only "
                               "tax_rate_date")
        values["tax_rate_date"] = _TAX_DATE_BASIS[values.pop("tax_date_basis")]
    if values.get("qr_bill") and not (values.get("qr_iban") or values.get("iban")):
        raise SettingError("qr_bill: needs iban or qr_iban (the account on the QR-bill)")
    if values.get("qr_bill") and not values.get("address"):
        raise SettingError("qr_bill: needs address (QR-bills carry structured addresses only)")
    return Settings(**values)


@dataclass(frozen=True)
class RunParameters:
    """What one run is asked to do; part of the run id, so the same parameters give the same
    workbook."""
    invoice_date: dt.date
    cutoff_date: dt.date
    language: str = "de"
    exchange_rate_date: dt.date | None = None
    draft: bool = True
