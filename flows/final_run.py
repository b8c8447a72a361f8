"""Final runs: exactly once, with gapless invoice numbers (DESIGN.md §5 Lifecycle, §7 State).

The whole billing of a final run happens under the state store's lock: read what is billed,
bill the rest (crediting and re-invoicing what changed), take numbers from the series, render
the workbook to a staged file beside the outbox, and record the run as *pending* with
everything it billed — one transaction. Only then is the staged file moved into the outbox and
the run marked *delivered*.

A run that dies before the commit leaves no trace (numbers and orders are free again; the same
inputs give the same numbers and bytes). A run that dies after it is finished by the next run
on the same store — before anything else is billed — from the staged file. Either way exactly
one workbook is delivered, every order is billed once, and the series has no gap.

Staged names carry their writer (``flows.outbox.staged_path``), so identical runs started
together never write one file: the first delivers, the others find it delivered. A run that
fails before its commit — an error, Ctrl-C, SIGTERM, a full disk — removes what it staged; what
a killed run staged is swept by the next run (``sweep_outbox``). Whether an order is billed
already is asked of the whole store, not of one company (``lifecycle.billed_by_others``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import pandas as pd

import hashlib

from schemas.problems import concat, empty_problems
from schemas.settings import RunParameters
from schemas.workbook import INVOICES, LINES, TAXES
from transforms import lifecycle
from transforms.billing import Billing
from transforms.credit import as_records, credit_notes
from transforms.numbering import apply_numbers, final_order
from transforms.periods import fiscal, tax_period
from transforms.parse import parse_booking_orders
from transforms.pipeline import output_tables
from transforms.reconcile import row_buckets

from . import job, qrbills, state_store
from .config import Config
from .sources.base import Extract
from .errors import CommandError  # noqa: F401 - defined with every error in flows.errors
from .errors import OutboxUnwritable, from_os_error
from .outbox import (Delivery, DeliveryError, deliver, manifest_name, remove_staged,
                     sha256_file, stale_staged, write_manifest)
from .outbox import staged_path as outbox_staged_path
from .state_store import StateStore

Failpoint = Callable[[str], None]
log = logging.getLogger(__name__)


def _no_failpoint(_: str) -> None:
    return None


@dataclass
class FinalResult:
    run_id: str
    delivery: Delivery | None
    rendered: job.Rendered | None
    billing: Billing | None
    already_delivered: bool
    recovered: list[str]
    nothing: str | None = None  # a draft not delivered: every row read was billed already


def staged_path(outbox: Path, name: str) -> Path:
    """Where a run stages ``name``: beside the outbox, unique per process (flows.outbox)."""
    return outbox_staged_path(outbox.resolve(), name)


def _log():
    try:
        from prefect import get_run_logger
        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a Prefect run
        return log


def sweep_outbox(conn, outbox: Path) -> list[Path]:
    """Remove the staged files of the outbox that nobody will finish (flows.outbox
    ``stale_staged``), each with a log line. Runs under the store's lock, so no run of this
    store is between render and commit meanwhile; a pending final run's files are kept for
    its recovery."""
    removed = []
    for path, why in stale_staged(outbox, state_store.owned_staged(conn)):
        remove_staged(path)
        _log().warning("removed %s from the outbox: staged by a run that did not finish "
                       "(%s; no pending run owns it)", path.name, why)
        removed.append(path)
    return removed


def recover_pending(conn, company: str, outbox: Path) -> list[str]:
    """Finish the deliveries of runs that committed but did not get to deliver."""
    done = []
    for run in state_store.pending_runs(conn, company):
        name, digest = run["workbook"], run["sha256"]
        meta = json.loads(run["parameters"])
        final = Path(meta["outbox"]) / name
        staged = Path(run["staged_path"])
        if final.exists():
            if sha256_file(final) != digest:
                raise DeliveryError(f"{final}: differs from what run {run['run_id']} recorded; "
                                    "it is never overwritten — check the outbox by hand")
        elif staged.exists() and sha256_file(staged) == digest:
            qr = meta.get("qr_staged")
            if qr and Path(qr).exists():
                qrbills.place_folder(Path(qr), final.parent / qrbills.folder_name(name))
            deliver(staged, final.parent, name, meta["manifest"])
        else:
            raise DeliveryError(f"run {run['run_id']} committed {name} but neither the workbook "
                                f"nor its staged copy {staged} is there")
        write_manifest(final.parent, name, digest, meta["manifest"])
        state_store.mark_delivered(conn, run["run_id"], name, digest)
        done.append(name)
    return done


def append_credit_notes(billing: Billing, originals: dict, params: RunParameters, config: Config,
                        rid: str) -> Billing:
    if not originals:
        return billing
    inv, lines, taxes = credit_notes(originals, params.invoice_date, rid)
    s = config.settings
    fy, fp = fiscal(inv["invoice_date"], s.fiscal_year_start_month)
    ty, tp = tax_period(inv["tax_date"], s.tax_period)
    inv = inv.assign(fiscal_year=fy, fiscal_period=fp, reporting_year=fy, reporting_period=fp,
                     tax_year=ty, tax_period=tp, invoice_status="ready_to_print")
    return replace(billing,
                   invoices=pd.concat([billing.invoices, inv], ignore_index=True),
                   lines=pd.concat([billing.lines, lines], ignore_index=True),
                   taxes=pd.concat([billing.taxes, taxes], ignore_index=True))


def documents(tables: dict[str, pd.DataFrame]) -> list[dict]:
    """Each delivered invoice or credit note with its lines and taxes, as the store keeps it."""
    lines = tables["lines"].groupby("invoice_number", sort=False)
    taxes = tables["taxes"].groupby("invoice_number", sort=False)
    out = []
    for inv in as_records(tables["invoices"], INVOICES):
        n = inv["invoice_number"]
        out.append({
            "invoice_number": n, "document_type": inv["document_type"],
            "linked_invoice_number": inv["linked_invoice_number"],
            "invoice_date": inv["invoice_date"], "currency": inv["currency"],
            "invoice_amount": inv["invoice_amount"],
            "data": {"invoice": inv,
                     "lines": as_records(lines.get_group(n), LINES) if n in lines.groups else [],
                     "taxes": as_records(taxes.get_group(n), TAXES) if n in taxes.groups else []},
        })
    return out


OrdersFn = Callable[[object, pd.DataFrame], "lifecycle.Lifecycle"]


@dataclass
class Prepared:
    """A run billed, rendered and committed (or found delivered already), not yet delivered."""
    run_id: str
    rendered: job.Rendered | None
    billing: Billing | None
    digest: str | None
    already_delivered: bool
    recovered: list[str]
    company: str = ""  # the state store's lock key (financial company)
    nothing: str | None = None  # why nothing was rendered (every row read was billed already)


@dataclass
class _Started:
    run: job.CompanyRun
    previous: dict | None
    life: "lifecycle.Lifecycle"
    recovered: list[str]
    billed_runs: pd.DataFrame  # booking_number, run_id of what is billed already (any company)


#: bills many companies' orders at once: [(orders, problems, context)] -> [Billing]
BillMany = Callable[[list[tuple]], list[Billing]]


def prepare(ex: Extract, orders: pd.DataFrame, problems: pd.DataFrame, config: Config,
            params: RunParameters, outbox: Path, store: StateStore, rid: str,
            select: Callable | None = None, failpoint: Failpoint = _no_failpoint,
            progress=None, bill_fn=None, render_fn=None, if_empty: str = "deliver") -> Prepared:
    """Bill ``orders`` against the state store under its lock and commit. A final run takes
    numbers and records what it billed; a draft shows the same (already billed, credit notes)
    with provisional numbers and records only that the draft exists. ``select(conn, orders,
    billed)`` may replace the usual lifecycle split (credit on demand); ``bill_fn`` and
    ``render_fn`` let the Prefect flow run those stages as tasks."""
    bill_fn = bill_fn or job.bill

    def bill_many(jobs):
        return [bill_fn(o, p, ctx, progress)[0] for o, p, ctx in jobs]

    return prepare_group([job.CompanyRun(ex, orders, problems, config, params, rid, select,
                                         if_empty=if_empty)],
                         outbox, store, failpoint, bill_many, render_fn)[0]


def prepare_group(runs: list[job.CompanyRun], outbox: Path, store: StateStore,
                  failpoint: Failpoint = _no_failpoint, bill_many: BillMany | None = None,
                  render_fn=None) -> list[Prepared]:
    """:func:`prepare` for the companies of a group in one transaction: every company's lock
    is taken (in code order), all of them are billed together by ``bill_many`` — which may
    spread their partitions over a cluster — and the run commits for all or for none."""
    bill_many = bill_many or (lambda jobs: [job.bill(o, p, c)[0] for o, p, c in jobs])
    render_fn = render_fn or job.render
    try:
        outbox.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise from_os_error(err, outbox, "cannot create the outbox folder",
                            OutboxUnwritable) from None
    codes = [r.config.settings.code for r in runs]
    staged: list[Path] = []  # what this call stages; removed unless the commit succeeds
    try:
        with store.locked_many(codes) as conn:
            sweep_outbox(conn, outbox)
            started = [_start(conn, r, outbox) for r in runs]
            todo = [s for s in started if isinstance(s, _Started)]
            billings = bill_many([(s.life.to_bill, concat([s.run.problems, s.life.problems]),
                                   job.context(s.run.config, s.run.params, s.run.rid))
                                  for s in todo])
            done = iter(billings)
            out = [s if isinstance(s, Prepared) else _finish(conn, s, next(done), outbox,
                                                              render_fn, failpoint, staged)
                   for s in started]
            failpoint("before_commit")
    except BaseException:
        # an error, Ctrl-C or SIGTERM (flows.cli.terminate_cleanly) before the commit: nothing
        # was recorded, so nothing this run staged may stay in the outbox
        for path in staged:
            remove_staged(path)
        raise
    failpoint("after_commit")
    return out


def _start(conn, r: job.CompanyRun, outbox: Path):
    s = r.config.settings
    recovered = recover_pending(conn, s.code, outbox)
    previous = state_store.run_record(conn, r.rid)
    if not r.params.draft and previous and previous["status"] == "delivered":
        return Prepared(r.rid, None, None, previous["sha256"], True, recovered, s.code)
    if previous and previous["status"] == "discarded":
        raise CommandError(f"draft {r.rid} was discarded; change the invoice date or the "
                           "source to bill these orders again")
    billed = state_store.active_billed(conn, s.code)
    elsewhere = state_store.billed_elsewhere(conn, s.code)
    orders, elsewhere_problems = lifecycle.billed_by_others(r.orders, elsewhere)
    life = (r.select or (lambda c, o, b: lifecycle.split(o, b, s.written_off)))(
        conn, orders, billed)
    life = replace(life, problems=concat([elsewhere_problems, life.problems]))
    billed_runs = pd.concat([billed[["booking_number", "run_id"]],
                             elsewhere[["booking_number", "run_id"]]], ignore_index=True)
    return _Started(r, previous, life, recovered, billed_runs)


def _nothing_to_bill(st: _Started, billing: Billing) -> str | None:
    """Why this draft has nothing to deliver, if its ``if_empty`` says not to deliver an
    empty workbook: no invoice and no credit note (``refuse``); for ``skip`` also no rejected
    row (a person must see those) and at least one order billed already."""
    r = st.run
    if r.if_empty == "deliver" or not r.params.draft or len(billing.invoices):
        return None
    counts = row_buckets(billing.problems)["bucket"].value_counts()
    already, rejected = int(counts.get("already_billed", 0)), int(counts.get("rejected", 0))
    if r.if_empty == "skip" and (rejected or not already):
        return None
    mine = st.billed_runs[st.billed_runs["booking_number"].isin(
        billing.problems["booking_number"].dropna())]
    runs = ", ".join(sorted(set(mine["run_id"]))) or "-"
    if already == r.ex.rows:
        return (f"nothing left to bill: all its {already} orders were billed already "
                f"(final runs {runs})")
    rest = "".join(f", {int(counts.get(b, 0))} {b.replace('_', ' ')}"
                   for b in ("not_billable", "rejected") if counts.get(b, 0))
    return (f"nothing left to bill: of its {r.ex.rows} orders {already} were billed already "
            f"(final runs {runs}){rest}")


def _finish(conn, st: _Started, billing: Billing, outbox: Path, render_fn,
            failpoint: Failpoint, staged: list[Path]) -> Prepared:
    r, s = st.run, st.run.config.settings
    final = not r.params.draft
    originals = state_store.invoice_data(conn, s.code, list(st.life.credit_invoices))
    billing = append_credit_notes(billing, originals, r.params, r.config, r.rid)
    nothing = _nothing_to_bill(st, billing)
    if nothing and r.if_empty == "refuse":
        raise NothingToBill(nothing)
    if nothing:
        return Prepared(r.rid, None, billing, None, False, st.recovered, s.code, nothing)
    if final:
        order = final_order(billing.invoices)
        numbers = state_store.next_numbers(conn, s.code, s.invoice_number_prefix,
                                           r.params.invoice_date.year, len(order))
        billing = apply_numbers(billing, dict(zip(order, numbers)), status="printed",
                                company=s.code, qr=s.qr_iban is not None)
    name = job.file_name(r.config, r.params, r.rid)
    path = staged_path(outbox, name)
    staged += [path, job.qr_staged_path(path, name)]
    try:
        rendered = render_fn(billing, r.ex, r.config, r.params, r.rid, outbox, staged=path)
    except OSError as err:  # job.render says it itself; another render_fn may not
        raise DeliveryError(f"{outbox}: the workbook {name} cannot be written beside the "
                            f"outbox: {err.strerror or err}; nothing was billed") from None
    failpoint("after_render")
    digest = sha256_file(rendered.path)
    meta = {"source": r.ex.name, "outbox": str(outbox.resolve()), "manifest": rendered.manifest,
            "invoice_date": r.params.invoice_date.isoformat(),
            "cutoff_date": r.params.cutoff_date.isoformat(), "language": r.params.language,
            "location": r.ex.location or r.ex.name, "config": str(r.config.folder.resolve()),
            "read_at": r.ex.read_at, "group": r.group,
            "qr_staged": str(rendered.qr_staged) if rendered.qr_staged else None}
    if st.previous is None:
        state_store.record_run(conn, r.rid, s.code, "final" if final else "draft", "pending",
                               r.params.invoice_date.isoformat(), meta, rendered.name, digest,
                               str(rendered.path))
    if final:
        state_store.record_invoices(conn, s.code, r.rid,
                                    documents(output_tables(billing, r.params.language)))
        state_store.mark_credited(conn, s.code, list(st.life.credit_invoices))
        state_store.record_billed(conn, s.code, r.rid, lifecycle.billed_records(
            billing.lines, st.life.to_bill))
    return Prepared(r.rid, rendered, billing, digest, False, st.recovered, s.code)


def complete(prepared: Prepared, outbox: Path, store: StateStore,
             failpoint: Failpoint = _no_failpoint) -> FinalResult:
    """Move the committed workbook into the outbox and mark the run delivered.

    Under the store's lock: a run started meanwhile finishes the committed final runs it
    finds pending (``recover_pending``), and must not move the same staged files while this
    run does. If it got there first, the delivery is already complete."""
    if prepared.already_delivered:
        return FinalResult(prepared.run_id, None, None, None, True, prepared.recovered)
    if prepared.nothing:
        return FinalResult(prepared.run_id, None, None, prepared.billing, False,
                           prepared.recovered, prepared.nothing)
    rendered = prepared.rendered
    own = [rendered.path] + ([rendered.qr_staged] if rendered.qr_staged else [])
    with store.locked(prepared.company) as conn:
        record = state_store.run_record(conn, prepared.run_id)
        if record and record["status"] == "delivered" and record["mode"] == "final":
            # a run started meanwhile finished this one from its staged file
            delivery = Delivery(outbox / rendered.name, outbox / manifest_name(rendered.name),
                                prepared.digest, True)
            return FinalResult(prepared.run_id, delivery, rendered, prepared.billing, False,
                               prepared.recovered)
        there = outbox / rendered.name
        if (record and record["status"] == "delivered" and record["sha256"] == prepared.digest
                and there.exists() and sha256_file(there) == prepared.digest):
            # an identical draft started together delivered first, into this outbox: this
            # run's own staged copy is not needed
            for path in own:
                remove_staged(path)
            return FinalResult(prepared.run_id, None, None, None, True, prepared.recovered)
        try:
            delivery = job.deliver_rendered(rendered, outbox)
        except BaseException:
            if record and record["mode"] == "draft":  # nobody finishes a draft: rerun it
                for path in own:
                    remove_staged(path)
            raise
        failpoint("after_deliver")
        state_store.mark_delivered(conn, prepared.run_id, rendered.name, prepared.digest)
    return FinalResult(prepared.run_id, delivery, rendered, prepared.billing, False,
                       prepared.recovered)


def run_company(run: job.CompanyRun, outbox: Path, store: StateStore) -> FinalResult:
    """One company's run of a group, on its own (re-dating a group's draft)."""
    return complete(prepare_group([run], outbox, store)[0], outbox, store)


def run_with_state(ex, orders, problems, config, params, outbox, store, rid, select=None,
                   failpoint: Failpoint = _no_failpoint, progress=None,
                   if_empty: str = "deliver") -> FinalResult:
    prepared = prepare(ex, orders, problems, config, params, outbox, store, rid, select,
                       failpoint, progress, if_empty=if_empty)
    return complete(prepared, outbox, store, failpoint)


def run_final(source: str, config: Config, params: RunParameters, outbox: Path,
              store: StateStore, failpoint: Failpoint = _no_failpoint,
              progress=None, if_empty: str = "deliver") -> FinalResult:
    """Bill one source against the state store (draft or final, as ``params.draft`` says);
    ``if_empty``: what becomes of a draft with nothing to bill (``job.CompanyRun``)."""
    job.check_validation_enabled()
    ex = job.extract(source)
    valid, problems = job.validate(ex, job.price_format(ex, [config]))
    rid = job.run_id(ex, config, params)
    return run_with_state(ex, valid, problems, config, params, outbox, store, rid,
                          failpoint=failpoint, progress=progress, if_empty=if_empty)


def credit_on_demand(number: str, reinvoice: bool, config: Config, params: RunParameters,
                     outbox: Path, store: StateStore, failpoint: Failpoint = _no_failpoint
                     ) -> FinalResult:
    """Credit one final invoice in full and, with ``reinvoice``, bill its orders again as they
    were billed (the ERP's "Gutschreiben und neu fakturieren" on demand)."""
    s = config.settings
    with store.connect() as conn:
        data = state_store.invoice_data(conn, s.code, [number]).get(number)
        if data is None:
            raise CommandError(f"invoice {number} is not in the state store of company {s.code}")
        earlier = _credit_run(conn, number) if data["status"] == "credited" else None
        if earlier is not None and state_store.run_record(conn, earlier)["status"] != "pending":
            raise CommandError(f"{number} cannot be credited: it was credited already "
                               f"(run {earlier})")
    if earlier is not None:
        # the command ran before: finish its delivery if it died after the commit, and
        # report it delivered rather than refusing
        dummy = Extract(pd.DataFrame(), f"state:{number}", "", 0)
        return run_with_state(dummy, _canonical_empty(), empty_problems(), config, params,
                              outbox, store, earlier, failpoint=failpoint)
    with store.connect() as conn:
        if data["status"] != "open" or data["invoice"]["document_type"] != "invoice":
            raise CommandError(f"{number} cannot be credited: it is a "
                               f"{data['invoice']['document_type']} with status {data['status']}")
        billed = state_store.active_billed(conn, s.code)
    mine = billed[billed["invoice_number"] == number]
    payload = json.dumps({"credit": number, "reinvoice": reinvoice,
                          "rows": sorted(mine["booking_row"])}, sort_keys=True).encode()
    ex = Extract(pd.DataFrame(), f"state:{number}", hashlib.sha256(payload).hexdigest(), 0)
    h = hashlib.sha256(payload + config.checksum.encode() + params.invoice_date.isoformat()
                       .encode() + str(params.draft).encode())
    rid = h.hexdigest()[:8].upper()

    def select(conn, orders, billed_now):
        # checked again under the lock: a command or run that got there since may have
        # credited it already, and an invoice is credited once
        now = state_store.invoice_data(conn, s.code, [number]).get(number)
        if now is None or now["status"] != "open":
            raise CommandError(f"{number} cannot be credited: it was credited meanwhile")
        rows = billed_now[billed_now["invoice_number"] == number]
        restored = (lifecycle.restore_orders(list(rows["booking_row"]), orders)
                    if reinvoice else orders)
        return lifecycle.Lifecycle(restored, empty_problems(), (number,))

    return run_with_state(ex, _canonical_empty(), empty_problems(), config, params, outbox,
                          store, rid, select=select, failpoint=failpoint)


def _credit_run(conn, number: str) -> str | None:
    """The run of an earlier credit command for ``number``, if there was one."""
    for run in state_store.runs(conn, "final"):
        if json.loads(run["parameters"]).get("source") == f"state:{number}":
            return run["run_id"]
    return None


def _canonical_empty() -> pd.DataFrame:
    """An empty frame of canonical booking orders, typed as the parser types them."""
    return parse_booking_orders(pd.DataFrame({"source": pd.Series(dtype="str"),
                                              "source_row": pd.Series(dtype="int64")}))[0]


class NothingToBill(CommandError):
    """A draft that must not be delivered empty (re-dating) has nothing left to bill."""
