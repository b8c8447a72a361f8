"""QR-bills: the fast SVGs are qrbill's own, and an address a QR-bill cannot carry is
found before qrbill is asked.

Three claims, each against qrbill itself rather than our own expectations:
* :class:`flows.qrbills.Slips` (templates filled in) writes exactly the bytes that
  ``FastQRBill.as_svg`` (qrbill's drawing, svgwrite) writes;
* that SVG equals qrbill's ``QRBill.as_svg`` (the implementation before, QR code from the
  ``qrcode`` package) except for the QR squares, and both QR codes decode to the same payload
  (qrbill's ``qr_data()``, UTF-8, no ECI);
* :func:`flows.qrbills.why_not` refuses exactly what qrbill refuses, at each limit.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
import qrbill
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import qrbills
from tests.conftest import SAMPLE, examples
from transforms.payment_reference import format_reference, qr_reference, rf_reference

QR_IBAN = "CH4431999123000889012"
IBAN = "CH9300762011623852957"
CREDITOR = {"name": "Bildungszentrum Beispiel AG", "street": "Bahnhofstrasse", "house_num": "1",
            "pcode": "8001", "city": "Zürich", "country": "CH"}
_PATH = re.compile(r'<path d="([^"]*)"[^>]*id="qr-path"|<path d="(M[0-9][^"]*)"')


def invoice(i: int, **over) -> dict:
    number = f"RE-2026-{i:05d}"
    inv = {"invoice_number": number, "document_type": "invoice", "currency": "CHF",
           "invoice_to_name": "Isarwerk Maschinenbau GmbH", "address_line_1": "Leopoldstraße 144",
           "zip": "80804", "city": "München", "country": "DE", "invoice_amount": 123_450,
           "payment_reference": format_reference(qr_reference("100", number))}
    inv.update(over)
    return inv


CASES = [
    invoice(1),
    invoice(2, currency="EUR", invoice_amount=5),
    invoice(3, invoice_to_name="Stiftung für Bildung & Kultur <Weiterbildung> \"Kurse\" 'B'",
            address_line_1="Avenue de la Gare 12 – Bâtiment C, Étage 4, Büro 401 und 402"),
    invoice(4, invoice_to_name="N" * 70, address_line_1="S" * 70, city="C" * 35,
            zip="1" * 16),
    invoice(5, invoice_to_name="Ein sehr langer Firmenname mit vielen Wörtern, der umbricht AG",
            invoice_amount=99_999_999_999),
    invoice(6, address_line_1="", country="CH", zip="3011", city="Bern"),
    invoice(7, invoice_to_name="😀 Emoji GmbH", city="Zürich-Oerlikon"),
    invoice(8, invoice_to_name="@@0@@ and @@Q@@ are text", invoice_amount=0),
]


def bills(cases, cls, account=QR_IBAN, language="de"):
    out = []
    for inv in cases:
        if account != QR_IBAN:
            inv = {**inv, "payment_reference": rf_reference("100", inv["invoice_number"])}
        debtor = qrbills._debtor(inv)
        assert qrbills.why_not(inv, debtor) is None
        out.append(qrbills.new_bill(inv, debtor, account, CREDITOR, language, cls=cls))
    return out


def matrix_of(svg: str) -> np.ndarray:
    """The QR modules drawn in an SVG's QR path (unit squares ``M{x},{y}H..V..H..z``)."""
    d = next(m.group(1) or m.group(2) for m in _PATH.finditer(svg))
    xy = np.array(re.findall(r"M([0-9]+),([0-9]+)H", d), dtype=int)
    n = int(xy.max()) + 1  # finder patterns reach the last row and column
    dark = np.zeros((n, n), dtype=bool)
    dark[xy[:, 1], xy[:, 0]] = True
    return dark


def decode(dark: np.ndarray) -> zxingcpp.Barcode:
    img = np.where(dark, 0, 255).astype(np.uint8)
    img = np.pad(np.kron(img, np.ones((4, 4), dtype=np.uint8)), 16, constant_values=255)
    found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1
    return found[0]


def without_qr_path(svg: str) -> str:
    """The SVG less its QR path element (squares and their scale: the two encoders may pick
    different QR versions, both drawn 45.8 mm wide)."""
    return re.sub(r'<path d="M[0-9][^"]*"[^>]*>', "<qr/>", svg)


def qr_mm(svg: str) -> float:
    """How wide the QR code is drawn, in mm."""
    tag = re.search(r'<path d="M[0-9][^"]*"[^>]*>', svg).group()
    scale = float(re.search(r"scale\(([0-9.]+)\)", tag).group(1))
    return round(scale * matrix_of(svg).shape[0] / qrbill.bill.MM_TO_UU, 3)


