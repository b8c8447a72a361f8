"""``billing_run``: the main Prefect flow — extract, validate, bill, render, deliver.

Each stage is a task, so the Prefect UI shows where a run spent its time and where it stopped.
Validation problems in some rows are not a failure (they are on the Rejected sheet); an
unusable source or configuration fails the run before anything is delivered. Tasks keep no
result cache: billing data must never be answered from a stale cache.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

import dataclasses
import functools
import json

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.runtime import flow_run
from prefect.states import Failed
from pydantic import BaseModel, ConfigDict, Field

from schemas.problems import Reason
from transforms.reconcile import column_label, row_buckets

from transforms.pipeline import bill_partition

from . import errors, final_run, job, state_store, task_runners
from .config import load_group
from .errors import TransientError
from .incremental import window as incremental_window
from .sources.openolat_db import refuse_password
from .state_store import open_store

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = str(ROOT / "sample_data" / "booking_orders.csv")
DEFAULT_CONFIG = str(ROOT / "sample_data")
DEFAULT_OUTBOX = "out/outbox"

#: the rejected rows logged one by one; the rest are counted (all are on the Rejected sheet)
LOGGED_PROBLEMS = 100


def _stage(fn):
    """Run a stage as a task: an error a person can act on is raised as its
    :class:`~flows.errors.BillingError` (the task ends Failed with that message, logged
    without a traceback); an exception no kind covers is a bug and keeps its traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        errors.quiet_known_errors()
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - classified, or raised as it is
            known = errors.classify(err)
            if known is None or known is err:
                raise
            raise known from None
    return wrapper


def _transient(task, task_run, state) -> bool:
    """Retry by the error's kind: only a :class:`~flows.errors.TransientError` (a database
    that cannot be reached) may pass by itself; never a bad file."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:  # noqa: BLE001 - anything else is terminal
        return False
    return False


RETRY_DELAYS = [2, 10, 30]


def retry_delays() -> list[float]:
    """Seconds before each retry of the extract: ``BILLING_RETRY_DELAYS`` (e.g. ``0,0`` or an
    empty value for no retry), else :data:`RETRY_DELAYS`."""
    text = os.environ.get("BILLING_RETRY_DELAYS")
    if text is None:
        return list(RETRY_DELAYS)
    try:
        delays = [float(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        delays = [-1.0]
    if any(d < 0 for d in delays):
        raise errors.ConfigurationError(f"BILLING_RETRY_DELAYS={text!r}: expected seconds "
                                        "separated by commas, e.g. 2,10,30")
    return delays


def _extract_name() -> str:
    """Name of the extract task run: the source, with any database password hidden."""
    from prefect.runtime import task_run
    if task_run.parameters.get("secret"):
        return f"extract secret {task_run.parameters['secret']}"
    source = str(task_run.parameters.get("source", ""))
    return f"extract {job.public_location(source) if '://' in source else Path(source).name}"


@task(name="extract", task_run_name=_extract_name, cache_policy=NONE, retries=3,
      retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=_transient)
@_stage
def extract_task(source: str, since: dt.datetime | None = None, secret: str | None = None,
                 recheck: tuple = (), recheck_statuses: tuple = ()):
    """``secret`` names a Prefect Secret block holding the database URL; it is read here, so
    the URL with its password is never a parameter Prefect stores."""
    ex = job.extract(_secret_url(secret) if secret else source, since=since, recheck=recheck,
                     recheck_statuses=recheck_statuses)
    get_run_logger().info("read %d rows from %s (sha256 %s)", ex.rows, ex.name, ex.checksum[:12])
    for note in ex.notes:
        get_run_logger().info("%s", note)
    return ex


@task(name="validate", task_run_name="validate", cache_policy=NONE)
@_stage
def validate_task(ex, price_format="detect"):
    valid, problems = job.validate(ex, price_format)
    get_run_logger().info("%d rows valid, %d problems in %d rows", len(valid), len(problems),
                          problems[["source", "source_row"]].drop_duplicates().shape[0])
    return valid, problems


def _partition_name() -> str:
    from prefect.runtime import task_run
    company, bucket = task_run.parameters.get("key", ("", 0))
    return f"bill {company}" + (f" part {bucket + 1}" if bucket else "")


@task(name="bill", task_run_name=_partition_name, cache_policy=NONE)
@_stage
def bill_partition_task(orders, ctx, key):
    """One partition of one company, up to numbering (transforms.pipeline.PARTITION_STEPS);
    mapped over all partitions, so a cluster bills them side by side."""
    logger = get_run_logger()

    def log(t):
        logger.info("step %-22s %7.3f s  %d lines", t.step, t.seconds, t.lines)

    billing, _ = bill_partition(orders, ctx, log)
    return billing


def _map_parts(parts: list[tuple]):
    futures = bill_partition_task.map([o for o, _, _ in parts], [c for _, c, _ in parts],
                                      [k for _, _, k in parts])
    return [f.result() for f in futures]


@task(name="render", task_run_name="render", cache_policy=NONE)
@_stage
def render_task(billing, ex, config, params, rid, outbox, staged=None):
    try:
        rendered = job.render(billing, ex, config, params, rid, outbox, staged=staged)
    except Exception as err:  # noqa: BLE001 - the writer's OS errors name no file: the outbox
        os_err = errors.os_error_of(err)
        if os_err is None:
            raise
        raise errors.from_os_error(os_err, os_err.filename or outbox,
                                   "cannot write the workbook") from None
    get_run_logger().info("rendered %s: sheets %s", rendered.name, ", ".join(
        rendered.manifest["sheets"]))
    for warning in rendered.manifest.get("warnings", ()):
        get_run_logger().warning(warning)
    return rendered


@task(name="deliver", task_run_name="deliver", cache_policy=NONE)
@_stage
def deliver_task(prepared, outbox: str, store):
    result = final_run.complete(prepared, Path(outbox), store)
    get_run_logger().info("%s %s", "already delivered:" if result.already_delivered
                          else "delivered:", result.delivery.workbook if result.delivery
                          else prepared.run_id)
    return result


def previous_month_end(today: dt.date) -> dt.date:
    """Last day of the month before ``today``'s."""
    return today.replace(day=1) - dt.timedelta(days=1)


