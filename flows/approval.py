"""The monthly run with approval: a final run only after an accountant has looked at its draft.

Final numbers are gapless and irrevocable, so the monthly deployment does not go straight to
final. It bills a draft (the flow ``billing-run``, unchanged), publishes its totals, and pauses
for a decision in the Prefect UI — a typed form (:class:`ApprovalDecision`): approve, or reject
with a comment — or from a terminal (``billing-export approve <flow-run-id>``), as the ERP's
own invoicing has an approval status before invoices are printed.

On approval the same flow run bills the same source with the same parameters as final: the
orders and amounts of the approved draft, with final numbers — the workbook is byte for byte
the one a direct final run would give. It checks first that the source still has the checksum
the draft was billed from; if it changed, nothing is issued and the run says so. On rejection,
or when nobody decides within ``approval_timeout_seconds``, the run stays a draft and says so
in its log and an artifact (``billing-approval-decision``); a run nobody decided on ends
Failed (Prefect fails a pause that timed out), so ``ops/notify_on_failure.py`` tells someone.
The run waits in the process that serves it (``pause_flow_run``); the draft's provisional
numbers are never reused.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Failed
from pydantic import Field, model_validator

from . import defaults, stages
from .billing_run import Advanced, billing_run
from .pipeline import previous_month_end, secret_url

#: how long a draft waits for its decision by default: a long weekend
DEFAULT_TIMEOUT_SECONDS = 3 * 24 * 3600
DECISION_ARTIFACT = "billing-approval-decision"


class ApprovalDecision(RunInput):
    """The accountant's decision on a draft, as the Prefect UI's form shows it."""

    approve: bool = Field(False, title="Approve / Freigeben",
                          description="Issue the final invoices of this draft (gapless numbers, "
                                      "recorded as billed). Leave unticked to reject.")
    comment: str = Field("", title="Comment / Kommentar",
                         description="Why the draft is rejected (required), or a note on the "
                                     "approval.")

    @model_validator(mode="after")
    def _a_rejection_says_why(self):
        if not self.approve and not self.comment.strip():
            raise ValueError("a rejection needs a comment saying why")
        return self


def _fingerprint(summary: dict) -> list[dict]:
    """What an approval approves: the counts and totals of each company's workbook."""
    keys = ("rows_read", "rows_billed", "rows_rejected", "rows_not_billable",
            "rows_already_billed", "invoices", "credit_notes", "lines", "totals")
    return [{k: c.get(k) for k in keys} for c in summary.get("companies") or [summary]]


def _sources(summary: dict) -> set:
    return {c.get("source_sha256") for c in (summary.get("companies") or [summary])}


def _totals_markdown(summary: dict) -> str:
    lines = ["| workbook | currency | invoices | net | tax | invoice amount |",
             "|---|---|---|---|---|---|"]
    for c in summary.get("companies") or [summary]:
        for cur, t in c["totals"].items():
            lines.append(f"| {c['workbook']} | {cur} | {t['invoices']} | {t['net_amount']} | "
                         f"{t['tax_amount']} | {t['invoice_amount']} |")
    return "\n".join(lines)


def _notify(outcome: str, text: str, summary: dict, error: bool = False) -> None:
    """The decision in the run log and as an artifact the UI shows beside the run."""
    logger = get_run_logger()
    (logger.error if error else logger.warning if outcome != "approved" else logger.info)(text)
    create_markdown_artifact(key=DECISION_ARTIFACT, markdown=f"**{outcome}**: {text}\n\n"
                             + _totals_markdown(summary),
                             description=f"Approval of billing run {flow_run.get_id()}")


def _run_name() -> str:
    p = flow_run.parameters
    date = p.get("invoice_date") or (previous_month_end(dt.date.today())
                                     if (p.get("advanced") or {}).get("billing_period")
                                     == "previous_month"
                                     else dt.date.today())
    return f"billing-run {date} approval"


