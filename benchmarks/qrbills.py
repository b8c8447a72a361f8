"""Time the QR-bill SVGs of 4,000 invoices (the invoices of about 100k orders), side by side
with the implementation before zxing-cpp and the templates (``qrbill``'s own ``QRBill``,
whose QR code comes from the pure-Python ``qrcode`` package).

Run: ``python benchmarks/qrbills.py`` (``--invoices 4000 --baseline 400``). The baseline takes
about 30 ms an invoice, so by default it renders a tenth of the invoices and the figures are
compared per invoice; ``--baseline 4000`` times it on all of them. Both write into a
temporary folder in the same process, one after the other.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import qrbill

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows import qrbills  # noqa: E402
from flows.config import load_config  # noqa: E402
from transforms.payment_reference import format_reference, qr_reference  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def invoices(n: int) -> pd.DataFrame:
    """``n`` invoices with the sample's kind of addresses, amounts and QR references."""
    names = ["Isarwerk Maschinenbau GmbH", "Gemeinde Wädenswil", "Müller & Söhne AG",
             "Stiftung Bildung für alle – Abteilung Weiterbildung und Kurse"]
    cities = [("80804", "München", "DE"), ("8820", "Wädenswil", "CH"), ("3011", "Bern", "CH"),
              ("1003", "Lausanne", "CH")]
    rows = []
    for i in range(n):
        number = f"RE-2026-{i + 1:05d}"
        pcode, city, country = cities[i % len(cities)]
        rows.append({
            "invoice_number": number, "document_type": "invoice",
            "currency": "CHF" if i % 3 else "EUR", "invoice_to_name": names[i % len(names)],
            "address_line_1": f"Bahnhofstrasse {i % 200 + 1}", "zip": pcode, "city": city,
            "country": country, "invoice_amount": 12_345 + 997 * i,
            "payment_reference": format_reference(qr_reference("100", number)),
        })
    return pd.DataFrame(rows)


def baseline(folder: Path, frame: pd.DataFrame, settings, language: str) -> None:
    """What write_qr_bills did before: qrbill.QRBill, one as_svg per invoice."""
    account = settings.qr_iban or settings.iban
    creditor = qrbills.creditor_of(settings)
    for inv, debtor in qrbills.plan(frame)[0]:
        bill = qrbills.new_bill(inv, debtor, account, creditor, language, cls=qrbill.QRBill)
        with open(folder / f"{inv['invoice_number']}.svg", "w", encoding="utf-8") as f:
            bill.as_svg(f)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--invoices", type=int, default=4000)
    ap.add_argument("--baseline", type=int, default=400,
                    help="invoices the old implementation renders (per-invoice comparison)")
    args = ap.parse_args(argv)
    settings = load_config(SAMPLE).settings
    frame = invoices(args.invoices)
    with tempfile.TemporaryDirectory() as tmp:
        t, c = time.perf_counter(), time.process_time()
        made = qrbills.write_qr_bills(Path(tmp) / "new", frame, settings, "de")
        new, new_cpu = time.perf_counter() - t, time.process_time() - c
        assert len(made["files"]) == args.invoices, made["skipped"]
        (Path(tmp) / "old").mkdir()
        t, c = time.perf_counter(), time.process_time()
        baseline(Path(tmp) / "old", frame.head(args.baseline), settings, "de")
        old, old_cpu = time.perf_counter() - t, time.process_time() - c
    n, b = args.invoices, args.baseline
    print(f"now (zxing-cpp, templates): {n:,} QR-bills in {new:.2f} s, {new_cpu:.2f} s CPU "
          f"({new / n * 1000:.2f} ms each, {new_cpu / n * 1000:.2f} ms CPU)")
    print(f"before (qrbill + qrcode):   {b:,} QR-bills in {old:.2f} s, {old_cpu:.2f} s CPU "
          f"({old / b * 1000:.2f} ms each, {old_cpu / b * 1000:.2f} ms CPU; "
          f"{old / b * n:.1f} s for {n:,})")
    print(f"ratio: {old / b / (new / n):.1f}x faster ({old_cpu / b / (new_cpu / n):.1f}x in CPU "
          "time, the figure a busy machine does not blur)")


if __name__ == "__main__":
    main()