def default_state(outbox: str) -> str:
    """The state store's default: a SQLite file beside the outbox folder."""
    return str(Path(outbox).resolve().parent / "billing-state.sqlite")


def _run_name() -> str:
    p = flow_run.parameters
    advanced = p.get("advanced") or {}
    period = (advanced.get("billing_period") if isinstance(advanced, dict)
              else getattr(advanced, "billing_period", None))
    date = p.get("invoice_date") or (previous_month_end(dt.date.today())
                                     if period == "previous_month" else dt.date.today())
    return f"billing-run {date} {'draft' if p.get('draft', True) else 'final'}"


def artifact_key(kind: str, mode: str, company: str) -> str:
    """``billing-draft-100-totals``: drafts, finals and each company keep their own latest
    artifact (Prefect keys allow lowercase letters, digits and dashes)."""
    company = "".join(c if c.isalnum() else "-" for c in company).lower()
    return "-".join(p for p in ("billing", mode, company, kind) if p)


def _publish(result_summary: dict, rendered, company: str) -> None:
    mode = rendered.manifest.get("mode", "draft")
    totals = rendered.manifest["totals"]
    rows = [{"currency": cur, "invoices": t["invoices"], "net": t["net_amount"],
             "tax": t["tax_amount"], "invoice amount": t["invoice_amount"]}
            for cur, t in totals.items()]
    create_table_artifact(key=artifact_key("totals", mode, company),
                          table=rows or [{"currency": "-"}],
                          description=f"Invoices per currency of {rendered.name} — rejected "
                                      f"rows: {result_summary['rows_rejected']}")
    recon = rendered.tables["reconciliation"]
    lines = ["| section | metric | currency | value |", "|---|---|---|---|"]
    for r in recon.itertuples(index=False):
        cur = r.currency if isinstance(r.currency, str) else ""
        lines.append(f"| {r.section} | {r.metric} | {cur} | {r.value} |")
    create_markdown_artifact(key=artifact_key("reconciliation", mode, company),
                             markdown="\n".join(lines),
                             description=f"Reconciliation of {rendered.name}")


def problem_line(p: dict) -> str:
    """One rejected row as a compiler prints an error: ``file:row column: [booking] problem
    (value)`` — the same line in the terminal and in the run log."""
    where = p["source"] + (f":{p['row']}" if p["row"] else "")
    col = f" {p['column']}" if p["column"] else ""
    val = f" ({p['value']!r})" if p["value"] else ""
    bn = f" [{p['booking_number']}]" if p["booking_number"] else ""
    return f"{where}{col}:{bn} {p['problem']}{val}"


def summary_line(s: dict) -> str:
    """rows read = billed + rejected + not billable + already billed, invoices and totals."""
    text = (f"rows read {s['rows_read']} = billed {s['rows_billed']} + rejected "
            f"{s['rows_rejected']} + not billable {s['rows_not_billable']} + already billed "
            f"{s['rows_already_billed']}; {s.get('invoices', 0)} invoices")
    for cur, t in (s.get("totals") or {}).items():
        text += (f"; {cur} net {t['net_amount']} tax {t['tax_amount']} "
                 f"total {t['invoice_amount']}")
    return text


