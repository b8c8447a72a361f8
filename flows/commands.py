"""The ERP invoice session's commands for drafts: re-date and discard ("undo composition").

A draft is only a proposal: nothing in it is recorded as billed, so it can be dropped or made
again for another invoice date (every amount then follows that date's exchange and tax rates).
Final invoices are corrected with a credit note instead (``pipeline.Credit``). A re-dated draft
is a run of the pipeline (flows/pipeline.py) like any other.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from . import commit_step, pipeline, qrbills, state_store
from .config import load_config, load_group
from .commit_step import CommandError
from .outbox import manifest_name
from .state_store import StateStore


def _draft(store: StateStore, run_id: str) -> dict:
    with store.connect() as conn:
        rec = state_store.run_record(conn, run_id.upper())
    if rec is None:
        raise CommandError(f"no run {run_id} in the state store")
    if rec["mode"] != "draft":
        raise CommandError(f"run {run_id} is a final run; correct its invoices with "
                           "'billing-export credit --invoice …'")
    if rec["status"] == "discarded":
        raise CommandError(f"draft {run_id} is already discarded")
    return rec


def discard(store: StateStore, run_id: str) -> list[Path]:
    """Mark a draft discarded and move its workbook, manifest and QR-bill folder to
    ``<outbox>/discarded/``, so the invoicing system no longer sees it. Returns the moved
    paths."""
    rec = _draft(store, run_id)
    meta = json.loads(rec["parameters"])
    outbox = Path(meta["outbox"])
    target = outbox / "discarded"
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    # the QR-bill folder beside the workbook goes with it (os.replace moves a folder too)
    for name in (rec["workbook"], manifest_name(rec["workbook"]),
                 qrbills.folder_name(rec["workbook"])):
        src = outbox / name
        if src.exists():
            os.replace(src, target / name)
            moved.append(target / name)
    with store.connect() as conn:
        state_store.set_run_status(conn, rec["run_id"], "discarded")
    return moved


def redate(store: StateStore, run_id: str, invoice_date: dt.date,
           source: str | None = None) -> commit_step.FinalResult:
    """Make the draft again for ``invoice_date`` from the same source and settings, then
    discard the old one; refused (the draft kept) when nothing is left to bill. A database
    source is given again with ``source`` (its password is not stored)."""
    rec = _draft(store, run_id)
    meta = json.loads(rec["parameters"])
    location = source or meta["location"]
    group = load_group(meta["group"]) if meta.get("group") else None
    config = (group.member(rec["financial_company"]).config if group
              else load_config(meta["config"]))
    cutoff = dt.date.fromisoformat(meta["cutoff_date"])
    old_date = dt.date.fromisoformat(meta["invoice_date"])
    # a cutoff that followed the invoice date follows the new one; an explicit one stays
    new_cutoff = invoice_date if cutoff == old_date else cutoff
    if invoice_date == old_date:
        raise CommandError(f"draft {run_id} is already dated {invoice_date}")
    # a group's draft: only this company's rows of the source, as the group run billed them
    request = pipeline.Request(
        source=location, config=group or config, outbox=meta["outbox"],
        invoice_date=invoice_date, cutoff_date=new_cutoff, language=meta["language"],
        draft=True, state=store, if_empty="refuse",
        company=rec["financial_company"] if group else None)
    try:
        result = pipeline.run(request).result
    except commit_step.NothingToBill as err:
        # its orders were billed finally since: an empty workbook would replace a draft that
        # still shows what was proposed, so the draft stays as it is
        raise commit_step.NothingToBill(f"draft {rec['run_id']} was not re-dated to "
                                      f"{invoice_date}: {err}; the draft is kept (discard it "
                                      f"with 'billing-export discard --run {rec['run_id']}')"
                                      ) from None
    discard(store, run_id)
    return result
