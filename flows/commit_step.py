"""The run's commit step, on the state store's side: exactly once, with gapless invoice numbers
(DESIGN.md §5 Lifecycle, §7 State). Drafts take it too (with provisional numbers, recording
only that the draft exists), so a draft shows what the final run will bill.

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

import hashlib
import json
import logging
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import pandas as pd

from schemas.problems import concat
from schemas.settings import RunParameters
from schemas.workbook import INVOICES, LINES, TAXES
from transforms import lifecycle
from transforms.steps import Billing
from transforms.credit import as_records, with_credit_notes
from transforms.numbering import apply_numbers, final_order
from transforms.parse import parse_booking_orders
from transforms.billing import output_tables
from transforms.reconcile import row_buckets

from . import stages, qrbills, state_store
from .config import Config
from .sources.base import Extract
from .errors import CommandError  # noqa: F401 - defined with every error in flows.errors
from .errors import OutboxUnwritable, from_os_error
from .outbox import (Delivery, DeliveryError, deliver, manifest_name, remove_staged,
                     sha256_file, stale_staged, write_manifest)
from .outbox import staged_path as outbox_staged_path
from .state_store import StateStore

log = logging.getLogger(__name__)


@dataclass
class FinalResult:
    run_id: str
    delivery: Delivery | None
    rendered: stages.Rendered | None
    billing: Billing | None
    already_delivered: bool
    recovered: list[str]
    nothing: str | None = None  # a draft not delivered: every row read was billed already
    rows_read: int = 0
    source: str = ""


def staged_path(outbox: Path, name: str) -> Path:
    """Where a run stages ``name``: beside the outbox, unique per process (flows.outbox)."""
    return outbox_staged_path(outbox.resolve(), name)


def _log():
    """The flow run's logger inside a Prefect run, else this module's: a run without a
    server never imports Prefect for a log line."""
    if "prefect" not in sys.modules:
        return log
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


@dataclass
class Prepared:
    """A run billed, rendered and committed (or found delivered already), not yet delivered."""
    run_id: str
    rendered: stages.Rendered | None
    billing: Billing | None
    digest: str | None
    already_delivered: bool
    recovered: list[str]
    company: str = ""  # the state store's lock key (financial company)
    nothing: str | None = None  # why nothing was rendered (every row read was billed already)
    rows_read: int = 0
    source: str = ""


@dataclass
class Started:
    """A company's run sorted against the state store, under its lock: what it bills."""
    run: stages.CompanyRun
    previous: dict | None
    life: "lifecycle.Lifecycle"
    recovered: list[str]
    billed_runs: pd.DataFrame  # booking_number, run_id of what is billed already (any company)


def _no_crash(_: str) -> None:
    return None


@contextmanager
def locked(store: StateStore, codes: list[str], outbox: Path) -> Iterator["Held"]:
    """The state store held for the companies ``codes`` (their locks in code order, one
    transaction): what a run bills, numbers, renders and records happens in here, and commits
    when the block ends — for all companies or for none. An error, Ctrl-C or SIGTERM
    (flows.cli.terminate_cleanly) in the block records nothing, so what the block staged in
    the outbox is removed."""
    try:
        outbox.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise from_os_error(err, outbox, "cannot create the outbox folder",
                            OutboxUnwritable) from None
    held = None
    try:
        with store.locked_many(codes) as conn:
            sweep_outbox(conn, outbox)
            held = Held(conn, outbox)
            yield held
    except BaseException:
        for path in held.staged if held else ():
            remove_staged(path)
        raise