def log_outcome(summary: dict, logger, limit: int | None = None) -> None:
    """One line per rejected row (the first ``limit``, default :data:`LOGGED_PROBLEMS`, then
    how many more), one summary line."""
    limit = LOGGED_PROBLEMS if limit is None else limit
    rejected = [p for p in summary["problems"] if p["bucket"] == "rejected"]
    for p in rejected[:limit]:
        logger.warning("%s", problem_line(p))
    if len(rejected) > limit:
        logger.warning("… and %d more rejected rows (all are on the Rejected sheet)",
                       len(rejected) - limit)
    company = summary.get("financial_company")
    logger.info("%s%s", f"company {company}: " if company else "", summary_line(summary))


def _problem_records(problems, language: str) -> list[dict]:
    out = []
    for r in problems.itertuples(index=False):
        reason = Reason[r.reason]
        out.append({"source": r.source, "row": None if pd.isna(r.source_row) else int(r.source_row),
                    "booking_number": _text(r.booking_number),
                    "column": column_label(_text(r.column), language),
                    "bucket": reason.bucket, "reason": reason.name,
                    "problem": reason.text(language, _text(r.detail) or ""),
                    "value": None if r.value is None or pd.isna(r.value) else str(r.value)})
    return out


def _text(v):
    return v if isinstance(v, str) else None


class Advanced(BaseModel):
    """Settings an operator rarely changes: the schedules and the command line set them."""

    model_config = ConfigDict(extra="forbid")

    billing_period: Literal["previous_month"] | None = Field(
        None, description="previous_month: with no invoice date, date the invoices on the last "
                          "day of the previous month (the monthly schedule)")
    incremental: bool = Field(
        False, description="database source: read only the orders created or changed since "
                           "the last delivered final run of that database")
    partition_rows: int = Field(
        job.DEFAULT_PARTITION_ROWS, gt=0,
        description="a company with more orders than this is billed in hash partitions of its "
                    "invoice-to parties (the workbook is the same)")
    if_empty: Literal["deliver", "skip"] = Field(
        "deliver", description="skip (the inbox): a run whose orders were all billed already "
                               "delivers no workbook; its summary says so under 'nothing'")


def _secret_url(name: str) -> str:
    """The database URL held by the Prefect Secret block ``name`` (it may carry the
    password: it is read here, in the run, and never stored or shown)."""
    from prefect.blocks.system import Secret
    try:
        value = Secret.load(name).get()
    except ValueError as err:
        raise errors.ConfigurationError(f"Prefect Secret block {name!r}: {err} (create it with "
                                        "prefect block create secret, or in the UI under "
                                        "Blocks)") from None
    if isinstance(value, dict):
        value = value.get("url", "")
    if not isinstance(value, str) or "://" not in value:
        raise errors.ConfigurationError(f"Prefect Secret block {name!r}: expected a database "
                                        "URL, e.g. postgresql+psycopg://billing:…@db/openolat")
    return value


@flow(name="billing-run", flow_run_name=_run_name, log_prints=True,
      task_runner=task_runners.from_environment())
