"""``billing-export``: billing from a terminal, no server to start by hand.

``run`` bills in this process through the run pipeline (flows/pipeline.py) when no Prefect
server is configured, and as the Prefect flow ``billing-run`` when one is (``PREFECT_API_URL``):
the same stages, the same workbook and summary. Problems print like a compiler's
(``file:row column: message``); ``--json`` prints the run summary for machines. Every command
ends with one of the exit codes of :data:`EXIT_CODES` (decided by the error's kind in
:mod:`flows.errors`); an error prints one line, no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from . import defaults
from .cli_args import iso_date as _date
from .cli_args import location as _location
from .cli_args import positive as _positive
from .watch import add_watch_command, watch_main

EXIT_CODES = """\
exit codes (every command):
  0   done (a run may have rejected rows: see the Rejected sheet)
  1   run: delivered, but rows were rejected and --strict was given
  2   input: the source, a command's arguments or the data cannot be used; nothing delivered
  3   configuration: company.toml, a reference table, group.toml or a setting is wrong
  4   delivery: the outbox holds a different file under the workbook's name
  5   environment: disk full, no permission, read-only or wrong path, state store or the
      temporary Prefect server not available
  6   transient: the database or Prefect server cannot be reached (after retries); try later
  70  internal error (a bug): the traceback is printed; nothing was delivered
  130 stopped with Ctrl-C"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="billing-export", epilog=EXIT_CODES, formatter_class=_Formatter,
        description="Turn OpenOlat booking orders into an invoicing workbook for the ERP.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="bill booking orders and deliver one workbook into the outbox",
        description="Bill the booking orders of one source and deliver the workbook (with a "
                    ".manifest.json) into the outbox. With PREFECT_API_URL set (e.g. after "
                    "`. out/prefect/env`) it runs as the Prefect flow 'billing-run' on that "
                    "server and shows in its UI; without, the same pipeline runs in this "
                    "process, no Prefect server involved (--task-runner, --dask-address and "
                    "--workers run the flow with a temporary Prefect server).")
    run.add_argument("--source", type=_location, default=defaults.SOURCE,
                     help="booking orders: a CSV in the columns of OpenOlat's export (German or "
                          "English headers, ',' or ';' separated, UTF-8), OpenOlat's own Excel "
                          "export (.xlsx), or OpenOlat's database as a URL "
                          "(postgresql://…, mysql+pymysql://…, sqlite:///…) without password: "
                          "it comes from BILLING_DB_PASSWORD, PGPASSWORD or ~/.pgpass "
                          "(default: sample_data/booking_orders.csv)")
    run.add_argument("--source-secret", default=None, metavar="NAME",
                     help="read the database URL (password included) from this Prefect "
                          "Secret block instead of --source")
    run.add_argument("--config", default=defaults.CONFIG,
                     help="folder with company.toml and the reference tables (tax_codes.csv, "
                          "tax_rules.csv, exchange_rates.csv, payment_terms.csv, customers.csv), "
                          "or a group.toml of several companies: one workbook each "
                          "(default: sample_data/)")
    run.add_argument("--outbox", default=defaults.OUTBOX,
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
    run.add_argument("--final", action="store_true",
                     help="final run: gapless invoice numbers from the company's series, status "
                          "'printed', every billed order recorded in the state store (default: "
                          "a draft with provisional numbers that records nothing as billed)")
    run.add_argument("--state", type=_location, default=None, metavar="PATH|URL",
                     help="state store: a SQLite file or postgresql://user@host/db, no "
                          "password (PGPASSWORD or ~/.pgpass) "
                          "(default: billing-state.sqlite beside the outbox folder)")
    run.add_argument("--incremental", action="store_true",
                     help="database source: read only orders created or changed since the "
                          "last delivered final run of that database, and every order still "
                          "billed (an OpenOlat edit may leave its lastmodified as it was)")
    run.add_argument("--task-runner", choices=("threads", "dask"), default=None,
                     help="where the partitions are billed: threads of this process, or a "
                          "local Dask cluster (default: threads, or BILLING_TASK_RUNNER); runs "
                          "the Prefect flow")
    run.add_argument("--dask-address", default=None, metavar="tcp://HOST:PORT",
                     help="bill the partitions on this existing Dask cluster (implies "
                          "--task-runner dask; its workers need billing-export installed); "
                          "runs the Prefect flow")
    run.add_argument("--workers", type=_positive, default=None, metavar="N",
                     help="threads, or local Dask workers (default: one per CPU); runs the "
                          "Prefect flow")
    run.add_argument("--partition-rows", type=_positive, default=None, metavar="N",
                     help="bill a company with more orders than this in hash partitions of "
                          "its invoice-to parties (default: 250000); the workbook is the same")
    run.add_argument("--json", action="store_true",
                     help="print the run summary as JSON instead of text")
    run.add_argument("--strict", action="store_true",
                     help="exit with code 1 when any row was rejected")
    run.add_argument("--quiet", action="store_true", help="print only problems and the result")
    _state_commands(sub)
    _approve_command(sub)
    add_watch_command(sub)
    for command in sub.choices.values():  # the same exit codes under every command's --help
        command.epilog, command.formatter_class = EXIT_CODES, _Formatter
    return p


class _Formatter(argparse.HelpFormatter):
    """argparse's layout, but the exit-code table keeps its lines."""

    def _fill_text(self, text, width, indent):
        if text == EXIT_CODES:
            return text
        return super()._fill_text(text, width, indent)


def _approve_command(sub) -> None:
    approve = sub.add_parser(
        "approve", help="approve (or reject) a billing run waiting for approval",
        description="Decide on a billing run that waits for approval (the monthly "
                    "deployment, flows/approval.py): approve it, and the same run issues the final "
                    "invoices of its draft; or reject it with --reject --comment, and it stays "
                    "a draft. Talks to the Prefect server in PREFECT_API_URL (`. out/prefect/env` "
                    "after `make serve`).")
    approve.add_argument("flow_run_id", metavar="FLOW-RUN-ID",
                         help="the id of the waiting flow run (Prefect UI, or "
                              "`prefect flow-run ls --state Paused`)")
    approve.add_argument("--reject", action="store_true", help="reject: the run stays a draft")
    approve.add_argument("--comment", default="", help="why (required with --reject)")


def _approve_main(args) -> int:
    """Resume a paused approval run with its typed decision, as the UI's form would."""
    from uuid import UUID

    if args.reject and not args.comment.strip():
        print("billing-export: error: --reject needs --comment saying why", file=sys.stderr)
        return 2
    try:
        run_id = UUID(args.flow_run_id)
    except ValueError:
        print(f"billing-export: error: not a flow run id: {args.flow_run_id!r}", file=sys.stderr)
        return 2
    from prefect.exceptions import FlowPauseTimeout, NotPausedError, ObjectNotFound
    from prefect.flow_runs import resume_flow_run
    try:
        resume_flow_run(run_id, run_input={"approve": not args.reject,
                                           "comment": args.comment.strip()})
    except ObjectNotFound:
        print(f"billing-export: error: no flow run {run_id} on this Prefect server",
              file=sys.stderr)
        return 2
    except NotPausedError:
        print(f"billing-export: error: flow run {run_id} is not waiting for approval",
              file=sys.stderr)
        return 2
    except (FlowPauseTimeout, RuntimeError) as err:
        print(f"billing-export: error: flow run {run_id}: {err}", file=sys.stderr)
        return 2
    print(f"{'rejected' if args.reject else 'approved'}: flow run {run_id}")
    return 0


def _state_option(cmd) -> None:
    cmd.add_argument("--state", type=_location, default=None, metavar="PATH|URL",
                     help="state store (default: billing-state.sqlite beside out/outbox)")


def _state_commands(sub) -> None:
    credit = sub.add_parser(
        "credit", help="credit a final invoice in full, optionally re-invoicing it",
        description="Issue a credit note that negates a final invoice exactly and references "
                    "it; with --reinvoice also a new invoice for the same booking orders "
                    "(the ERP's 'Gutschreiben und neu fakturieren'). Delivers a final workbook.")
    credit.add_argument("--invoice", required=True, metavar="NUMBER",
                        help="the final invoice number, e.g. RE-2026-000017")
    credit.add_argument("--reinvoice", action="store_true",
                        help="also issue a new invoice for its booking orders")
    credit.add_argument("--invoice-date", type=_date, default=None, metavar="YYYY-MM-DD",
                        help="date of the credit note (default: today)")
    credit.add_argument("--config", default=defaults.CONFIG,
                        help="configuration folder, or a group.toml with --company "
                             "(default: sample_data/)")
    credit.add_argument("--company", default=None, metavar="CODE",
                        help="the financial company of the invoice, when --config is a group")
    credit.add_argument("--outbox", default=defaults.OUTBOX, help="outbox folder")
    credit.add_argument("--language", choices=("de", "en"), default=None,
                        help="workbook language (default: the company's)")
    _state_option(credit)
    redate = sub.add_parser(
        "redate", help="make a draft again for another invoice date",
        description="Re-date a draft: bill the same source again for a new invoice date (all "
                    "amounts recomputed with that date's exchange and tax rates) and discard "
                    "the old draft.")
    redate.add_argument("--run", required=True, help="run id of the draft (see 'runs')")
    redate.add_argument("--invoice-date", type=_date, required=True, metavar="YYYY-MM-DD",
                        help="the new invoice date")
    redate.add_argument("--source", type=_location, default=None,
                        help="read the orders from here instead (a database's password "
                             "comes from BILLING_DB_PASSWORD, PGPASSWORD or ~/.pgpass)")
    _state_option(redate)
    discard = sub.add_parser(
        "discard", help="discard a draft (undo composition)",
        description="Discard a draft: its workbook and manifest move to <outbox>/discarded/ "
                    "and its orders stay unbilled.")
    discard.add_argument("--run", required=True, help="run id of the draft (see 'runs')")
    _state_option(discard)
    runs = sub.add_parser("runs", help="list the runs in the state store",
                          description="List draft and final runs with status and workbook.")
    _state_option(runs)


def _open_state(args, outbox: str = defaults.OUTBOX):
    from .state_store import open_store
    return open_store(args.state or defaults.state_location(outbox))


def _state_main(args) -> int:
    """credit, redate, discard and runs; an error goes up to :func:`main`, which reports it.
    ``runs`` imports only the state store: it answers at once."""
    if args.command == "runs":
        from . import state_store
        store = _open_state(args)
        with store.connect() as conn:
            runs = state_store.runs(conn)
        for r in runs:
            print(f"{r['run_id']}  {r['mode']:5}  {r['status']:9}  {r['invoice_date']}  "
                  f"{r['workbook'] or ''}")
        if not runs:  # said on stderr: the listing on stdout stays empty for scripts
            print(f"no runs yet in the state store {state_store.shown(store.url)}",
                  file=sys.stderr)
        return 0
    from . import commands, pipeline
    if args.command == "discard":
        moved = commands.discard(_open_state(args), args.run)
        print(f"discarded draft {args.run.upper()}" + "".join(f"\n  moved to {m}"
                                                         for m in moved))
        return 0
    if args.command == "redate":
        result = commands.redate(_open_state(args), args.run, args.invoice_date, args.source)
        print(f"draft {args.run.upper()} re-dated to {args.invoice_date}: "
              f"{result.delivery.workbook if result.delivery else result.run_id}")
        return 0
    if args.command == "credit":
        config = _company_config(args.config, args.company)
        result = pipeline.run(pipeline.Request(
            config=config, outbox=args.outbox, invoice_date=args.invoice_date,
            language=args.language, draft=False, state=_open_state(args, args.outbox),
            credit=pipeline.Credit(args.invoice, args.reinvoice))).result
        if result.already_delivered:
            print(f"already delivered (run {result.run_id})")
            return 0
        from transforms.minor_units import exponent
        from transforms.money import to_decimal
        inv = result.rendered.tables["invoices"]
        for r in inv.itertuples(index=False):
            linked = r.linked_invoice_number if isinstance(r.linked_invoice_number, str) \
                else ""
            amount = to_decimal(r.invoice_amount, exponent(r.currency))
            print(f"{r.invoice_number}  {r.document_type}  {r.currency} {amount}  "
                  f"{linked}".rstrip())
        print(f"Delivered: {result.delivery.workbook}")
        return 0
    raise AssertionError(f"no such command: {args.command}")


def _company_config(location: str, company: str | None):
    """One company's configuration: the folder given, or a member of the group given."""
    from .config import ConfigError, is_group, load_config, load_group
    if not is_group(location):
        config = load_config(location)
        if company and company != config.settings.code:
            raise ConfigError(f"{location}: is the configuration of company "
                              f"{config.settings.code}, not {company}")
        return config
    group = load_group(location)
    if not company:
        codes = ", ".join(m.config.settings.code for m in group.members)
        raise ConfigError(f"{location}: a group of companies ({codes}); say which with "
                          "--company")
    return group.member(company).config


def terminate_cleanly() -> None:
    """SIGTERM (``kill``, systemd, cron's timeout) ends a command the way Ctrl-C does: as an
    exception, so that a run rolls back and removes what it staged in the outbox instead of
    dying in the middle. A Prefect flow run installs the same for its duration."""
    def _stop(signum, _frame):
        raise SystemExit(128 + signum)

    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)


