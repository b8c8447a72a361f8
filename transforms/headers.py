"""Find the canonical fields among an export's headers, German or English, in any order.

Headers are compared without case, surrounding spaces or repeated spaces (OpenOlat's German
"Kennzeichen " carries a trailing space). The first "Kennzeichen"/"Ext. ref." is the product's,
the second the implementation's; columns nobody needs (user properties, course progress) are
ignored.

>>> m = map_headers(["Buchungsnummer", "Kennzeichen ", "Ext. ref.", "Preis", "Foo"])
>>> m.columns
{0: 'booking_number', 1: 'product_ref', 2: 'implementation_ref', 3: 'price'}
>>> sorted(m.missing)
['billing_address_id', 'booking_status', 'order_date']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.booking_order import EXT_REF_HEADERS, EXT_REF_IDS, HEADERS, REQUIRED


def _norm(text) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip().casefold()


_LOOKUP = {_norm(h): cid for cid, hs in HEADERS.items() for h in hs}
_EXT = {_norm(h) for h in EXT_REF_HEADERS}


@dataclass(frozen=True)
class HeaderMap:
    columns: dict[int, str]
    missing: tuple[str, ...]
    ignored: tuple[str, ...]
    duplicates: tuple[str, ...]


def map_headers(headers: list) -> HeaderMap:
    columns: dict[int, str] = {}
    ignored, duplicates = [], []
    ext_seen = 0
    for i, h in enumerate(headers):
        key = _norm(h)
        if key in _EXT:
            if ext_seen < len(EXT_REF_IDS):
                columns[i] = EXT_REF_IDS[ext_seen]
            ext_seen += 1
            continue
        cid = _LOOKUP.get(key)
        if cid is None:
            if key:
                ignored.append(str(h))
            continue
        if cid in columns.values():
            duplicates.append(str(h))
            continue
        columns[i] = cid
    missing = tuple(c for c in REQUIRED if c not in columns.values())
    return HeaderMap(columns, missing, tuple(ignored), tuple(duplicates))


def required_headers(cid: str) -> str:
    """The German / English header a user should add for a missing field."""
    return " / ".join(HEADERS[cid][:2])
