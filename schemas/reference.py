"""Reference tables an accountant maintains as CSV (DESIGN.md §4): their columns and types.

Kinds: ``text`` (required), ``text?`` (may be blank), ``date``, ``date?``, ``percent`` (decimal
text, stored scaled by money.PERCENT_SCALE), ``percent?``, ``rate`` (scaled by
money.RATE_SCALE), ``int``, ``int?``, ``bool?`` (true/false/blank).

>>> TABLES["tax_codes"]["rate"]
'percent'
"""

from __future__ import annotations

TABLES: dict[str, dict[str, str]] = {
    "tax_codes": {
        "tax_code": "text", "country": "text?", "rate": "percent", "valid_from": "date",
        "valid_to": "date?", "description": "text?",
    },
    "tax_rules": {
        "cost_center": "text?", "product_ref": "text?", "country": "text?", "tax_code": "text",
        "description": "text?",
    },
    "exchange_rates": {
        "rate_type": "text", "from_currency": "text", "to_currency": "text", "valid_from": "date",
        "rate": "rate", "factor": "int",
    },
    "payment_terms": {
        "code": "text", "description": "text?", "net_days": "int",
        **{f"discount_{what}_{k}": kind for k in (1, 2, 3)
           for what, kind in (("days", "int?"), ("percent", "percent?"))},
    },
    "customers": {
        "billing_address_id": "text", "business_partner": "text", "payment_terms": "text?",
        "vat_id": "text?", "language": "text?", "exchange_rate_type": "text?", "combine": "bool?",
        "email": "text?",
    },
}

#: Tables a run cannot do without; customers.csv is optional.
REQUIRED_TABLES = ("tax_codes", "tax_rules", "exchange_rates", "payment_terms")

#: Keys that must be unique in a table.
KEYS = {
    "tax_codes": ("tax_code", "valid_from"),
    "exchange_rates": ("rate_type", "from_currency", "to_currency", "valid_from"),
    "payment_terms": ("code",),
    "customers": ("billing_address_id",),
}