class Held:
    """The steps of a run under the state store's lock, in the order the pipeline takes them
    (flows.pipeline.commit): split what is billed already, credit notes, numbers, the staged
    name to render to, record."""

    def __init__(self, conn, outbox: Path):
        self.conn, self.outbox = conn, outbox
        self.staged: list[Path] = []  # removed unless the commit succeeds

    def split(self, r: stages.CompanyRun) -> Started | Prepared:
        """What of ``r`` is to bill, and what is billed already (by this company or another);
        a final run delivered already is :class:`Prepared` as it is."""
        conn, s = self.conn, r.config.settings
        recovered = recover_pending(conn, s.code, self.outbox)
        previous = state_store.run_record(conn, r.rid)
        if not r.params.draft and previous and previous["status"] == "delivered":
            return Prepared(r.rid, None, None, previous["sha256"], True, recovered, s.code)
        if previous and previous["status"] == "discarded":
            raise CommandError(f"draft {r.rid} was discarded; change the invoice date or the "
                               "source to bill these orders again")
        billed = state_store.active_billed(conn, s.code)
        elsewhere = state_store.billed_elsewhere(conn, s.code)
        orders, elsewhere_problems = lifecycle.billed_by_others(r.orders, elsewhere)
        if r.credit is not None:
            number = r.credit.number
            # checked again under the lock: a command or run that got there since may have
            # credited it already, and an invoice is credited once
            now = state_store.invoice_data(conn, s.code, [number]).get(number)
            if now is None or now["status"] != "open":
                raise CommandError(f"{number} cannot be credited: it was credited meanwhile")
            life = lifecycle.credit_one(number, r.credit.reinvoice, orders, billed)
        else:
            life = lifecycle.split(orders, billed, s.written_off)
        life = replace(life, problems=concat([elsewhere_problems, life.problems]))
        billed_runs = pd.concat([billed[["booking_number", "run_id"]],
                                 elsewhere[["booking_number", "run_id"]]], ignore_index=True)
        return Started(r, previous, life, recovered, billed_runs)

    def credit_notes(self, st: Started, billing: Billing) -> Billing:
        """The credit notes of the invoices this run credits, from what the store kept."""
        r = st.run
        originals = state_store.invoice_data(self.conn, r.config.settings.code,
                                             list(st.life.credit_invoices))
        return with_credit_notes(billing, originals, r.params.invoice_date, r.rid,
                                 r.config.settings)

    def nothing(self, st: Started, billing: Billing) -> Prepared | None:
        """A draft with nothing to deliver, as its ``if_empty`` says (refused: raised)."""
        r = st.run
        why = _nothing_to_bill(st, billing)
        if why and r.if_empty == "refuse":
            raise NothingToBill(why)
        if why:
            return Prepared(r.rid, None, billing, None, False, st.recovered,
                            r.config.settings.code, why, r.ex.rows, r.ex.name)
        return None

    def number(self, st: Started, billing: Billing) -> Billing:
        """A final run's gapless numbers from the company's series; a draft keeps its
        provisional ones."""
        r, s = st.run, st.run.config.settings
        if r.params.draft:
            return billing
        order = final_order(billing.invoices)
        numbers = state_store.next_numbers(self.conn, s.code, s.invoice_number_prefix,
                                           r.params.invoice_date.year, len(order))
        return apply_numbers(billing, dict(zip(order, numbers)), status="printed",
                             company=s.code, qr=s.qr_iban is not None)

    def stage(self, st: Started) -> Path:
        """Where the workbook is rendered to (removed again if the commit does not happen)."""
        name = stages.file_name(st.run.config, st.run.params, st.run.rid)
        path = staged_path(self.outbox, name)
        self.staged += [path, stages.qr_staged_path(path, name)]
        return path

    def record(self, st: Started, billing: Billing, rendered: stages.Rendered) -> Prepared:
        """The run as *pending* with its workbook's digest; a final run with every invoice
        and every order it billed."""
        conn, r, s = self.conn, st.run, st.run.config.settings
        final = not r.params.draft
        digest = sha256_file(rendered.path)
        meta = {"source": r.ex.name, "outbox": str(self.outbox.resolve()),
                "manifest": rendered.manifest,
                "invoice_date": r.params.invoice_date.isoformat(),
                "cutoff_date": r.params.cutoff_date.isoformat(), "language": r.params.language,
                "location": r.ex.location or r.ex.name, "config": str(r.config.folder.resolve()),
                "read_at": r.ex.read_at, "group": r.group,
                "qr_staged": str(rendered.qr_staged) if rendered.qr_staged else None}
        if st.previous is None:
            state_store.record_run(conn, r.rid, s.code, "final" if final else "draft",
                                   "pending", r.params.invoice_date.isoformat(), meta,
                                   rendered.name, digest, str(rendered.path))
        if final:
            state_store.record_invoices(conn, s.code, r.rid,
                                        documents(output_tables(billing, r.params.language)))
            state_store.mark_credited(conn, s.code, list(st.life.credit_invoices))
            state_store.record_billed(conn, s.code, r.rid, lifecycle.billed_records(
                billing.lines, st.life.to_bill))
        return Prepared(r.rid, rendered, billing, digest, False, st.recovered, s.code,
                        None, r.ex.rows, r.ex.name)


def _nothing_to_bill(st: Started, billing: Billing) -> str | None:
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


