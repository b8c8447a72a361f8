"""One billing run, whoever asks for it: plan → extract → validate → bill → render → commit →
deliver (DESIGN.md §5, §7).

Every entry point — ``billing-export run`` (draft, final, group), ``credit``, ``redate``, the
inbox, the Prefect flows, the benchmark and the tests — states what it wants as a
:class:`Request` and calls :func:`run`. The only seam is the :class:`Executor` that calls each
stage: :data:`LOCAL` calls them in this process; the Prefect flow (flows/billing_run.py) runs
them as tasks (the partitions as a mapped task, the extract with retries by error kind);
:class:`Timed` gives the benchmark its per-stage seconds. Nothing on this module's import path
imports Prefect, so a run without a Prefect server starts in a fraction of a second.

What happens under the state store's lock is one step, :func:`commit`: split what is billed
already, bill the rest, credit notes, numbers, render, record (flows/commit_step.py holds the
store's side of it).

>>> Request(source="orders.csv", draft=False).kind
'source'
>>> Request(credit=Credit("RE-2026-000017", reinvoice=True)).kind
'credit'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol

from schemas.problems import concat, empty_problems
from transforms.partition import hash_partitions
from transforms.billing import bill_partition, finish

from . import defaults, errors, commit_step, stages
from .summary import group_summary, summarise
from .config import Config, Group, Member, load_group
from .state_store import StateStore, open_store

#: the crash tests' seam (tests/test_exactly_once.py): called with the name of each point a
#: final run may die at — after_render, before_commit, after_commit, after_deliver
CrashTest = Callable[[str], None]


def _no_crash(_: str) -> None:
    return None


@dataclass(frozen=True)
class Credit:
    """Credit one final invoice in full; with ``reinvoice`` bill its orders again as billed."""
    number: str
    reinvoice: bool = False


@dataclass(frozen=True)
class Request:
    """What was asked for: the parameters of ``billing-export run`` and of the flow.

    ``config`` is a folder, a group.toml, or a loaded :class:`~flows.config.Config` /
    :class:`~flows.config.Group`; ``state`` a location or an open store (default: beside the
    outbox). Two special kinds read no source of their own choosing: ``credit`` (a credit
    note on demand, from the state store) and ``company`` (one member of a group only: a
    group's draft re-dated)."""
    source: str = defaults.SOURCE
    config: Any = defaults.CONFIG
    outbox: str | Path = defaults.OUTBOX
    invoice_date: dt.date | None = None
    cutoff_date: dt.date | None = None
    language: str | None = None
    draft: bool = True
    state: str | Path | StateStore | None = None
    source_secret: str | None = None  # a Prefect Secret block holding the database URL
    incremental: bool = False
    partition_rows: int = stages.DEFAULT_PARTITION_ROWS
    #: a draft with nothing to bill: deliver it, skip it (inbox), or refuse it (re-dating)
    if_empty: Literal["deliver", "skip", "refuse"] = "deliver"
    billing_period: Literal["previous_month"] | None = None
    credit: Credit | None = None
    company: str | None = None
    max_rows: int = stages.EXCEL_MAX_ROWS  # the workbook's sheet limits (tests make them small)
    max_text: int = stages.EXCEL_MAX_TEXT

    @property
    def kind(self) -> str:
        return "credit" if self.credit else "source"


@dataclass
class Run:
    """The run value the stages fill in turn."""
    request: Request
    group: Group
    store: StateStore
    outbox: Path
    #: incremental reading of a database: (since, recheck, recheck_statuses)
    window: tuple = (None, (), ())
    companies: list[stages.CompanyRun] = field(default_factory=list)
    prepared: list[commit_step.Prepared] = field(default_factory=list)
    results: list[commit_step.FinalResult] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)

    @property
    def result(self) -> commit_step.FinalResult:
        """The one company's result (a run of a single company, a credit)."""
        return self.results[0]

    @property
    def summary(self) -> dict:
        """What the command line prints and the flow returns: one company's summary, or a
        group's with each company's."""
        if self.group.single or self.request.company:
            return self.summaries[0]
        return group_summary(self.group.name, self.summaries)


# -- the seam: how a stage is called --------------------------------------------------------

class Executor(Protocol):
    """Calls the stages: in this process, as Prefect tasks, timed."""

    def call(self, stage: Callable, *args, **kwargs): ...

    def map(self, stage: Callable, calls: list[tuple]) -> list: ...

    def publish(self, summary: dict, rendered: stages.Rendered, company: str) -> None: ...