def _environment(quiet: bool) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _print_summary(s: dict, out) -> None:
    from .summary import problem_line
    if "companies" in s:  # a group: each company's workbook, then the whole source
        for company in s["companies"]:
            _print_summary(company, out)
        print(f"\n{s['group']}: {len(s['companies'])} workbooks; rows read {s['rows_read']}: "
              f"billed {s['rows_billed']}, rejected {s['rows_rejected']}, not billable "
              f"{s['rows_not_billable']}, already billed {s['rows_already_billed']}", file=out)
        return
    not_billable: dict[str, int] = {}
    for p in s["problems"]:
        if p["bucket"] != "rejected":
            not_billable[p["problem"]] = not_billable.get(p["problem"], 0) + 1
            continue
        print(problem_line(p), file=out)
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
    for w in s.get("warnings", ()):
        print(f"  warning: {w}", file=out)


def console() -> None:
    """The ``billing-export`` command: :func:`main`, then exit. Before the interpreter ends,
    the objects still alive are frozen out of the garbage collector: its last full collection
    of a run's frames took most of a second of a small run's wall time, to free memory the
    process gives back anyway. (Tests call :func:`main`, which leaves the collector alone.)"""
    import gc
    _no_data_synthesis()
    _no_plugin_search()
    if sys.argv[1:2] == ["run"]:
        # The modules a run imports make most of the objects alive, and they live as long
        # as the process: frozen, the collector's full collections during the run no longer
        # walk them (they took a fifth of a small run's CPU time). Importing makes next to
        # no garbage, so the collector sits the imports out (its collections there were a
        # twentieth of the import's instructions).
        gc.disable()
        try:
            from . import pipeline  # noqa: F401
        finally:
            gc.freeze()
            gc.enable()
    code = main()
    sys.stdout.flush()
    gc.freeze()
    _exit(code)


