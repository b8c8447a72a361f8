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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import pandas as pd

from schemas.problems import concat
from schemas.settings import RunParameters
from schemas.workbook import INVOICES, LINES, TAXES
from transforms import lifecycle
from transforms.billing import Billing
from transforms.credit import as_records, credit_notes
from transforms.numbering import apply_numbers, final_order
from transforms.periods import fiscal, tax_period
from transforms.pipeline import output_tables

from . import job, state_store
from .config import Config
from .outbox import Delivery, DeliveryError, deliver, sha256_file, write_manifest
from .state_store import StateStore

Failpoint = Callable[[str], None]


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


def staged_path(outbox: Path, name: str) -> Path:
    return outbox / f".{name}.pending"


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


def run_final(source: str, config: Config, params: RunParameters, outbox: Path,
              store: StateStore, failpoint: Failpoint = _no_failpoint,
              progress=None) -> FinalResult:
    job.check_validation_enabled()
    s = config.settings
    ex = job.extract(source)
    valid, problems = job.validate(ex)
    rid = job.run_id(ex, config, params)
    outbox.mkdir(parents=True, exist_ok=True)
    with store.locked(s.code) as conn:
        recovered = recover_pending(conn, s.code, outbox)
        previous = state_store.run_record(conn, rid)
        if previous and previous["status"] == "delivered":
            return FinalResult(rid, None, None, None, True, recovered)
        billed = state_store.active_billed(conn, s.code)
        orders = lifecycle.with_state_columns(valid)
        life = lifecycle.split(orders, billed, s.written_off)
        billing, _ = job.bill(life.to_bill, concat([problems, life.problems]),
                              job.context(config, params, rid), progress)
        originals = state_store.invoice_data(conn, s.code, list(life.credit_invoices))
        billing = append_credit_notes(billing, originals, params, config, rid)
        order = final_order(billing.invoices)
        numbers = state_store.next_numbers(conn, s.code, s.invoice_number_prefix,
                                           params.invoice_date.year, len(order))
        billing = apply_numbers(billing, dict(zip(order, numbers)), status="printed")
        rendered = job.render(billing, ex, config, params, rid, outbox,
                              staged=staged_path(outbox, job.file_name(config, params, rid)))
        failpoint("after_render")
        digest = sha256_file(rendered.path)
        meta = {"source": ex.name, "outbox": str(outbox.resolve()), "manifest": rendered.manifest,
                "invoice_date": params.invoice_date.isoformat(),
                "cutoff_date": params.cutoff_date.isoformat(), "language": params.language}
        state_store.record_run(conn, rid, s.code, "final", "pending",
                               params.invoice_date.isoformat(), meta, rendered.name, digest,
                               str(rendered.path))
        state_store.record_invoices(conn, s.code, rid, documents(output_tables(billing,
                                                                              params.language)))
        state_store.mark_credited(conn, s.code, list(life.credit_invoices))
        state_store.record_billed(conn, s.code, rid, lifecycle.billed_records(billing.lines))
        failpoint("before_commit")
    failpoint("after_commit")
    delivery = job.deliver_rendered(rendered, outbox)
    failpoint("after_deliver")
    with store.connect() as conn:
        state_store.mark_delivered(conn, rid, rendered.name, digest)
    return FinalResult(rid, delivery, rendered, billing, False, recovered)
