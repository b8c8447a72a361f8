"""Payment slip references ("Referenznummer Zahlschein"): QR reference or RF creditor reference.

A company paid into a QR-IBAN gets a 27-digit QR reference (26 digits and a modulo-10-recursive
check digit, Swiss Payment Standards); any other gets an ISO 11649 creditor reference
(``RF`` + two check digits + up to 21 letters and digits). Both derive from the company code and
the invoice number alone, so they are deterministic, and are unique per company because the
encoding below is one-to-one for the numbers billing-export gives:

- QR: ``[company: 6 digits][kind: 1][body: 19]`` — kind 1 is a final number
  ``PREFIX-YYYY-NNNNNN`` (body: prefix as three base-36 pairs, year, sequence in 9 digits), kind 2
  a provisional ``P-<run hex>-NNNNN`` (body: the run id as a 14-digit number, sequence in 5).
- RF: company code, then the invoice number without its dashes; letters and digits
  keep their place, and the dash positions are fixed by the number format.

>>> qr_reference("100", "RE-2026-000017")
'000100100271420260000000175'
>>> format_reference(qr_reference("100", "RE-2026-000017"))
'00 01001 00271 42026 00000 00175'
>>> rf_reference("100", "RE-2026-000017")
'RF97100RE2026000017'
"""

from __future__ import annotations

import re

import pandas as pd
from stdnum import iso11649
from stdnum.ch import esr
from stdnum.iso7064 import mod_97_10

_FINAL = re.compile(r"^([A-Z0-9]{1,3})-(\d{4})-(\d{1,9})$")
_DRAFT = re.compile(r"^P-([0-9A-F]{1,11})-(\d{1,5})$")


class ReferenceError_(ValueError):
    """An invoice number or company code that has no payment reference encoding."""


def _company_digits(code: str) -> str:
    if not code.isdigit() or len(code) > 6:
        raise ReferenceError_(f"company code {code!r}: a QR reference needs a code of at most 6 "
                              "digits")
    return code.zfill(6)


def _base36_pairs(prefix: str) -> str:
    return "".join(f"{int(ch, 36):02d}" for ch in prefix.rjust(3, "0"))


def qr_reference(company: str, invoice_number: str) -> str:
    """The 27-digit QR reference of one invoice (without spaces)."""
    m = _FINAL.match(invoice_number)
    if m:
        body = "1" + _base36_pairs(m.group(1)) + m.group(2) + m.group(3).zfill(9)
    else:
        d = _DRAFT.match(invoice_number)
        if not d:
            raise ReferenceError_(f"invoice number {invoice_number!r} has no QR reference encoding")
        body = "2" + str(int(d.group(1), 16)).zfill(14) + d.group(2).zfill(5)
    payload = _company_digits(company) + body
    return payload + esr.calc_check_digit(payload)


def rf_reference(company: str, invoice_number: str) -> str:
    """The ISO 11649 creditor reference of one invoice (without spaces)."""
    body = (company + invoice_number.replace("-", "")).upper()
    if not re.fullmatch(r"[A-Z0-9]{1,21}", body):
        raise ReferenceError_(f"{company} {invoice_number}: a creditor reference holds at most 21 "
                              "letters and digits")
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def format_reference(reference: str) -> str:
    """The printed grouping: QR in 2 + 5×5 digits, RF in groups of four."""
    if reference.startswith("RF"):
        return iso11649.format(reference)
    return esr.format(reference)


def assign(invoices: pd.DataFrame, company: str, qr: bool) -> pd.Series:
    """Printed payment reference per invoice; credit notes get none (nothing is paid)."""
    make = qr_reference if qr else rf_reference
    payable = invoices["document_type"] != "credit_note"
    refs = [format_reference(make(company, n)) if p else None
            for n, p in zip(invoices["invoice_number"], payable)]
    return pd.Series(refs, index=invoices.index, dtype="object")