def classified(stage: Callable, *args, **kwargs):
    """Call ``stage``; an error a person can act on is raised as its
    :class:`~flows.errors.BillingError` (one message, no traceback), a bug as it is."""
    try:
        return stage(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - classified, or raised as it is
        known = errors.classify(err)
        if known is None or known is err:
            raise
        raise known from None


class Local:
    """Every stage called directly, in this process (no Prefect, no server)."""

    def call(self, stage, *args, **kwargs):
        return classified(stage, *args, **kwargs)

    def map(self, stage, calls):
        return [classified(stage, *c) for c in calls]

    def publish(self, summary, rendered, company):
        return None


LOCAL = Local()


class Timed:
    """Another executor's calls, each stage's seconds summed by its name (the benchmark)."""

    def __init__(self, inner: Executor = LOCAL):
        self.inner = inner
        self.seconds: dict[str, float] = defaultdict(float)

    def call(self, stage, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.inner.call(stage, *args, **kwargs)
        finally:
            self.seconds[stage.__name__] += time.perf_counter() - start

    def map(self, stage, calls):
        start = time.perf_counter()
        try:
            return self.inner.map(stage, calls)
        finally:
            self.seconds[stage.__name__] += time.perf_counter() - start

    def publish(self, summary, rendered, company):
        self.inner.publish(summary, rendered, company)


# -- the stages ------------------------------------------------------------------------------

def plan(request: Request) -> Run:
    """Check what was asked before anything is read: no password in a location, validation
    on, the configuration and the state store usable; the invoice date of the monthly
    schedule; what an incremental read reads; a credit's orders from the store."""
    from .sources.db_urls import refuse_password
    refuse_password(request.source, "source")
    if not isinstance(request.state, StateStore):
        refuse_password(request.state and str(request.state), "state")
    if request.credit is None:  # a credit validates nothing: it negates what was delivered
        stages.check_validation_enabled()
    stages.use_jemalloc()
    if request.invoice_date is None and request.billing_period == "previous_month":
        request = dataclasses.replace(request, invoice_date=previous_month_end(dt.date.today()))
    group = _group(request.config)
    outbox = Path(request.outbox)
    store = (request.state if isinstance(request.state, StateStore)
             else open_store(str(request.state or defaults.state_location(outbox))))
    run = Run(request, group, store, outbox)
    if request.credit is not None:
        run.companies = [_credit_run(run)]
    elif request.incremental and (request.source_secret
                                  or stages.source_kind(request.source) == "database"):
        from .incremental import window
        shown = stages.public_location(secret_url(request.source_secret) if request.source_secret
                                    else request.source)
        run.window = window(store, [m.config.settings.code for m in group.members], shown)
    return run


def extract(source: str, since: dt.datetime | None = None, secret: str | None = None,
            recheck: tuple = (), recheck_statuses: tuple = ()):
    """Read the source (``secret``: a Prefect Secret block holding the database URL, read
    here, so the URL with its password is never a parameter anybody stores)."""
    return stages.extract(secret_url(secret) if secret else source, since=since, recheck=recheck,
                       recheck_statuses=recheck_statuses)


def validate(ex, price_format: str = "detect"):
    """Parse and validate every row: ``(valid orders, problems)``."""
    return stages.validate(ex, price_format)


def bill_part(orders, ctx, key, progress=None):
    """One hash partition of one company, up to numbering (transforms.billing)."""
    return bill_partition(orders, ctx, progress)[0]


def render(billing, ex, config: Config, params, rid: str, outbox: Path,
           staged: Path | None = None, max_rows: int = stages.EXCEL_MAX_ROWS,
           max_text: int = stages.EXCEL_MAX_TEXT) -> stages.Rendered:
    """The workbook (and QR-bills) to ``staged``; the writer's OS errors name no file, so one
    that does not say is the outbox's."""
    try:
        return stages.render(billing, ex, config, params, rid, outbox, max_rows, max_text,
                          staged=staged)
    except Exception as err:  # noqa: BLE001 - an OS error is said as one, the rest raised
        os_err = errors.os_error_of(err)
        if os_err is None:
            raise
        raise errors.from_os_error(os_err, os_err.filename or outbox,
                                   "cannot write the workbook") from None


def commit(run: Run, executor: Executor, crash_test: CrashTest = _no_crash) -> None:
    """Under the state store's lock, for every company of the run at once: split what is
    billed already, bill the rest, credit notes, numbers, render, record. It commits for all
    companies or for none; ``crash_test`` is the crash tests' seam (:data:`CrashTest`)."""
    req = run.request
    codes = [c.config.settings.code for c in run.companies]
    prepared = []
    with commit_step.locked(run.store, codes, run.outbox) as held:
        started = [held.split(c) for c in run.companies]
        todo = [s for s in started if isinstance(s, commit_step.Started)]
        billings = iter(bill(executor, [
            (s.life.to_bill, concat([s.run.problems, s.life.problems]),
             stages.context(s.run.config, s.run.params, s.run.rid)) for s in todo],
            req.partition_rows))
        for s in started:
            if not isinstance(s, commit_step.Started):  # delivered already
                prepared.append(s)
                continue
            billing = held.credit_notes(s, next(billings))
            empty = held.nothing(s, billing)
            if empty is not None:
                prepared.append(empty)
                continue
            billing = held.number(s, billing)
            r = s.run
            rendered = executor.call(render, billing, r.ex, r.config, r.params, r.rid,
                                     run.outbox, held.stage(s), req.max_rows, req.max_text)
            crash_test("after_render")
            prepared.append(held.record(s, billing, rendered))
        crash_test("before_commit")
    crash_test("after_commit")
    run.prepared = prepared


def bill(executor: Executor, jobs: list[tuple], partition_rows: int) -> list:
    """Bill several companies' orders ``[(orders, problems, context)]``: each company's orders
    in hash partitions of its invoice-to parties, all partitions through the executor's map
    (a Dask cluster, if the flow was given one), then per company the merge and the
    numbering."""
    parts = [(i, p) for i, (orders, _, ctx) in enumerate(jobs)
             for p in hash_partitions(ctx.settings.code, orders, ctx.tables.get("customers"),
                                      partition_rows)]
    billed = executor.map(bill_part, [(p.orders, jobs[i][2], p.key) for i, p in parts])
    return [finish(problems, [b for (j, _), b in zip(parts, billed) if j == i], ctx)[0]
            for i, (_, problems, ctx) in enumerate(jobs)]


def deliver(prepared: commit_step.Prepared, outbox: Path, store: StateStore,
            crash_test: CrashTest = _no_crash) -> commit_step.FinalResult:
    """Move the committed workbook into the outbox and mark the run delivered."""
    return commit_step.deliver_committed(prepared, outbox, store, crash_test)


# -- the one sequence ------------------------------------------------------------------------

def run(request: Request, executor: Executor = LOCAL,
        crash_test: CrashTest | None = None) -> Run:
    """Run ``request`` from plan to delivery; every stage through ``executor``."""
    crash_test = crash_test or _no_crash
    r = executor.call(plan, request)
    if r.request.kind == "source":
        ex = executor.call(extract, r.request.source, r.window[0], r.request.source_secret,
                           *r.window[1:])
        valid, problems = executor.call(
            validate, ex, stages.price_format(ex, [m.config for m in r.group.members]))
        r.companies = companies(r, ex, valid, problems)
        del ex, valid, problems  # the runs hold what billing needs; the text is let go
    executor.call(commit, r, executor, crash_test)
    r.results = [executor.call(deliver, p, r.outbox, r.store, crash_test) for p in r.prepared]
    r.summaries = [_summarise(executor, r, res, c) for res, c in zip(r.results, r.companies)]
    return r


def companies(run: Run, ex, valid, problems) -> list[stages.CompanyRun]:
    """The source split among the companies of the run's group (only the one asked for, if
    ``request.company`` says so)."""
    req = run.request
    out = [dataclasses.replace(c, if_empty=req.if_empty) for c in stages.company_runs(
        ex, valid, problems, run.group, lambda cfg: params(req, cfg))]
    if req.company:
        run.group.member(req.company)  # an unknown company is a configuration error
        out = [c for c in out if c.config.settings.code == req.company]
    return out


def params(request: Request, config: Config):
    return stages.default_params(request.invoice_date, request.cutoff_date, request.language,
                              config, draft=request.draft)


def _summarise(executor: Executor, run: Run, result: commit_step.FinalResult,
               company: stages.CompanyRun) -> dict:
    code = company.config.settings.code
    summary = summarise(result, run.store, company.params, code)
    if not result.nothing and not result.already_delivered:
        executor.publish(summary, result.rendered, code)
    return summary


def _credit_run(run: Run) -> stages.CompanyRun:
    """A credit's company run: no source, the store's orders of the invoice it credits."""
    if len(run.group.members) != 1:
        raise errors.ConfigurationError(f"{run.group.folder}: a group of companies; a credit "
                                        "is issued by one (say which with --company)")
    config = run.group.members[0].config
    p = params(run.request, config)
    ex, rid, fresh = commit_step.plan_credit(run.store, config, run.request.credit, p)
    return stages.CompanyRun(ex, commit_step.canonical_empty(), empty_problems(), config, p, rid,
                          credit=run.request.credit if fresh else None)


def _group(config) -> Group:
    if isinstance(config, Group):
        return config
    if isinstance(config, Config):
        return Group(config.settings.name, (Member(config, ()),), config.folder, True)
    return load_group(config)


def previous_month_end(today: dt.date) -> dt.date:
    """Last day of the month before ``today``'s."""
    return today.replace(day=1) - dt.timedelta(days=1)


def secret_url(name: str) -> str:
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
