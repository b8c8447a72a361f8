"""``billing_run``: the main Prefect flow — the run pipeline (flows/pipeline.py) with its stages
as Prefect tasks.

The flow is a thin wrapper: it turns its parameters into a :class:`~flows.pipeline.Request`
and runs :func:`flows.pipeline.run` with the :class:`Tasks` executor. Each stage is a task, so the Prefect UI shows where a run spent its time and where it stopped.
Validation problems in some rows are not a failure (they are on the Rejected sheet); an
unusable source or configuration fails the run before anything is delivered. Tasks keep no
result cache: billing data must never be answered from a stale cache.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.runtime import flow_run
from prefect.states import Failed
from pydantic import BaseModel, ConfigDict, Field

from . import defaults, errors, stages, pipeline, task_runners
from .errors import TransientError
from .pipeline import previous_month_end
from .summary import log_outcome


def _stage(fn):
    """Run a stage as a task: an error a person can act on is raised as its
    :class:`~flows.errors.BillingError` (the task ends Failed with that message, logged
    without a traceback); an exception no kind covers is a bug and keeps its traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        errors.quiet_known_errors()
        return pipeline.classified(fn, *args, **kwargs)
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
    return f"extract {stages.public_location(source) if '://' in source else Path(source).name}"


@task(name="extract", task_run_name=_extract_name, cache_policy=NONE, retries=3,
      retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=_transient)
@_stage
def extract_task(source: str, since: dt.datetime | None = None, secret: str | None = None,
                 recheck: tuple = (), recheck_statuses: tuple = ()):
    ex = pipeline.extract(source, since, secret, recheck, recheck_statuses)
    get_run_logger().info("read %d rows from %s (sha256 %s)", ex.rows, ex.name, ex.checksum[:12])
    for note in ex.notes:
        get_run_logger().info("%s", note)
    return ex


@task(name="validate", task_run_name="validate", cache_policy=NONE)
@_stage
def validate_task(ex, price_format="detect"):
    valid, problems = pipeline.validate(ex, price_format)
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
    """One partition of one company, up to numbering (transforms.billing.PARTITION_STEPS);
    mapped over all partitions, so a cluster bills them side by side."""
    logger = get_run_logger()

    def log(t):
        logger.info("step %-22s %7.3f s  %d lines", t.step, t.seconds, t.lines)

    return pipeline.bill_part(orders, ctx, key, log)


@task(name="render", task_run_name="render", cache_policy=NONE)
@_stage
def render_task(billing, ex, config, params, rid, outbox, staged=None,
                max_rows=stages.EXCEL_MAX_ROWS, max_text=stages.EXCEL_MAX_TEXT):
    rendered = pipeline.render(billing, ex, config, params, rid, outbox, staged, max_rows,
                               max_text)
    get_run_logger().info("rendered %s: sheets %s", rendered.name, ", ".join(
        rendered.manifest["sheets"]))
    for warning in rendered.manifest.get("warnings", ()):
        get_run_logger().warning(warning)
    return rendered


@task(name="deliver", task_run_name="deliver", cache_policy=NONE)
@_stage
def deliver_task(prepared, outbox, store, crash_test=None):
    result = pipeline.deliver(prepared, Path(outbox), store, crash_test or (lambda _: None))
    get_run_logger().info("%s %s", "already delivered:" if result.already_delivered
                          else "delivered:", result.delivery.workbook if result.delivery
                          else prepared.run_id)
    return result


class Tasks:
    """The pipeline's executor in a flow run: extract, validate, render and deliver each a
    task, the partitions a mapped task (on the flow's task runner: threads or Dask), the
    extract retried by the error's kind (``BILLING_RETRY_DELAYS``, read when the run
    starts); plan and the lock step run in the flow itself. Publishes each workbook's totals
    and reconciliation as artifacts."""

    def __init__(self):
        delays = retry_delays()
        self.tasks = {
            pipeline.extract: extract_task.with_options(retries=len(delays),
                                                        retry_delay_seconds=delays or 0),
            pipeline.validate: validate_task, pipeline.render: render_task,
            pipeline.deliver: deliver_task}

    def call(self, stage, *args, **kwargs):
        as_task = self.tasks.get(stage)
        if as_task is None:
            return pipeline.classified(stage, *args, **kwargs)
        return as_task(*args, **kwargs)

    def map(self, stage, calls):
        if stage is not pipeline.bill_part:
            return [self.call(stage, *c) for c in calls]
        futures = bill_partition_task.map([c[0] for c in calls], [c[1] for c in calls],
                                          [c[2] for c in calls])
        return [f.result() for f in futures]

    def publish(self, summary, rendered, company):
        _publish(summary, rendered, company)


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
        stages.DEFAULT_PARTITION_ROWS, gt=0,
        description="a company with more orders than this is billed in hash partitions of its "
                    "invoice-to parties (the workbook is the same)")
    if_empty: Literal["deliver", "skip"] = Field(
        "deliver", description="skip (the inbox): a run whose orders were all billed already "
                               "delivers no workbook; its summary says so under 'nothing'")


def failed_run(err: Exception, logger, consequence: str):
    """The Failed state a flow ends with for an error a person can act on: its message logged
    once, with what it means (``consequence``), no traceback; the error rides along as the
    state's data, so the command line gives its exit code. A bug is raised as it is."""
    known = errors.classify(err)
    if known is None:
        raise err
    logger.error("%s — %s", known, consequence)
    return Failed(message=str(known), data=known)


@flow(name="billing-run", flow_run_name=_run_name, log_prints=True,
      task_runner=task_runners.AtRunStart())
def billing_run(source: str = defaults.SOURCE, config: str = defaults.CONFIG,
                outbox: str = defaults.OUTBOX, invoice_date: dt.date | None = None,
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
        done = pipeline.run(pipeline.Request(
            source=source, config=config, outbox=outbox, invoice_date=invoice_date,
            cutoff_date=cutoff_date, language=language, draft=draft, state=state,
            source_secret=source_secret, incremental=adv.incremental,
            partition_rows=adv.partition_rows, if_empty=adv.if_empty,
            billing_period=adv.billing_period), Tasks())
    except Exception as err:  # noqa: BLE001 - classified; a bug is raised as it is
        return failed_run(err, logger, "nothing was delivered")
    for s in done.summaries:
        log_outcome(s, logger)
    return done.summary
