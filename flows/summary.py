"""What a run tells a person: its summary, one line per rejected row, one line of totals.

The command line prints it, the Prefect flow logs it and returns it; both read it from here,
so the terminal and the run log say the same, and the command line needs no Prefect to say it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from schemas.problems import Reason
from transforms.reconcile import column_label, row_buckets

from . import state_store

#: the rejected rows logged one by one; the rest are counted (all are on the Rejected sheet)
LOGGED_PROBLEMS = 100


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


def problem_records(problems, language: str) -> list[dict]:
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


def group_summary(name: str, companies: list[dict]) -> dict:
    """A group run: each company's summary, and the row counts of the whole source."""
    keys = ("rows_read", "rows_billed", "rows_rejected", "rows_not_billable",
            "rows_already_billed", "invoices", "credit_notes", "lines")
    return {"group": name, "companies": companies,
            **{k: sum(c.get(k, 0) for c in companies) for k in keys},
            "problems": [p for c in companies for p in c["problems"]],
            "workbooks": [c["workbook"] for c in companies]}


def summarise(result, store, params, company: str = "") -> dict:
    """One company's summary of a run (``commit_step.FinalResult``) for the CLI and the UI."""
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
        return {**meta.get("manifest", {}), "problems": [], "already_delivered": True,
                "workbook": str(Path(meta.get("outbox", ".")) / (rec or {}).get("workbook", "")),
                "run_status": rec["status"] if rec else None, "financial_company": company}
    summary = {**result.rendered.manifest, "workbook": str(result.delivery.workbook),
               "manifest": str(result.delivery.manifest),
               "already_delivered": result.delivery.already_there,
               "recovered": result.recovered}
    summary["financial_company"] = company
    summary["problems"] = problem_records(result.billing.problems, params.language)
    return summary