def _exit(code: int) -> None:
    """End the process with ``code``. A command that ran in this process alone ends at once
    once its exit handlers ran and its output is out: tearing down the thousand modules of
    pandas, Arrow and pandera took a twentieth of a small run's wall time. Where another
    thread still works, or Prefect is loaded (its log and event services send their last
    messages from threads at interpreter exit), the interpreter ends as usual."""
    import atexit
    import threading
    if "prefect" in sys.modules or any(t is not threading.main_thread() and not t.daemon
                                       for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()  # logging's flush, weakref finalizers (temporary folders) …
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _no_data_synthesis() -> None:
    """pandera imports hypothesis, where it is installed, to offer synthesising data from a
    schema; a command never does that, and the import cost a tenth of a second of a small
    run. hypothesis is a test dependency: in the development environment it sits beside the
    command, in an installation for production it is absent, as this makes it look to
    pandera. Only the command's own process: tests call :func:`main`."""
    sys.modules.setdefault("hypothesis", None)


def _no_plugin_search() -> None:
    """typeguard and pydantic (both imported by pandera) look for plugins of theirs in every
    installed distribution's entry points, typeguard when imported, pydantic when it builds
    its first model: two walks over the environment's metadata, 1.5 % of a small run's
    instructions where 150 distributions are installed. The command uses no such plugin
    (typeguard's serve type-checked code, pydantic's observe models; tests/test_lazy_imports.py
    checks that none is installed), so their documented switches turn the search off in its
    own process. An operator who adds a pydantic plugin on purpose sets
    ``PYDANTIC_DISABLE_PLUGINS`` to an empty value. Tests call :func:`main`: they search."""
    os.environ.setdefault("TYPEGUARD_DISABLE_PLUGIN_AUTOLOAD", "1")
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def main(argv: list[str] | None = None) -> int:
    """Run one command; an error a person can act on is one line on stderr and the exit code
    of its kind (flows.errors), a bug its traceback and :data:`flows.errors.INTERNAL`."""
    from . import errors
    args = parser().parse_args(argv)
    terminate_cleanly()
    try:
        return _main(args)
    except KeyboardInterrupt:
        # what was staged is removed, what was committed is finished by the next run
        print("billing-export: interrupted", file=sys.stderr)
        return errors.INTERRUPTED
    except Exception as err:  # noqa: BLE001 - classified; a bug keeps its traceback
        known = errors.classify(err)
        if known is None:
            import traceback
            traceback.print_exc()
            print(f"billing-export: internal error (a bug, please report it): "
                  f"{type(err).__name__}: {err}", file=sys.stderr)
            print("Nothing was delivered.", file=sys.stderr)
            return errors.INTERNAL
        print(f"billing-export: error: {known}", file=sys.stderr)
        if args.command == "run":
            print("Nothing was delivered.", file=sys.stderr)
        return known.exit_code


def _main(args) -> int:
    if args.command == "watch":
        _environment(False)
        return watch_main(args)
    if args.command == "approve":
        _environment(True)
        return _approve_main(args)
    if args.command in ("credit", "redate", "discard", "runs"):
        _environment(True)
        return _state_main(args)
    _environment(args.quiet)
    if prefect_api() or args.task_runner or args.dask_address or args.workers:
        summary = _run_flow(args)
    else:
        summary = _run_here(args)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(summary, sys.stdout)
    return 1 if args.strict and summary["rows_rejected"] else 0


def prefect_api() -> str | None:
    """The Prefect server a run reports to, if one is configured: ``PREFECT_API_URL`` in the
    environment or in the active Prefect profile (``prefect config set``), or the settings of
    a Prefect already imported (a test harness). Read without importing Prefect, which
    costs about a second."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect.settings" in sys.modules:
        from prefect.settings import get_current_settings
        return get_current_settings().api.url
    import tomllib
    from pathlib import Path
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or doc.get("active") or "ephemeral"
    profile = doc.get("profiles", {}).get(active, {})
    url = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return url if isinstance(url, str) and url else None


def _run_here(args) -> dict:
    """The pipeline in this process: no Prefect imported, no server started."""
    from . import pipeline
    from .stages import DEFAULT_PARTITION_ROWS
    return pipeline.run(pipeline.Request(
        source=args.source, config=args.config, outbox=args.outbox,
        invoice_date=args.invoice_date, cutoff_date=args.cutoff_date, language=args.language,
        draft=not args.final, state=args.state, source_secret=args.source_secret,
        incremental=args.incremental,
        partition_rows=args.partition_rows or DEFAULT_PARTITION_ROWS)).summary


def _run_flow(args) -> dict:
    """The Prefect flow ``billing-run`` (the same pipeline, its stages as tasks): on the
    server of PREFECT_API_URL, or a temporary one for a Dask task runner."""
    from .billing_run import Advanced, billing_run
    from .stages import DEFAULT_PARTITION_ROWS
    from .task_runners import task_runner
    flow = billing_run
    if args.task_runner or args.dask_address or args.workers:
        flow = billing_run.with_options(task_runner=task_runner(
            args.task_runner, args.dask_address, args.workers))
    state = flow(source=args.source, config=args.config, outbox=args.outbox,
                 invoice_date=args.invoice_date, cutoff_date=args.cutoff_date,
                 language=args.language, draft=not args.final, state=args.state,
                 source_secret=args.source_secret,
                 advanced=Advanced(incremental=args.incremental,
                                   partition_rows=args.partition_rows or DEFAULT_PARTITION_ROWS),
                 return_state=True)
    if not state.is_completed():
        raise _failure(state)
    return state.result()


def _failure(state) -> Exception:
    """The error a failed run ended with (the flow puts it into its Failed state), else the
    state's message as an input error."""
    from .errors import InputError
    try:
        data = state.result(raise_on_failure=False)
    except Exception as err:  # noqa: BLE001 - the state's own exception
        data = err
    if isinstance(data, BaseException):
        return data
    return InputError(state.message or "the run failed")


if __name__ == "__main__":
    console()
