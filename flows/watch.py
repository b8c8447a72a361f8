"""``billing-export watch``: poll an inbox folder until Ctrl-C, or once from cron
(``--once``); each poll is the ``process-inbox`` flow (:mod:`flows.process_inbox`), the rules
are :mod:`flows.inbox`'s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import defaults
from .cli_args import iso_date, seconds
from .errors import BillingError
from .inbox import Taken, observe
from .inbox_files import SETTLE_SECONDS
from .inbox_ledger import InboxError


def add_watch_command(subparsers) -> argparse.ArgumentParser:
    """Add ``watch`` to the ``billing-export`` subcommands; it runs :func:`watch_main`."""
    w = subparsers.add_parser(
        "watch", help="bill every OpenOlat export dropped into an inbox folder",
        description="Poll an inbox folder. A CSV or OpenOlat .xlsx export dropped into it is "
                    "taken once it is older than the settle time and unchanged since the "
                    "previous poll, billed once per content (the same "
                    "file dropped twice is not billed twice), delivered into the outbox and "
                    "moved to processed/<date>/; a file that cannot be billed goes to failed/ "
                    "with a .error.txt beside it; symlinks, FIFOs and devices are never read "
                    "(filed to failed/). Hidden and temporary files (.x, ~$x, x.part) "
                    "are ignored. Prints one line per file taken; stop with Ctrl-C.")
    w.add_argument("--inbox", required=True, metavar="DIR",
                   help="folder to watch; must exist. processed/, failed/ and .billing-export/ "
                        "(the ledger of billed files) are kept inside it")
    w.add_argument("--outbox", default=defaults.OUTBOX, metavar="DIR",
                   help="folder the invoicing system reads; created if missing "
                        f"(default: {defaults.OUTBOX})")
    w.add_argument("--config", default=defaults.CONFIG, metavar="DIR",
                   help="folder with company.toml and the reference tables, or a group.toml "
                        "(default: sample_data/)")
    w.add_argument("--invoice-date", type=iso_date, default=None, metavar="YYYY-MM-DD",
                   help="invoice date of every file taken (default: the day the file is taken)")
    w.add_argument("--language", choices=("de", "en"), default=None,
                   help="workbook headers and messages (default: the company's language)")
    w.add_argument("--state", default=None, metavar="PATH|URL",
                   help="state store of the billing runs: a SQLite file or "
                        f"postgresql://user@host/db (default: {defaults.STATE_FILE} beside the "
                        "outbox folder)")
    w.add_argument("--interval", type=seconds, default=10.0, metavar="SECONDS",
                   help="seconds between polls (default: 10)")
    w.add_argument("--settle", type=seconds, default=SETTLE_SECONDS, metavar="SECONDS",
                   help="a file is taken only when it was last changed at least this long ago "
                        "and, if the previous poll saw it, is unchanged since (so --once from "
                        f"cron takes an older file at once) (default: {SETTLE_SECONDS:g})")
    w.add_argument("--once", action="store_true",
                   help="poll once and exit (when the poll could not run, the exit code of its "
                        "error's kind below; 2 if a file stayed in the inbox after an "
                        "unexpected error)")
    w.add_argument("--quiet", action="store_true", help="print only the files taken and problems")
    w.set_defaults(handler=watch_main)
    return w


def _one_poll(args, flow) -> int:
    inbox = Path(args.inbox)
    ready, waiting = observe(inbox, settle=args.settle)
    if not ready:
        if args.once and waiting:
            print(f"{waiting} file(s) waiting until size and time are stable; poll again",
                  file=sys.stderr)
        return 0
    state = flow(inbox=str(inbox), outbox=args.outbox, config=args.config,
                 invoice_date=args.invoice_date, language=args.language, state=args.state,
                 settle_seconds=args.settle, return_state=True)
    if not state.is_completed():
        failure = state.result(raise_on_failure=False)  # the poll's error, with its kind
        raise failure if isinstance(failure, BillingError) else InboxError(state.message)
    taken = [Taken(**t) for t in state.result()]
    for t in taken:
        print(t.line(), file=sys.stderr if t.outcome == "error" else sys.stdout, flush=True)
    return 2 if any(t.outcome == "error" for t in taken) else 0


def watch_main(args) -> int:
    """Poll every ``--interval`` seconds until Ctrl-C (exit 0), or once with ``--once``."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if args.quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if not Path(args.inbox).is_dir():
        print(f"billing-export: error: {args.inbox}: no such folder (the inbox must exist)",
              file=sys.stderr)
        return 2
    from .process_inbox import process_inbox  # Prefect: imported by the command that runs it
    last_error = None
    try:
        while True:
            try:
                code = _one_poll(args, process_inbox)
            except BillingError as err:  # its kind's exit code (flows.errors)
                code = err.exit_code
                if str(err) != last_error:  # say it once, not every poll
                    print(f"billing-export: error: {err}", file=sys.stderr)
                last_error = str(err)
            else:
                last_error = None
            if args.once:
                return code
            time.sleep(args.interval)
    except KeyboardInterrupt:
        print("billing-export: watch stopped", file=sys.stderr)
        return 0
