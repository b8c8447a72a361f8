"""``billing-export run`` without a Prefect server: the pipeline in-process, Prefect never
imported, and the same summary and workbook bytes as the Prefect flow gives."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import INVOICE_DATE, ROOT, SAMPLE, SAMPLE_ORDERS

RUN = ["run", "--source", str(SAMPLE_ORDERS), "--config", str(SAMPLE), "--invoice-date",
       INVOICE_DATE.isoformat(), "--language", "en", "--json"]

CHILD = """
import json, sys
from flows.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "prefect": sorted(m for m in sys.modules
                                                  if m.split(".")[0] == "prefect")}))
"""


def _no_server_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect_home")  # no profile pointing at a server
    return env


def _local_run(tmp_path: Path, outbox: Path) -> tuple[dict, dict]:
    done = subprocess.run([sys.executable, "-c", CHILD, *RUN, "--outbox", str(outbox)],
                          capture_output=True, text=True, cwd=ROOT, env=_no_server_env(tmp_path),
                          timeout=300)
    assert done.returncode == 0, done.stderr
    *summary, last = done.stdout.strip().splitlines()
    return json.loads("\n".join(summary)), json.loads(last)


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _comparable(summary: dict) -> dict:
    """The summary without the outbox it was delivered to."""
    return {k: Path(v).name if k in ("workbook", "manifest") else v
            for k, v in summary.items()}


@pytest.mark.slow
def test_a_run_without_a_prefect_api_never_imports_prefect(tmp_path):
    summary, child = _local_run(tmp_path, tmp_path / "outbox")
    assert child == {"code": 0, "prefect": []}
    assert Path(summary["workbook"]).exists() and summary["invoices"] > 0


@pytest.mark.slow
def test_a_failed_run_without_a_prefect_api_says_so_as_the_flow_does(tmp_path):
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--source",
                           str(tmp_path / "missing.csv"), "--outbox", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT,
                          env=_no_server_env(tmp_path), timeout=300)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"billing-export: error: {tmp_path / 'missing.csv'}: no such file",
        "Nothing was delivered."]


def test_the_local_run_gives_the_flows_summary_and_bytes(prefect_harness, tmp_path, capsys):
    from flows.cli import main

    local, _ = _local_run(tmp_path, tmp_path / "local")
    assert main([*RUN, "--outbox", str(tmp_path / "flow")]) == 0  # a Prefect API: the flow
    flow = json.loads(capsys.readouterr().out)
    assert Path(flow["workbook"]).parent == tmp_path / "flow"
    assert _comparable(local) == _comparable(flow)
    assert _sha(local["workbook"]) == _sha(flow["workbook"])
    qr = local["qr_bills"]["folder"]
    assert sorted((tmp_path / "local" / qr).iterdir()) and \
        {p.name: _sha(p) for p in (tmp_path / "local" / qr).iterdir()} == \
        {p.name: _sha(p) for p in (tmp_path / "flow" / qr).iterdir()}


def test_the_run_fixture_records_its_draft_in_a_state_store(run, tmp_path):
    from flows import state_store
    from flows.state_store import open_store

    result = run()
    [location] = tmp_path.glob("run-state-*.sqlite")
    store = open_store(location)
    with store.connect() as conn:
        record = state_store.run_record(conn, result.run_id)
    store.engine.dispose()
    assert (record["mode"], record["status"]) == ("draft", "delivered")
    assert record["workbook"] == result.delivery.workbook.name


_EXIT = """
import atexit, sys, threading, time
from pathlib import Path
from flows.cli import _exit
out = Path(sys.argv[1])
atexit.register(lambda: out.with_suffix(".atexit").write_text("ran"))
if sys.argv[2] == "thread":  # another thread still writing when the command is done
    threading.Thread(target=lambda: (time.sleep(0.5), out.write_text("done"))).start()
print("summary", end="")  # buffered: still to be written when the process ends
_exit(3)
"""


@pytest.mark.parametrize("other", ["none", "thread"])
def test_the_command_ends_with_its_code_its_output_and_its_exit_handlers(tmp_path, other):
    out = tmp_path / "thread.txt"
    done = subprocess.run([sys.executable, "-c", _EXIT, str(out), other], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert (done.returncode, done.stdout) == (3, "summary")
    assert out.with_suffix(".atexit").read_text() == "ran"
    assert out.exists() == (other == "thread")  # a working thread is waited for
