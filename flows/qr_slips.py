"""Swiss QR-bill slips drawn as ``qrbill`` draws them, at a fraction of its cost.

The drawing half of :mod:`flows.qrbills`, apart so that a run without QR-bills never imports
``qrbill`` and ``svgwrite`` (0.1 s: svgwrite compiles its SVG grammar on import). qrbill alone
took 30 ms an invoice, nearly all of it in the pure-Python ``qrcode`` encoder, the rest in
svgwrite: the QR code is encoded by zxing-cpp and the slip is qrbill's own drawing made once
per layout and filled in per invoice (:class:`Slips`).
"""

from __future__ import annotations

import functools
import io
import re

import numpy as np
import qrbill
import zxingcpp


@functools.cache
def _squares(n: int) -> np.ndarray:
    """The path of each module of an n x n code, row by row (as qrcode draws them)."""
    return np.array([f"M{c},{r}H{c + 1}V{r + 1}H{c}z" for r in range(n) for c in range(n)],
                    dtype=object)


class _Matrix:
    """A QR code's modules in the shape ``qrbill`` reads from ``qrcode``'s SvgPathImage: one
    ``<path>`` of unit squares, row by row, and the width in modules."""

    def __init__(self, dark: np.ndarray):
        self.width = n = int(dark.shape[0])
        self.d = "".join(_squares(n)[dark.ravel()].tolist())

    def save(self, buff) -> None:
        buff.write(f'<path d="{self.d}" id="qr-path" />'.encode())


def qr_matrix(text: str) -> np.ndarray:
    """Dark modules of the QR code for ``text``: error correction M, byte mode UTF-8, no ECI
    (as the Swiss payment standard and ``qrbill`` do)."""
    # bytes, not str: given text, zxing-cpp writes ISO 8859-1 where it can (ü as one byte)
    code = zxingcpp.create_barcode(text.encode("utf-8"), zxingcpp.BarcodeFormat.QRCode,
                                   ec_level="M")
    return np.asarray(code.to_image(scale=1, add_quiet_zones=False)) < 128


class FastQRBill(qrbill.QRBill):
    """qrbill's slip with the QR code encoded by zxing-cpp."""

    def qr_image(self):
        return _Matrix(qr_matrix(self.qr_data()))


_SLOT = re.compile(r"@@(Q|[0-9]+)@@")


class _Sketch:
    """Stands in for svgwrite's Drawing (and every element) while qrbill's ``draw_bill``
    runs: it notes each call, and the texts apart. Two bills whose notes are equal differ in
    their texts and QR squares only, so one SVG made by svgwrite serves both, its texts
    filled in (:class:`Slips`). A call this class does not know fails loudly
    (AttributeError), so a change in qrbill's drawing cannot pass unnoticed."""

    def __init__(self):
        self.calls: list = []
        self.texts: list[str] = []

    def _note(self, name, args, kwargs):
        self.calls.append((name, args, tuple(kwargs.items())))
        return self

    def text(self, value, *args, **kwargs):
        self.texts.append(value)
        return self._note("text", args, kwargs)

    def add(self, element):
        if element is not self:
            raise TypeError("qrbill added an element the sketch did not make")
        self.calls.append(("add",))
        return self

    def g(self, *args, **kwargs):
        return self._note("g", args, kwargs)

    def line(self, *args, **kwargs):
        return self._note("line", args, kwargs)

    def path(self, *args, **kwargs):
        return self._note("path", args, kwargs)

    def rect(self, *args, **kwargs):
        return self._note("rect", args, kwargs)

    def polygon(self, *args, **kwargs):
        return self._note("polygon", tuple(_frozen(a) for a in args),
                          {k: _frozen(v) for k, v in kwargs.items()})

    def translate(self, *args, **kwargs):
        return self._note("translate", args, kwargs)

    def scale(self, *args, **kwargs):
        return self._note("scale", args, kwargs)

    def rotate(self, *args, **kwargs):
        return self._note("rotate", args, kwargs)


def _frozen(value):
    """A polygon's points as a key (tuples, not lists)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


class _Placeholders(FastQRBill):
    """The bill drawn by svgwrite with numbered placeholders for its texts and QR path."""

    def qr_image(self):
        m = super().qr_image()
        m.d = "@@Q@@"
        return m

    def draw_bill(self, dwg, horiz_scissors=True):
        real, texts = dwg.text, []

        def text(value, *args, **kwargs):
            texts.append(value)
            return real(f"@@{len(texts) - 1}@@", *args, **kwargs)
        dwg.text = text
        return super().draw_bill(dwg, horiz_scissors)


class Slips:
    """QR-bill SVGs as qrbill draws them, at a fraction of the cost: qrbill's ``draw_bill``
    runs against a :class:`_Sketch`, and the SVG svgwrite made once for that layout (same
    calls, other texts) gets this bill's texts (XML-escaped, as ElementTree writes them) and
    QR squares. ``tests/test_qrbills.py`` holds the result equal, byte for byte, to
    ``FastQRBill.as_svg``."""

    def __init__(self):
        self.layouts: dict = {}

    def svg(self, bill: FastQRBill) -> str:
        matrix = _Matrix(qr_matrix(bill.qr_data()))
        sketch = _Sketch()
        bill.qr_image = lambda: _Stub(matrix.width)
        try:
            bill.draw_bill(sketch, horiz_scissors=True)
        finally:
            del bill.qr_image
        key = (matrix.width, tuple(sketch.calls))
        template = self.layouts.get(key)
        if template is None:
            draft = _Placeholders.__new__(_Placeholders)
            draft.__dict__.update(bill.__dict__)
            template = self.layouts[key] = svg_text(draft)
        texts = sketch.texts

        def fill(m):
            slot = m.group(1)
            return matrix.d if slot == "Q" else _escape_text(str(texts[int(slot)]))
        return _SLOT.sub(fill, template)


class _Stub:
    """The QR image as the sketch needs it: its width; the squares are filled in later."""

    def __init__(self, width: int):
        self.width = width

    def save(self, buff) -> None:
        buff.write(b'<path d="@@Q@@" id="qr-path" />')


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_text(bill: qrbill.QRBill) -> str:
    out = io.StringIO()
    bill.as_svg(out)
    return out.getvalue()
