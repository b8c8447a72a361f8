"""``billing_run``: the main Prefect flow — extract, validate, bill, render, deliver.

Each stage is a task, so the Prefect UI shows where a run spent its time and where it stopped.
Validation problems in some rows are not a failure (they are on the Rejected sheet); an
unusable source or configuration fails the run before anything is delivered. Tasks keep no
result cache: billing data must never be answered from a stale cache.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dataclasses
import functools
import json

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.runtime import flow_run
from prefect.states import Failed

from schemas.problems import Reason
from transforms.reconcile import column_label, row_buckets

from transforms.pipeline import bill_partition

from . import final_run, job, state_store, task_runners
from .config import ConfigError, load_group
from .state_store import StateError, open_store
from .outbox import DeliveryError
from .sources.base import SourceError
from .sources.openolat_db import SourceUnavailable
from .workbook import WriterError
from transforms.reference import ReferenceError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = str(ROOT / "sample_data" / "booking_orders.csv")
DEFAULT_CONFIG = str(ROOT / "sample_data")
DEFAULT_OUTBOX = "out/outbox"


class UserError(Exception):
    """A problem the user can fix (source, configuration, outbox); reported without a trace."""


USER_ERRORS = (SourceError, ConfigError, DeliveryError, WriterError, ReferenceError, StateError,
               final_run.CommandError)


def _guard(fn):
    """Run a stage; a user error comes back as a value, so Prefect logs a message, not a
    traceback, and the flow ends Failed with that message. A source that is unavailable for
    now (database down) is raised, so the task's retries apply."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SourceUnavailable:
            raise
        except USER_ERRORS as err:
            return UserError(str(err))
    return wrapper


def _transient(task, task_run, state) -> bool:
    """Retry only what may pass: a database that cannot be reached. Never a bad file."""
    try:
        state.result()
    except SourceUnavailable:
        return True
    except Exception:  # noqa: BLE001 - anything else is terminal
        return False
    return False


def _check(value):
    if isinstance(value, UserError):
        raise value
    return value


RETRY_DELAYS = [2, 10, 30]


def _extract_name() -> str:
    """Name of the extract task run: the source, with any database password hidden."""
    from prefect.runtime import task_run
    source = str(task_run.parameters.get("source", ""))
    return f"extract {job.public_location(source) if '://' in source else Path(source).name}"


@task(name="extract", task_run_name=_extract_name, cache_policy=NONE, retries=3,
      retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=_transient)
@_guard
def extract_task(source: str, since: dt.datetime | None = None):
    ex = job.extract(source, since=since)
    get_run_logger().info("read %d rows from %s (sha256 %s)", ex.rows, ex.name, ex.checksum[:12])
    return ex


@task(name="validate", task_run_name="validate", cache_policy=NONE)
@_guard
def validate_task(ex):
    valid, problems = job.validate(ex)
    get_run_logger().info("%d rows valid, %d problems in %d rows", len(valid), len(problems),
                          problems[["source", "source_row"]].drop_duplicates().shape[0])
    return valid, problems


def _partition_name() -> str:
    from prefect.runtime import task_run
    company, bucket = task_run.parameters.get("key", ("", 0))
    return f"bill {company}" + (f" part {bucket + 1}" if bucket else "")


@task(name="bill", task_run_name=_partition_name, cache_policy=NONE)
@_guard
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
    return [_check(f.result()) for f in futures]


@task(name="render", task_run_name="render", cache_policy=NONE)
@_guard
def render_task(billing, ex, config, params, rid, outbox, staged=None):
    rendered = job.render(billing, ex, config, params, rid, outbox, staged=staged)
    get_run_logger().info("rendered %s: sheets %s", rendered.name, ", ".join(
        rendered.manifest["sheets"]))
    return rendered


@task(name="deliver", task_run_name="deliver", cache_policy=NONE)
@_guard
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
    date = p.get("invoice_date") or (previous_month_end(dt.date.today())
                                     if p.get("billing_period") == "previous_month"
                                     else dt.date.today())
    return f"billing-run {date} {'draft' if p.get('draft', True) else 'final'}"


