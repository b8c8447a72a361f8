"""The monthly run's approval step (flows/approval.py): a draft, a decision, then final or not.

The flow runs in a thread against the session's Prefect harness and pauses for real; the
decision is sent as the accountant would from a terminal (``billing-export approve``).
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from conftest import INVOICE_DATE, SAMPLE, SAMPLE_ORDERS


def _start(tmp_path, name, **kw):
    from flows.approval import billing_with_approval

    out = {}

    def target():
        out["state"] = billing_with_approval(
            source=str(SAMPLE_ORDERS), config=str(SAMPLE), outbox=str(tmp_path / name),
            state=str(tmp_path / f"{name}.sqlite"), invoice_date=INVOICE_DATE, poll_seconds=1,
            return_state=True, **kw)
    t = threading.Thread(target=target, daemon=True)
    out["thread"] = t
    t.start()
    return t, out


def _paused_run(out, timeout=600.0):
    """The id of the approval run once it waits for its decision."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterState,
                                                FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType

    end = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < end:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))
            if runs:
                assert len(runs) == 1
                return runs[0].id
            assert "state" not in out, f"ended without pausing: {out['state']}"
            assert out["thread"].is_alive(), "the flow's thread died without pausing"
            time.sleep(0.5)
    import sys
    import traceback
    stacks = "\n".join("".join(traceback.format_stack(f)) for f in sys._current_frames().values())
    raise AssertionError("the approval run never paused\n" + stacks)


def cli(*argv) -> tuple[int, str, str]:
    """``billing-export`` in this process. Not through capsys: the flow thread of a test logs
    to the console while capsys swaps it, and would write into a stream closed after that test."""
    import contextlib
    import io

    from flows.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _modes(state_file) -> list[tuple[str, str]]:
    with sqlite3.connect(state_file) as conn:
        return sorted(conn.execute("select mode, status from runs").fetchall())


def test_approved_draft_turns_final_with_the_bytes_of_a_direct_final_run(prefect_harness,
                                                                        tmp_path):
    from flows.billing_run import billing_run

    thread, out = _start(tmp_path, "approved", approval_timeout_seconds=300)
    run_id = _paused_run(out)
    # while it waits: the draft is delivered, nothing final yet
    drafts = list((tmp_path / "approved").glob("*.xlsx"))
    assert len(drafts) == 1 and _modes(tmp_path / "approved.sqlite") == [("draft", "delivered")]
    code, out_text, _ = cli("approve", str(run_id), "--comment", "geprüft")
    assert code == 0 and f"approved: flow run {run_id}" in out_text
    thread.join(300)
    state = out["state"]
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary["approval"] == "approved" and summary["mode"] == "final"
    assert _modes(tmp_path / "approved.sqlite") == [("draft", "delivered"),
                                                    ("final", "delivered")]

    direct = billing_run(source=str(SAMPLE_ORDERS), config=str(SAMPLE),
                         outbox=str(tmp_path / "direct"), state=str(tmp_path / "direct.sqlite"),
                         invoice_date=INVOICE_DATE, draft=False, return_state=True).result()
    assert direct["workbook"].rsplit("/", 1)[1] == summary["workbook"].rsplit("/", 1)[1]
    with open(direct["workbook"], "rb") as a, open(summary["workbook"], "rb") as b:
        assert a.read() == b.read()
    assert summary["totals"] == direct["totals"]


def test_rejected_or_undecided_draft_stays_a_draft(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client

    thread, out = _start(tmp_path, "rejected", approval_timeout_seconds=300)
    run_id = _paused_run(out)
    # a rejection says why, or is not sent
    code, _, err = cli("approve", str(run_id), "--reject")
    assert code == 2 and "--reject needs --comment" in err
    assert cli("approve", str(run_id), "--reject", "--comment", "Kurs prüfen")[0] == 0
    thread.join(300)
    summary = out["state"].result()
    assert summary["approval"] == "rejected" and summary["comment"] == "Kurs prüfen"
    assert summary["mode"] == "draft"
    assert _modes(tmp_path / "rejected.sqlite") == [("draft", "delivered")]
    # the run is no longer waiting: a second decision is refused
    code, _, err = cli("approve", str(run_id))
    assert code == 2 and "not waiting for approval" in err

    async def decision_artifact(run_id):
        async with get_client() as client:
            found = await client.read_artifacts()
        return [a for a in found if a.key == "billing-approval-decision"
                and a.flow_run_id == run_id]

    import asyncio
    artifacts = asyncio.run(decision_artifact(run_id))
    assert artifacts and "rejected: Kurs prüfen" in artifacts[0].data

    # nobody decides: the server fails a pause that timed out (so the failure notification of
    # ops/notify_on_failure.py fires); the draft stays a draft and the artifact says why
    thread, out = _start(tmp_path, "undecided", approval_timeout_seconds=3)
    thread.join(300)
    assert out["state"].is_failed()
    assert _modes(tmp_path / "undecided.sqlite") == [("draft", "delivered")]
    with get_client(sync_client=True) as client:
        found = [a for a in client.read_artifacts() if a.key == "billing-approval-decision"
                 and a.flow_run_id == out["state"].state_details.flow_run_id]
    assert found and "no decision within 3 s: the run stays a draft" in found[0].data


@pytest.mark.parametrize("argv, words", [
    (["approve", "not-a-uuid"], "not a flow run id"),
    (["approve", "00000000-0000-0000-0000-000000000001"], "no flow run"),
])
def test_approve_command_names_what_is_wrong(prefect_harness, argv, words):
    code, _, err = cli(*argv)
    assert code == 2 and words in err and "Traceback" not in err
