"""Large, realistic OpenOlat booking-order exports for the benchmark (10k, 100k, 1M rows).

Same shape as ``sample_data/booking_orders.csv`` (German headers, comma-separated, UTF-8, the
41 export columns) and built from the same products, implementations, price lists, names and
comments (``sample_data/generate_orders.py``). What changes with size: one billing address per
~25 orders (the first 40 are the sample's, so ``customers.csv`` applies to them; the others are
copies with new ids and are their own invoice-to party), unique increasing booking numbers, and
about 1 row in 1,000 faulty the way the sample's three are (decimal comma, empty order date,
a country without a tax rule). Status mix, credit-card share and early-bird offers follow the
sample's weights. Deterministic (fixed seed); money never passes through a float.

``--all-billable`` makes every row a paid invoice order: with ``--rows 1048600`` the Lines sheet
then has more than Excel's 1,048,575 data rows and must continue on "Positionen (2)".

Run: ``python benchmarks/generate.py --rows 100000`` (writes out/bench/orders_100000.csv)
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "bench"
SEED = 20261124


def _sample_module():
    spec = importlib.util.spec_from_file_location("generate_orders",
                                                  ROOT / "sample_data" / "generate_orders.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["generate_orders"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def csv_path(rows: int, all_billable: bool = False) -> Path:
    return OUT / f"orders_{rows}{'_billable' if all_billable else ''}.csv"


def generate(rows: int, path: Path | None = None, all_billable: bool = False) -> Path:
    g = _sample_module()
    rng = random.Random(SEED + rows)
    path = path or csv_path(rows, all_billable)
    path.parent.mkdir(parents=True, exist_ok=True)

    n_addr = max(len(g.ADDRESSES), rows // 25)
    templates = g.ADDRESSES
    if all_billable:  # the sample's French address has no tax rule on purpose: leave it out
        templates = [a for a in templates if a.country_text != "Frankreich"]
    labels = [s for s, _ in g.STATUS_WEIGHTS]
    weights = [w for _, w in g.STATUS_WEIGHTS]
    current = [g.IMPLEMENTATIONS[r] for r in g.CURRENT_IMPLS]
    online = [g.IMPLEMENTATIONS[r] for r in g.ONLINE_IMPLS]
    money_cache: dict[tuple[str, str], str] = {}
    fee_cache: dict[tuple[str, str], str] = {}

    def price_text(cur: str, amount: str) -> str:
        key = (cur, amount)
        if key not in money_cache:
            money_cache[key] = g.money_text(cur, Decimal(amount))
        return money_cache[key]

    def fee_text(cur: str, amount: str) -> str:
        key = (cur, amount)
        if key not in fee_cache:
            fee_cache[key] = g.cancellation_fee(cur, amount)
        return fee_cache[key]

    # per address: id, template, people pool, PO numbers
    addr_rows = []
    for i in range(n_addr):
        a = templates[i % len(templates)]
        aid = a.id if i < len(templates) else f"BA-{200000 + i}"
        addr_rows.append((aid, a))
    first_names = {k: v for k, v in g.FIRST_NAMES.items()}
    last_names = {k: v for k, v in g.LAST_NAMES.items()}

    start = time.perf_counter()
    booking = 300_000
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=",", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(g.HEADERS_DE)
        batch = []
        for n in range(rows):
            aid, a = addr_rows[rng.randrange(n_addr)]
            impl = rng.choice(online if a.currency == "JPY" else current)
            prod = g.PRODUCTS[impl.product]
            org_name, org_kst = g.ORGS[prod.org_id]
            lo, hi = g.order_window(impl)
            od = lo + timedelta(days=rng.randrange((hi - lo).days + 1))
            if impl.offer:
                offer = impl.offer
            elif (impl.begin - od).days >= g.EARLY_BIRD_DAYS:
                offer = "Frühbucher"
            else:
                offer = "Standardpreis"
            amount = prod.prices[offer][a.currency]
            if all_billable:
                status, payment = "Bezahlt", "Rechnung"
            else:
                status = rng.choices(labels, weights)[0]
                payment = "Kreditkarte" if rng.random() < 0.03 else "Rechnung"
            price = price_text(a.currency, amount)
            fee = fee_text(a.currency, amount) if status == "Storniert mit Gebühr" else ""
            if a.person is not None:
                first, last = a.person
                email = f"{g.ascii_slug(first)}.{g.ascii_slug(last)}@mail.example"
                po = ""
            else:
                first = rng.choice(first_names[a.people])
                last = rng.choice(last_names[a.people])
                email = f"{g.ascii_slug(first)}.{g.ascii_slug(last)}@{a.domain}"
                po = rng.choice(a.po_numbers)
            user = f"{g.ascii_slug(first)[:1]}{g.ascii_slug(last)}{n % 97}"
            comment = rng.choice(g.COMMENTS) if rng.random() < 0.10 else ""
            order_date = od.isoformat()
            country = a.country_text
            if not all_billable:
                fault = rng.random()
                if fault < 0.0004:
                    price = price.replace(".", ",")
                elif fault < 0.0007:
                    order_date = ""
                elif fault < 0.0010:
                    country = "Frankreich"
            booking += 1 + rng.randrange(5)
            batch.append([
                user, first, last, email,
                prod.name, prod.ref, prod.org_id, org_name,
                impl.name, impl.ref, prod.impl_type, impl.status, impl.fmt,
                impl.begin.isoformat(), impl.end.isoformat(), impl.location,
                str(booking), status, offer, payment, impl.cost_center or org_kst,
                g.ACCOUNT_BY_TYPE[prod.impl_type],
                po, comment, order_date, price, fee,
                aid, a.name, a.addition, a.line1, a.line2, "", "", a.po_box, a.region, a.zip,
                a.city, country, a.org_id, a.org_name,
            ])
            if len(batch) == 10_000:
                w.writerows(batch)
                batch.clear()
        w.writerows(batch)
    print(f"wrote {path} ({rows:,} rows, {n_addr:,} billing addresses) in "
          f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append",
                    help="rows to generate (repeatable; default 10000, 100000, 1000000)")
    ap.add_argument("--all-billable", action="store_true",
                    help="every row a paid invoice order (for the Excel row-limit run)")
    ap.add_argument("--force", action="store_true", help="regenerate existing files")
    args = ap.parse_args(argv)
    for n in args.rows or [10_000, 100_000, 1_000_000]:
        p = csv_path(n, args.all_billable)
        if p.exists() and not args.force:
            print(f"exists: {p}", file=sys.stderr)
            continue
        generate(n, p, args.all_billable)


if __name__ == "__main__":
    main()