def _publish(result_summary: dict, rendered) -> None:
    totals = rendered.manifest["totals"]
    rows = [{"currency": cur, "invoices": t["invoices"], "net": t["net_amount"],
             "tax": t["tax_amount"], "invoice amount": t["invoice_amount"]}
            for cur, t in totals.items()]
    create_table_artifact(key="billing-run-totals", table=rows or [{"currency": "-"}],
                          description=f"Invoices per currency — rejected rows: "
                                      f"{result_summary['rows_rejected']}")
    recon = rendered.tables["reconciliation"]
    lines = ["| section | metric | currency | value |", "|---|---|---|---|"]
    for r in recon.itertuples(index=False):
        cur = r.currency if isinstance(r.currency, str) else ""
        lines.append(f"| {r.section} | {r.metric} | {cur} | {r.value} |")
    create_markdown_artifact(key="billing-run-reconciliation", markdown="\n".join(lines),
                             description=f"Reconciliation of {rendered.name}")


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


@flow(name="billing-run", flow_run_name=_run_name, log_prints=True,
      task_runner=task_runners.from_environment())
def billing_run(source: str = DEFAULT_SOURCE, config: str = DEFAULT_CONFIG,
                outbox: str = DEFAULT_OUTBOX, invoice_date: dt.date | None = None,
                cutoff_date: dt.date | None = None, language: str | None = None,
                draft: bool = True, state: str | None = None,
                billing_period: str | None = None, incremental: bool = False,
                partition_rows: int = job.DEFAULT_PARTITION_ROWS,
                if_empty: str = "deliver") -> dict:
    """Bill the booking orders in ``source`` and deliver one workbook into ``outbox``.

    A draft has provisional numbers and records nothing as billed; a final run (draft=False)
    takes gapless numbers and records every billed order in the state store.
    ``billing_period="previous_month"`` (the monthly schedule) dates the invoices on the last
    day of the previous month when no invoice date is given. ``incremental`` (database
    sources) reads only orders created or changed since the last delivered final run.

    ``config`` may be a group (group.toml): one workbook per financial company. A company
    with more than ``partition_rows`` orders is billed in hash partitions of its invoice-to
    parties; the partitions are mapped tasks, run where the flow's task runner says
    (flows/task_runners.py). ``if_empty="skip"`` (the inbox): a draft whose orders were all
    billed already delivers no workbook; its summary says so under ``nothing``."""
    job.check_validation_enabled()
    if invoice_date is None and billing_period == "previous_month":
        invoice_date = previous_month_end(dt.date.today())
    try:
        group = load_group(config)
        store = open_store(state or default_state(outbox))
        since = None
        if incremental and job.source_kind(source) == "database":
            with store.connect() as conn:
                marks = [state_store.last_read_at(conn, m.config.settings.code,
                                                  job.public_location(source))
                         for m in group.members]
            since = None if None in marks else min(marks)
        ex = _check(extract_task(source, since))
        valid, problems = _check(validate_task(ex))
        runs = [dataclasses.replace(r, if_empty=if_empty) for r in job.company_runs(
            ex, valid, problems, group, lambda c: job.default_params(
                invoice_date, cutoff_date, language, c, draft=draft))]
        del ex, valid, problems  # the runs hold what billing needs; the text is let go
        prepared = final_run.prepare_group(
            runs, Path(outbox), store,
            bill_many=functools.partial(job.bill_many, partition_rows=partition_rows,
                                        map_parts=_map_parts),
            render_fn=lambda *a, **k: _check(render_task(*a, **k)))
        results = [_check(deliver_task(p, outbox, store)) for p in prepared]
    except (UserError, *USER_ERRORS) as err:
        get_run_logger().error("%s — nothing was delivered", err)
        return Failed(message=str(err))
    summaries = [summarise(r, store, run.params) for r, run in zip(results, runs)]
    return summaries[0] if group.single else group_summary(group.name, summaries)


def group_summary(name: str, companies: list[dict]) -> dict:
    """A group run: each company's summary, and the row counts of the whole source."""
    keys = ("rows_read", "rows_billed", "rows_rejected", "rows_not_billable",
            "rows_already_billed", "invoices", "credit_notes", "lines")
    return {"group": name, "companies": companies,
            **{k: sum(c.get(k, 0) for c in companies) for k in keys},
            "problems": [p for c in companies for p in c["problems"]],
            "workbooks": [c["workbook"] for c in companies]}


def summarise(result, store, params) -> dict:
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
                   "run_status": rec["status"] if rec else None}
        return summary
    rendered = result.rendered
    summary = {**rendered.manifest, "workbook": str(result.delivery.workbook),
               "manifest": str(result.delivery.manifest),
               "already_delivered": result.delivery.already_there,
               "recovered": result.recovered}
    _publish(summary, rendered)
    summary["problems"] = _problem_records(result.billing.problems, params.language)
    return summary
