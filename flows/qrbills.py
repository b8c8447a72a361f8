"""Swiss QR-bills (payment part, SVG) per invoice, delivered in a folder beside the workbook.

Written with the ``qrbill`` package, structured addresses only (type S, mandatory since
November 2025): the creditor's from ``[company.address]``, the debtor's from the billing
address (address line 1 as street, ZIP, city, country). Only CHF and EUR invoices can carry a
QR-bill; credit notes and invoices whose address lacks ZIP, city or country get none, and are
listed with the reason in the manifest. So is an invoice whose billing address a QR-bill
cannot carry (city over 35 characters, postal code over 16, a country that is no ISO code, a
control character, an amount over 999 999 999.99): :func:`plan` names the reason before
anything is drawn, and the Reconciliation sheet lists these invoices under the flags.

qrbill alone took 30 ms an invoice (two minutes at 4,000 invoices), nearly all of it in the
pure-Python ``qrcode`` encoder, the rest in svgwrite. So the QR code is encoded by zxing-cpp
(C++; UTF-8 bytes in byte mode, no ECI, error correction M, as qrbill does), and the slip
is qrbill's own drawing made once per layout and filled in per invoice (:class:`Slips`, in
:mod:`flows.qr_slips`, imported only by a run that writes QR-bills).
zxing-cpp may choose another mask and QR version than ``qrcode``: the squares differ, the
payload does not. ``tests/test_qrbills.py`` decodes both codes and compares the rest of the
SVG with qrbill's byte for byte; ``benchmarks/qrbills.py`` times the two.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from typing import TYPE_CHECKING

import pandas as pd
from iso3166 import countries

from transforms.minor_units import exponent
from transforms.money import to_decimal

if TYPE_CHECKING:
    import qrbill

#: the drawing's names, read from :mod:`flows.qr_slips` when first asked for (PEP 562)
_DRAWING = ("FastQRBill", "Slips", "qr_matrix", "svg_text")


def __getattr__(name: str):
    if name in _DRAWING:
        from . import qr_slips
        return getattr(qr_slips, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v)


def folder_name(workbook_name: str) -> str:
    return Path(workbook_name).stem + ".qrbills"


#: qrbill's limits for a structured address (its StructuredAddress checks), in characters
DEBTOR_LIMITS = {"name": 70, "street": 70, "pcode": 16, "city": 35}
_NAMES = {"name": "name", "street": "address line 1", "pcode": "ZIP", "city": "city",
          "country": "country"}
#: control characters break the slip's XML and the QR payload's line structure
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_MAX_QR_MINOR = 99_999_999_999  # 999 999 999.99, the largest amount a QR-bill carries


def _debtor(inv: dict) -> dict:
    return {"name": _text(inv["invoice_to_name"])[:70],
            "street": _text(inv["address_line_1"])[:70], "pcode": _text(inv["zip"]),
            "city": _text(inv["city"]), "country": _text(inv["country"])}


def why_not(inv: dict, debtor: dict) -> str | None:
    """Why this invoice gets no QR-bill (None: it gets one). Every check ``qrbill`` makes on
    a debtor and an amount is made here first, so that no invoice's data stops a run."""
    if inv["currency"] not in ("CHF", "EUR"):
        return f"currency {inv['currency']} (QR-bills are CHF or EUR)"
    missing = [k for k in ("name", "pcode", "city", "country") if not debtor[k].strip()]
    if missing:
        return "billing address without " + ", ".join(missing)
    for k, v in debtor.items():
        if _CONTROL.search(v):
            return f"billing address {_NAMES[k]} holds a control character"
    for k, n in DEBTOR_LIMITS.items():
        if len(debtor[k].strip()) > n:
            return f"billing address {_NAMES[k]} longer than {n} characters (QR-bill limit)"
    country = debtor["country"].strip()
    if country.lower() not in ("schweiz", "suisse", "svizzera", "svizra",
                               "fürstentum liechtenstein") and country not in countries:
        return f"billing address country {country!r} is not an ISO 3166 code"
    amount = int(inv["invoice_amount"])
    if not 0 <= amount <= _MAX_QR_MINOR:
        return "invoice amount outside 0 to 999 999 999.99 (QR-bill limit)"
    return None


