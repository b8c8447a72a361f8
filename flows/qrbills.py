"""Swiss QR-bills (payment part, SVG) per invoice, delivered in a folder beside the workbook.

Written with the ``qrbill`` package, structured addresses only (type S, mandatory since
November 2025): the creditor's from ``[company.address]``, the debtor's from the billing
address (address line 1 as street, ZIP, city, country). Only CHF and EUR invoices can carry a
QR-bill; credit notes and invoices whose address lacks ZIP, city or country get none, and are
listed with the reason in the manifest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pandas as pd
import qrbill

from transforms.currencies import exponent
from transforms.money import to_decimal


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v)


def folder_name(workbook_name: str) -> str:
    return Path(workbook_name).stem + ".qrbills"


def write_qr_bills(folder: Path, invoices: pd.DataFrame, settings, language: str) -> dict:
    """Write one SVG per eligible invoice into ``folder``; returns ``{"files": {name: sha256},
    "skipped": {invoice_number: reason}}``."""
    folder.mkdir(parents=True, exist_ok=True)
    account = settings.qr_iban or settings.iban
    a = settings.address
    creditor = {"name": settings.name[:70], "street": a["street"],
                "house_num": a.get("house_number", ""), "pcode": a["postal_code"],
                "city": a["city"], "country": a["country"]}
    files, skipped = {}, {}
    for inv in invoices.to_dict(orient="records"):
        number = inv["invoice_number"]
        if inv["document_type"] == "credit_note":
            continue
        if inv["currency"] not in ("CHF", "EUR"):
            skipped[number] = f"currency {inv['currency']} (QR-bills are CHF or EUR)"
            continue
        debtor = {"name": _text(inv["invoice_to_name"])[:70],
                  "street": _text(inv["address_line_1"])[:70], "pcode": _text(inv["zip"]),
                  "city": _text(inv["city"]), "country": _text(inv["country"])}
        missing = [k for k in ("name", "pcode", "city", "country") if not debtor[k]]
        if missing:
            skipped[number] = "billing address without " + ", ".join(missing)
            continue
        reference = _text(inv["payment_reference"]).replace(" ", "") or None
        bill = qrbill.QRBill(
            account=account, creditor=creditor, debtor=debtor,
            amount=str(to_decimal(inv["invoice_amount"], exponent(inv["currency"]))),
            currency=inv["currency"], reference_number=reference,
            additional_information=f"{number}", language=language)
        path = folder / f"{number}.svg"
        with open(path, "w", encoding="utf-8") as f:
            bill.as_svg(f)
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
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