def deliver_committed(prepared: Prepared, outbox: Path, store: StateStore,
                      crash_test=_no_crash) -> FinalResult:
    """Move the committed workbook into the outbox and mark the run delivered.

    Under the store's lock: a run started meanwhile finishes the committed final runs it
    finds pending (``recover_pending``), and must not move the same staged files while this
    run does. If it got there first, the delivery is already complete. ``crash_test`` is the
    crash tests' seam (tests/test_exactly_once.py): called with ``"after_deliver"``."""
    p = prepared
    if p.already_delivered:
        return FinalResult(p.run_id, None, None, None, True, p.recovered)
    if p.nothing:
        return FinalResult(p.run_id, None, None, p.billing, False, p.recovered, p.nothing,
                           p.rows_read, p.source)
    rendered = p.rendered
    own = [rendered.path] + ([rendered.qr_staged] if rendered.qr_staged else [])
    with store.locked(p.company) as conn:
        record = state_store.run_record(conn, p.run_id)
        if record and record["status"] == "delivered" and record["mode"] == "final":
            # a run started meanwhile finished this one from its staged file
            delivery = Delivery(outbox / rendered.name, outbox / manifest_name(rendered.name),
                                p.digest, True)
            return FinalResult(p.run_id, delivery, rendered, p.billing, False, p.recovered,
                               None, p.rows_read, p.source)
        there = outbox / rendered.name
        if (record and record["status"] == "delivered" and record["sha256"] == p.digest
                and there.exists() and sha256_file(there) == p.digest):
            # an identical draft started together delivered first, into this outbox: this
            # run's own staged copy is not needed
            for path in own:
                remove_staged(path)
            return FinalResult(p.run_id, None, None, None, True, p.recovered)
        try:
            delivery = stages.deliver_rendered(rendered, outbox)
        except BaseException:
            if record and record["mode"] == "draft":  # nobody finishes a draft: rerun it
                for path in own:
                    remove_staged(path)
            raise
        crash_test("after_deliver")
        state_store.mark_delivered(conn, p.run_id, rendered.name, p.digest)
    return FinalResult(p.run_id, delivery, rendered, p.billing, False, p.recovered, None,
                       p.rows_read, p.source)


def plan_credit(store: StateStore, config: Config, credit, params: RunParameters
                ) -> tuple[Extract, str, bool]:
    """The extract and run id of a credit on demand: ``(extract, run id, fresh)``. A credit
    reads no source; its "extract" is what it credits (the invoice's stored orders), so the
    same command gives the same run id. ``fresh`` is false when the same command ran before
    and died after its commit: that run is then finished, not refused."""
    s, number = config.settings, credit.number
    with store.connect() as conn:
        data = state_store.invoice_data(conn, s.code, [number]).get(number)
        if data is None:
            raise CommandError(f"invoice {number} is not in the state store of company {s.code}")
        earlier = _credit_run(conn, number) if data["status"] == "credited" else None
        if earlier is not None and state_store.run_record(conn, earlier)["status"] != "pending":
            raise CommandError(f"{number} cannot be credited: it was credited already "
                               f"(run {earlier})")
    if earlier is not None:
        return Extract(pd.DataFrame(), f"state:{number}", "", 0), earlier, False
    with store.connect() as conn:
        if data["status"] != "open" or data["invoice"]["document_type"] != "invoice":
            raise CommandError(f"{number} cannot be credited: it is a "
                               f"{data['invoice']['document_type']} with status {data['status']}")
        billed = state_store.active_billed(conn, s.code)
    mine = billed[billed["invoice_number"] == number]
    payload = json.dumps({"credit": number, "reinvoice": credit.reinvoice,
                          "rows": sorted(mine["booking_row"])}, sort_keys=True).encode()
    ex = Extract(pd.DataFrame(), f"state:{number}", hashlib.sha256(payload).hexdigest(), 0)
    h = hashlib.sha256(payload + config.checksum.encode() + params.invoice_date.isoformat()
                       .encode() + str(params.draft).encode())
    return ex, h.hexdigest()[:8].upper(), True


def _credit_run(conn, number: str) -> str | None:
    """The run of an earlier credit command for ``number``, if there was one."""
    for run in state_store.runs(conn, "final"):
        if json.loads(run["parameters"]).get("source") == f"state:{number}":
            return run["run_id"]
    return None


def canonical_empty() -> pd.DataFrame:
    """An empty frame of canonical booking orders, typed as the parser types them."""
    return parse_booking_orders(pd.DataFrame({"source": pd.Series(dtype="str"),
                                              "source_row": pd.Series(dtype="int64")}))[0]


class NothingToBill(CommandError):
    """A draft that must not be delivered empty (re-dating) has nothing left to bill."""