#: the columns of an invoice that its QR-bill reads (plan, why_not, new_bill)
_USED = ("invoice_number", "document_type", "currency", "invoice_amount", "payment_reference",
         "invoice_to_name", "address_line_1", "zip", "city", "country")


def plan(invoices: pd.DataFrame) -> tuple[list[tuple[dict, dict]], dict[str, str]]:
    """The invoices that get a QR-bill ``[(invoice, debtor)]`` and the others' reasons
    ``{invoice_number: reason}``; credit notes are neither."""
    todo, skipped = [], {}
    used = [c for c in _USED if c in invoices]  # a row as a dict: 69 columns cost 10x as much
    for inv in invoices[used].to_dict(orient="records"):
        if inv["document_type"] == "credit_note":
            continue
        debtor = _debtor(inv)
        reason = why_not(inv, debtor)
        if reason:
            skipped[inv["invoice_number"]] = reason
        else:
            todo.append((inv, debtor))
    return todo, skipped


def data_skips(skipped: dict[str, str]) -> dict[str, str]:
    """The skips that the billing address or amount caused (not the currency): the ones the
    Reconciliation sheet lists."""
    return {n: r for n, r in skipped.items() if not r.startswith("currency ")}


def new_bill(inv: dict, debtor: dict, account: str, creditor: dict, language: str,
             cls=None) -> qrbill.QRBill:
    """The bill of one invoice, a :class:`flows.qr_slips.FastQRBill` unless ``cls`` says."""
    if cls is None:
        from .qr_slips import FastQRBill
        cls = FastQRBill
    reference = _text(inv["payment_reference"]).replace(" ", "") or None
    return cls(account=account, creditor=creditor, debtor=debtor,
               amount=str(to_decimal(inv["invoice_amount"], exponent(inv["currency"]))),
               currency=inv["currency"], reference_number=reference,
               additional_information=f"{inv['invoice_number']}", language=language)


def creditor_of(settings) -> dict:
    a = settings.address
    return {"name": settings.name[:70], "street": a["street"],
            "house_num": a.get("house_number", ""), "pcode": a["postal_code"],
            "city": a["city"], "country": a["country"]}


def write_qr_bills(folder: Path, invoices: pd.DataFrame, settings, language: str,
                   planned: tuple[list, dict] | None = None) -> dict:
    """Write one SVG per eligible invoice into ``folder``; returns ``{"files": {name: sha256},
    "skipped": {invoice_number: reason}}``. ``planned``: :func:`plan` of ``invoices``, where
    the caller has it already."""
    folder.mkdir(parents=True, exist_ok=True)
    account = settings.qr_iban or settings.iban
    creditor = creditor_of(settings)
    todo, skipped = planned if planned is not None else plan(invoices)
    skipped = dict(skipped)
    files = {}
    from .qr_slips import Slips
    slips = Slips()
    for inv, debtor in todo:
        number = inv["invoice_number"]
        try:
            data = slips.svg(new_bill(inv, debtor, account, creditor, language)).encode("utf-8")
        except ValueError as err:  # a check of qrbill's that plan() does not make
            skipped[number] = f"not a valid QR-bill: {err}"
            continue
        path = folder / f"{number}.svg"
        path.write_bytes(data)
        files[path.name] = hashlib.sha256(data).hexdigest()
    return {"files": files, "skipped": skipped}


def place_folder(staged: Path, final: Path) -> None:
    """Move a finished QR-bill folder into the outbox in one rename; an identical folder there
    already is kept, a different one is never replaced."""
    if final.exists():
        same = sorted(p.name for p in final.iterdir()) == sorted(p.name for p in staged.iterdir())
        same = same and all((final / p.name).read_bytes() == p.read_bytes()
                            for p in staged.iterdir())
        shutil.rmtree(staged)
        if not same:
            from .outbox import DeliveryError
            raise DeliveryError(f"{final}: a different QR-bill folder is already in the outbox")
        return
    for p in staged.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())
    os.rename(staged, final)
