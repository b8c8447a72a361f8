"""``billing-export``: run the billing flow from a terminal, no server to start by hand.

Problems print like a compiler's (``file:row column: message``); ``--json`` prints the run
summary for machines. Exit codes: 0 run delivered (rows may be rejected — see the Rejected
sheet), 1 run delivered but some rows were rejected and ``--strict`` was given, 2 the run could
not be done (bad source, configuration or outbox) and nothing was delivered.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="billing-export",
        description="Turn OpenOlat booking orders into an invoicing workbook for the ERP.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="bill booking orders and deliver one workbook into the outbox",
        description="Bill the booking orders of one source and deliver the workbook (with a "
                    ".manifest.json) into the outbox. Runs the Prefect flow 'billing-run' "
                    "locally; no Prefect server needs to be started.")
    run.add_argument("--source", default=str(ROOT / "sample_data" / "booking_orders.csv"),
                     help="booking orders: a CSV in the columns of OpenOlat's export, German or "
                          "English headers, ',' or ';' separated, UTF-8 "
                          "(default: sample_data/booking_orders.csv)")
    run.add_argument("--config", default=str(ROOT / "sample_data"),
                     help="folder with company.toml and the reference tables (tax_codes.csv, "
                          "tax_rules.csv, exchange_rates.csv, payment_terms.csv, customers.csv) "
                          "(default: sample_data/)")
    run.add_argument("--outbox", default="out/outbox",
                     help="folder the invoicing system reads; created if missing "
                          "(default: out/outbox)")
    run.add_argument("--invoice-date", type=_date, default=None, metavar="YYYY-MM-DD",
                     help="invoice date: due dates, exchange rates and periods follow from it "
                          "(default: today)")
    run.add_argument("--cutoff-date", type=_date, default=None, metavar="YYYY-MM-DD",
                     help="orders placed after this date wait for the next run "
                          "(default: the invoice date)")
    run.add_argument("--language", choices=("de", "en"), default=None,
                     help="workbook headers and messages (default: the company's language)")
    run.add_argument("--json", action="store_true",
                     help="print the run summary as JSON instead of text")
    run.add_argument("--strict", action="store_true",
                     help="exit with code 1 when any row was rejected")
    run.add_argument("--quiet", action="store_true", help="print only problems and the result")
    return p


def _environment(quiet: bool) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _print_summary(s: dict, out) -> None:
    not_billable: dict[str, int] = {}
    for p in s["problems"]:
        if p["bucket"] != "rejected":
            not_billable[p["problem"]] = not_billable.get(p["problem"], 0) + 1
            continue
        where = p["source"] + (f":{p['row']}" if p["row"] else "")
        col = f" {p['column']}" if p["column"] else ""
        val = f" ({p['value']!r})" if p["value"] else ""
        bn = f" [{p['booking_number']}]" if p["booking_number"] else ""
        print(f"{where}{col}:{bn} {p['problem']}{val}", file=out)
    print(f"\n{'Already delivered' if s['already_delivered'] else 'Delivered'}: {s['workbook']}",
          file=out)
    print(f"  rows read {s['rows_read']}: billed {s['rows_billed']}, rejected "
          f"{s['rows_rejected']}, not billable {s['rows_not_billable']}, already billed "
          f"{s['rows_already_billed']}", file=out)
    for text, n in sorted(not_billable.items()):
        print(f"  not billable: {n} × {text}", file=out)
    print(f"  {s['invoices']} invoices, {s['lines']} lines", file=out)
    for cur, t in s["totals"].items():
        print(f"  {cur}: {t['invoices']} invoices, net {t['net_amount']}, tax {t['tax_amount']}, "
              f"total {t['invoice_amount']}", file=out)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _environment(args.quiet)
    from .billing_run import billing_run
    state = billing_run(source=args.source, config=args.config, outbox=args.outbox,
                        invoice_date=args.invoice_date, cutoff_date=args.cutoff_date,
                        language=args.language, return_state=True)
    if not state.is_completed():
        print(f"billing-export: error: {state.message}", file=sys.stderr)
        print("Nothing was delivered.", file=sys.stderr)
        return 2
    summary = state.result()
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(summary, sys.stdout)
    return 1 if args.strict and summary["rows_rejected"] else 0


if __name__ == "__main__":
    sys.exit(main())