def billing_run(source: str = DEFAULT_SOURCE, config: str = DEFAULT_CONFIG,
                outbox: str = DEFAULT_OUTBOX, invoice_date: dt.date | None = None,
                cutoff_date: dt.date | None = None, language: Literal["de", "en"] | None = None,
                draft: bool = True, state: str | None = None, source_secret: str | None = None,
                advanced: Advanced = Advanced()) -> dict:
    """Bill the booking orders in ``source`` and deliver one workbook into ``outbox``.

    A draft has provisional numbers and records nothing as billed; a final run (draft=False)
    takes gapless numbers and records every billed order in the state store. ``config`` may be
    a group (group.toml): one workbook per financial company. A company with more than
    ``advanced.partition_rows`` orders is billed in hash partitions of its invoice-to parties;
    the partitions are mapped tasks, run where the flow's task runner says
    (flows/task_runners.py). ``advanced.incremental`` (database sources) reads only orders
    created or changed since the last delivered final run, and those an OpenOlat edit may have
    changed without moving ``lastmodified`` (flows/incremental.py). An error a person can act
    on ends the run Failed with one message (logged once, no traceback) and delivers nothing;
    the stage it happened in is Failed too. The descriptions below are the manual run form's.

    Args:
        source: Booking orders: a CSV or OpenOlat .xlsx export (a path on the worker), or
            OpenOlat's database as a URL without password (the password comes from
            PGPASSWORD, ~/.pgpass or BILLING_DB_PASSWORD on the worker; or use source_secret).
        config: Configuration folder (company.toml and the reference tables), or a group.toml
            of several companies (one workbook each).
        outbox: Folder the invoicing system reads; created if missing.
        invoice_date: Invoice date; due dates, exchange rates and periods follow from it
            (empty: today, or the previous month's last day for the monthly schedule).
        cutoff_date: Orders placed after this date wait for the next run (empty: the invoice
            date).
        language: Workbook headers and messages, de or en (empty: the company's language).
        draft: On: a draft with provisional numbers that records nothing as billed. Off: a
            final run with gapless invoice numbers, every billed order recorded.
        state: State store, a SQLite file or a postgresql:// URL without password (empty:
            billing-state.sqlite beside the outbox). One for all runs, so nothing is billed
            twice.
        source_secret: Name of a Prefect Secret block holding the database URL with its
            password; read instead of source.
        advanced: Rarely changed: billing period (the monthly schedule's previous_month),
            incremental reading of a database, partition size.
    """
    errors.quiet_known_errors()
    logger = get_run_logger()
    adv = advanced if isinstance(advanced, Advanced) else Advanced.model_validate(advanced)
    try:
        refuse_password(source, "source")
        refuse_password(state, "state")
        job.check_validation_enabled()
        if invoice_date is None and adv.billing_period == "previous_month":
            invoice_date = previous_month_end(dt.date.today())
        group = load_group(config)
        store = open_store(state or default_state(outbox))
        since, recheck, statuses = None, (), ()
        if adv.incremental and (source_secret or job.source_kind(source) == "database"):
            shown = job.public_location(_secret_url(source_secret) if source_secret else source)
            since, recheck, statuses = incremental_window(
                store, [m.config.settings.code for m in group.members], shown)
        delays = retry_delays()
        extract = extract_task.with_options(retries=len(delays), retry_delay_seconds=delays
                                            or 0)
        ex = extract(source, since, source_secret, recheck, statuses)
        valid, problems = validate_task(
            ex, job.price_format(ex, [m.config for m in group.members]))
        runs = [dataclasses.replace(r, if_empty=adv.if_empty) for r in job.company_runs(
            ex, valid, problems, group, lambda c: job.default_params(
                invoice_date, cutoff_date, language, c, draft=draft))]
        del ex, valid, problems  # the runs hold what billing needs; the text is let go
        prepared = final_run.prepare_group(
            runs, Path(outbox), store,
            bill_many=functools.partial(job.bill_many, partition_rows=adv.partition_rows,
                                        map_parts=_map_parts),
            render_fn=render_task)
        results = [deliver_task(p, outbox, store) for p in prepared]
        summaries = [summarise(r, store, run.params, run.config.settings.code)
                     for r, run in zip(results, runs)]
    except Exception as err:  # noqa: BLE001 - classified; a bug is raised as it is
        known = errors.classify(err)
        if known is None:
            raise
        logger.error("%s — nothing was delivered", known)
        return Failed(message=str(known), data=known)
    for s in summaries:
        log_outcome(s, logger)
    return summaries[0] if group.single else group_summary(group.name, summaries)


def group_summary(name: str, companies: list[dict]) -> dict:
    """A group run: each company's summary, and the row counts of the whole source."""
    keys = ("rows_read", "rows_billed", "rows_rejected", "rows_not_billable",
            "rows_already_billed", "invoices", "credit_notes", "lines")
    return {"group": name, "companies": companies,
            **{k: sum(c.get(k, 0) for c in companies) for k in keys},
            "problems": [p for c in companies for p in c["problems"]],
            "workbooks": [c["workbook"] for c in companies]}


def summarise(result, store, params, company: str = "") -> dict:
    """The run's summary for the CLI and the UI (publishes the artifacts)."""
    if result.nothing:
        counts = row_buckets(result.billing.problems)["bucket"].value_counts()
        return {"run": result.run_id, "nothing": result.nothing, "workbook": None,
                "already_delivered": False, "problems": [],
                "rows_read": int(counts.sum()), "rows_billed": 0,
                "rows_rejected": int(counts.get("rejected", 0)),
                "rows_not_billable": int(counts.get("not_billable", 0)),
                "rows_already_billed": int(counts.get("already_billed", 0)),
                "invoices": 0, "credit_notes": 0, "lines": 0}
    if result.already_delivered:
        with store.connect() as conn:
            rec = state_store.run_record(conn, result.run_id)
        meta = json.loads(rec["parameters"]) if rec else {}
        summary = {**meta.get("manifest", {}), "problems": [], "already_delivered": True,
                   "workbook": str(Path(meta.get("outbox", ".")) / (rec or {}).get("workbook", "")),
                   "run_status": rec["status"] if rec else None, "financial_company": company}
        return summary
    rendered = result.rendered
    summary = {**rendered.manifest, "workbook": str(result.delivery.workbook),
               "manifest": str(result.delivery.manifest),
               "already_delivered": result.delivery.already_there,
               "recovered": result.recovered}
    _publish(summary, rendered, company)
    summary["financial_company"] = company
    summary["problems"] = _problem_records(result.billing.problems, params.language)
    return summary