#: named as the billing flow, so the monthly deployment stays ``billing-run/monthly`` and the
#: failure notification of ops/notify_on_failure.py covers it; its runs are named "… approval"
@flow(name="billing-run", flow_run_name=_run_name, log_prints=True)
def billing_with_approval(source: str = defaults.SOURCE, config: str = defaults.CONFIG,
                          outbox: str = defaults.OUTBOX, invoice_date: dt.date | None = None,
                          cutoff_date: dt.date | None = None, language: str | None = None,
                          state: str | None = None, source_secret: str | None = None,
                          advanced: Advanced = Advanced(),
                          approval_timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
                          poll_seconds: int = 10) -> dict:
    """Bill a draft, wait for an accountant's decision, and on approval bill it final.

    The invoice date is fixed once, before the draft, so a decision taken after midnight of a
    month's first day still bills the month the draft showed."""
    adv = advanced if isinstance(advanced, Advanced) else Advanced.model_validate(advanced)
    if invoice_date is None and adv.billing_period == "previous_month":
        invoice_date = previous_month_end(dt.date.today())
    common = dict(source=source, config=config, outbox=outbox, invoice_date=invoice_date,
                  cutoff_date=cutoff_date, language=language, state=state,
                  source_secret=source_secret, advanced=adv)
    drafted = billing_run(**common, draft=True, return_state=True)
    if not drafted.is_completed():
        get_run_logger().error("the draft could not be billed: %s", drafted.message)
        return Failed(message=f"draft not billed: {drafted.message}")
    draft = drafted.result()
    create_markdown_artifact(
        key="billing-approval-draft", markdown=_totals_markdown(draft),
        description="The draft waiting for approval: approve or reject it with 'Resume' in "
                    "the UI, or `billing-export approve <flow-run-id> [--reject --comment …]`")
    get_run_logger().info("draft %s delivered; waiting up to %d s for approval",
                          ", ".join(c["workbook"] for c in draft.get("companies") or [draft]),
                          approval_timeout_seconds)
    try:
        decision = pause_flow_run(wait_for_input=ApprovalDecision,
                                  timeout=approval_timeout_seconds, poll_interval=poll_seconds)
    except FlowPauseTimeout:
        # the server fails a run whose pause timed out (so a failure notification fires);
        # the log and the artifact say why before it does
        text = (f"no decision within {approval_timeout_seconds} s: the run stays a draft; "
                "nothing final was issued")
        _notify("timed out", text, draft, error=True)
        return Failed(message=text)
    if not decision.approve:
        _notify("rejected", f"rejected: {decision.comment.strip()} — the run stays a draft; "
                "nothing final was issued", draft)
        return {**draft, "approval": "rejected", "comment": decision.comment.strip()}
    now = (None if adv.incremental else
           stages.extract(secret_url(source_secret) if source_secret else source).checksum)
    if now is not None and _sources(draft) != {now}:
        text = ("the source changed since the draft was billed (sha256 "
                f"{', '.join(sorted(str(s)[:12] for s in _sources(draft)))} → {now[:12]}): "
                "nothing final was issued; bill a new draft")
        _notify("not issued", text, draft, error=True)
        return Failed(message=text)
    finished = billing_run(**common, draft=False, return_state=True)
    if not finished.is_completed():
        text = f"approved, but the final run failed: {finished.message}"
        _notify("failed", text, draft, error=True)
        return Failed(message=text)
    final = finished.result()
    differs = _fingerprint(draft) != _fingerprint(final)
    text = (f"approved{': ' + decision.comment.strip() if decision.comment.strip() else ''} — "
            f"final: {', '.join(c['workbook'] for c in final.get('companies') or [final])}")
    if differs:
        text += " (its counts or totals differ from the draft's: check the state store)"
    _notify("approved", text, final, error=differs)
    return {**final, "approval": "approved", "comment": decision.comment.strip(),
            "draft_workbook": draft.get("workbook")}
