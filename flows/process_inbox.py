"""``process_inbox``: one poll of the inbox as a Prefect flow (DESIGN.md §7, §8).

Each stable file is billed by the ``billing_run`` flow as a subflow, so the UI shows every
file's run under the poll; the rules (stable files, once per content hash, ``processed/`` and
``failed/``) are in :mod:`flows.inbox`; the ``watch`` command (:mod:`flows.watch`) runs this
flow once per poll. A file whose orders were all billed already delivers
no workbook (``if_empty="skip"``): it is filed with a note. A file whose run fails with a user error (its message,
no traceback) goes to ``failed/``; a run that crashes leaves the file in the inbox for the
next poll. A poll that took files publishes a markdown artifact listing them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from . import defaults, errors, stages
from .billing_run import billing_run, failed_run
from .config import load_group
from .inbox import AllBilled, Bill, FileFailed, Taken, poll
from .inbox_files import SETTLE_SECONDS
from .inbox_ledger import InboxError


#: errors that fail the file (it moves to failed/ with the message)
FILE_FAULTS = (errors.InputError, errors.ConfigurationError, errors.OutboxError)


def subflow_biller(config: str, outbox: str, language: str | None = None,
                   state: str | None = None) -> Bill:
    """Bill each file with the ``billing_run`` flow. A bad configuration fails the poll (the
    files wait); a run failed by the file fails the file; a run failed by the machine, a
    server or a bug raises (the file waits)."""
    try:
        stages.check_validation_enabled()
        load_group(config)
    except errors.BillingError as err:
        raise InboxError(str(err)) from None

    def bill(path: Path, invoice_date: dt.date) -> str:
        run = billing_run(source=str(path), config=config, outbox=outbox,
                          invoice_date=invoice_date, language=language, state=state,
                          advanced={"if_empty": "skip"}, return_state=True)
        if run.is_completed():
            result = run.result()
            if "workbooks" in result:  # a group: one workbook per company
                books = [Path(w).name for w in result["workbooks"] if w]
                if not books:
                    raise AllBilled(f"{path.name}: " + "; ".join(
                        c["nothing"] for c in result["companies"] if c.get("nothing")))
                return ", ".join(books)
            if result.get("nothing"):
                raise AllBilled(f"{path.name}: {result['nothing']}")
            return result["workbook"]
        crash = run.result(raise_on_failure=False)
        # the file is at fault: failed/; the machine or a server (disk full, database down) or
        # a bug: the file waits in the inbox for the next poll
        if isinstance(crash, BaseException) and not isinstance(crash, FILE_FAULTS):
            raise crash
        raise FileFailed(run.message or f"{path.name}: the billing run failed")

    return bill


def _markdown(inbox: str, taken: list[Taken]) -> str:
    lines = [f"Inbox `{inbox}`", "", "| file | outcome | moved to | workbook | message |",
             "|---|---|---|---|---|"]
    for t in taken:
        cells = (t.file, t.outcome, t.moved_to or "", t.workbook or "", t.message)
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ")
                                       for c in cells) + " |")
    return "\n".join(lines)


@flow(name="process-inbox", flow_run_name="process-inbox {inbox}", log_prints=True)
def process_inbox(inbox: str, outbox: str = defaults.OUTBOX, config: str = defaults.CONFIG,
                  invoice_date: dt.date | None = None, language: str | None = None,
                  state: str | None = None,
                  settle_seconds: float = SETTLE_SECONDS) -> list[dict]:
    """Take every stable file in ``inbox``: bill it (a draft) into ``outbox`` once, file it
    under ``processed/<date>/`` or ``failed/``. ``state`` is the state store of the billing
    runs (default: beside the outbox). Returns one record per file taken."""
    errors.quiet_known_errors()
    logger = get_run_logger()
    try:
        bill = subflow_biller(config, outbox, language, state)
        taken = poll(Path(inbox), bill, invoice_date=invoice_date, settle=settle_seconds,
                     logger=logger)
    except Exception as err:  # noqa: BLE001 - classified; a bug is raised as it is
        return failed_run(err, logger, "no file was taken")
    for t in taken:
        (logger.error if t.outcome == "error" else logger.info)("%s", t.line())
    if taken:
        counts = {o: sum(t.outcome == o for t in taken)
                  for o in ("processed", "duplicate", "failed", "error")}
        create_markdown_artifact(
            key="inbox-poll", markdown=_markdown(inbox, taken),
            description=", ".join(f"{n} {o}" for o, n in counts.items() if n))
    return [t.as_dict() for t in taken]