@pytest.mark.parametrize("account,language", [(QR_IBAN, "de"), (IBAN, "en"), (QR_IBAN, "fr")])
def test_templated_slips_are_byte_identical_to_qrbills_drawing(account, language):
    slips = qrbills.Slips()
    for bill in bills(CASES, qrbills.FastQRBill, account, language):
        assert slips.svg(bill) == qrbills.svg_text(bill)
    assert 1 < len(slips.layouts) < len(CASES)  # templates are shared, and told apart


@pytest.mark.parametrize("account", [QR_IBAN, IBAN])
def test_same_slip_as_before_and_qr_codes_decode_to_the_same_payload(account):
    slips = qrbills.Slips()
    for new, old in zip(bills(CASES, qrbills.FastQRBill, account),
                        bills(CASES, qrbill.QRBill, account)):
        fast, before = slips.svg(new), qrbills.svg_text(old)
        ElementTree.fromstring(fast.encode())  # well-formed
        assert without_qr_path(fast) == without_qr_path(before)
        payload = old.qr_data().encode("utf-8")
        for svg in (fast, before):
            code = decode(matrix_of(svg))
            assert code.bytes == payload
            assert code.symbology_identifier == "]Q1"  # QR model 2, no ECI
            assert code.ec_level == "M"
        assert qr_mm(fast) == qr_mm(before) == 45.8


_FIELDS = {"invoice_to_name": 70, "address_line_1": 70, "zip": 16, "city": 35}


@settings(max_examples=examples(0.3), deadline=None, derandomize=True)
@given(field=st.sampled_from([*_FIELDS, "country"]),
       value=st.one_of(st.text(max_size=40), st.sampled_from(
           ["", " ", "X" * 35, "X" * 36, "X" * 70, "X" * 71, "1" * 16, "1" * 17, "CH", "che",
            "Schweiz", "Germany", "Deutschland", "XX", "a\x01b", "a\nb", "a\rb", "\x7f"])),
       amount=st.sampled_from([0, 1, 123_450, 99_999_999_999, 100_000_000_000, -5]))
def test_why_not_refuses_what_qrbill_refuses(field, value, amount):
    inv = invoice(9, **{field: value}, invoice_amount=amount)
    debtor = qrbills._debtor(inv)
    reason = qrbills.why_not(inv, debtor)
    try:
        bill = qrbills.new_bill(inv, debtor, QR_IBAN, CREDITOR, "de", cls=qrbill.QRBill)
        qrbill_ok = True
    except ValueError:
        qrbill_ok = False
    if not qrbill_ok:
        assert reason is not None  # never a ValueError from qrbill in a run
    elif reason is None:
        svg = qrbills.Slips().svg(qrbills.new_bill(inv, debtor, QR_IBAN, CREDITOR, "de"))
        ElementTree.fromstring(svg.encode())
        assert decode(matrix_of(svg)).bytes == bill.qr_data().encode()
    else:  # refused although qrbill would draw it: a control character (it breaks the
        # slip's XML or the payload's lines), or no country (qrbill would assume CH)
        assert "control character" in reason or reason == "billing address without country"


def test_plan_names_each_reason_and_leaves_credit_notes_out():
    frame = pd.DataFrame([invoice(1), invoice(2, city="Y" * 36), invoice(3, currency="USD"),
                          invoice(4, document_type="credit_note"), invoice(5, zip=""),
                          invoice(6, country="Atlantis"), invoice(7, invoice_to_name="A\x0bB"),
                          invoice(8, invoice_amount=100_000_000_000)])
    todo, skipped = qrbills.plan(frame)
    assert [inv["invoice_number"] for inv, _ in todo] == ["RE-2026-00001"]
    assert skipped == {
        "RE-2026-00002": "billing address city longer than 35 characters (QR-bill limit)",
        "RE-2026-00003": "currency USD (QR-bills are CHF or EUR)",
        "RE-2026-00005": "billing address without pcode",
        "RE-2026-00006": "billing address country 'Atlantis' is not an ISO 3166 code",
        "RE-2026-00007": "billing address name holds a control character",
        "RE-2026-00008": "invoice amount outside 0 to 999 999 999.99 (QR-bill limit)",
    }
    assert "RE-2026-00003" not in qrbills.data_skips(skipped)


def test_sample_qr_bills_are_valid_and_decode(run):
    result = run()
    folder = result.delivery.workbook.with_name(result.delivery.workbook.stem + ".qrbills")
    files = sorted(folder.iterdir())
    assert files
    for path in files[:5]:
        svg = path.read_text(encoding="utf-8")
        ElementTree.fromstring(svg.encode())
        text = decode(matrix_of(svg)).bytes.decode("utf-8")
        assert text.startswith("SPC\r\n0200\r\n1\r\nCH4431999123000889012\r\n")
        assert path.stem in text.split("\r\n")  # the invoice number, additional information
    assert SAMPLE.is_dir()
