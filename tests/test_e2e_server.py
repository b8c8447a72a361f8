"""End to end, as an operator runs it: a real Prefect server, the ``billing`` work pool, the
deployments of prefect.yaml and a worker — all started by ops/serve.sh and stopped by
ops/stop.sh, once for this module, on a free loopback port with a temporary PREFECT_HOME.

Runs are triggered the way the README ("Operating it") says (``prefect deployment run ...``). The
server runs as in production, scheduler on: the monthly deployment's upcoming runs are the ones
the server itself created, and a test deployment with an interval schedule shows that a
scheduled run really starts and completes. At the end a worker is killed (``kill -9``) in the
middle of runs: they end Crashed within the documented bound, no flow-run process is left
behind, and ``ops/serve.sh`` right after ``ops/stop.sh`` works.

The server keeps its state in a fresh PostgreSQL database, as a production installation does
(``PREFECT_API_DATABASE_CONNECTION_URL``; ops/serve.sh creates it, the module drops it): on
SQLite, a loaded machine makes Prefect's own writes fail with "database is locked". When the
machine's PostgreSQL does not answer the server falls back to SQLite, as ``make serve`` uses by
default — unless ``CI`` or ``BILLING_REQUIRE_DB_SERVERS=1`` is set: then the module fails
(tests/test_state_store.py decides the same way).
"""

from __future__ import annotations

import asyncio
import calendar
import csv
import datetime as dt
import http.server
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest

from conftest import INVOICE_DATE, ROOT, SAMPLE
from test_state_store import POSTGRES_ADMIN_URL, _libpq, db_servers_required

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 180
ZURICH = ZoneInfo("Europe/Zurich")
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
VENV_BIN = Path(sys.executable).parent


def _load_procs():
    spec = importlib.util.spec_from_file_location("ops_procs", ROOT / "ops" / "procs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


procs = _load_procs()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    base: Path
    env: dict
    api: str
    ui: str
    outbox: Path
    inbox: Path
    run_dir: Path
    started: set[int]

    def get(self, path: str):
        response = httpx.get(self.api + path, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict):
        response = httpx.post(self.api + path, json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def prefect(self, *args: str) -> str:
        done = subprocess.run([str(VENV_BIN / "prefect"), *args], env=self.env, cwd=self.base,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            text = (self.run_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"(no {name}.log)"
        return "\n".join(text.splitlines()[-lines:])

    def serve(self) -> subprocess.CompletedProcess:
        """ops/serve.sh; the processes it starts are remembered for the final check."""
        try:
            return subprocess.run(["bash", str(ROOT / "ops" / "serve.sh")], env=self.serve_env,
                                  cwd=ROOT, capture_output=True, text=True, timeout=300)
        finally:
            for name in ("server", "worker"):
                pid = procs.read_pid(self.run_dir, name)
                if pid:
                    self.started.add(pid)

    def stop(self) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(ROOT / "ops" / "stop.sh")], env=self.serve_env,
                              cwd=ROOT, capture_output=True, text=True, timeout=120)


#: BILLING_CRASH_AFTER_SECONDS of the stack: two heartbeats (30 s apart, Prefect's minimum), so
#: a healthy run whose heartbeat is late by up to 30 s is not taken for a dead one; ops/serve.sh
#: installs the crash detection with this window instead of its default (90 s, three
#: heartbeats), and the frozen run of the killed-worker test is waited for that much less
CRASH_AFTER_S = 60
#: in the server's database URL (the machine's PostgreSQL trusts local logins, so it is not
#: checked): no log, no output and no file ops/serve.sh writes may show it
DB_PASSWORD = "e2e-pw-must-not-show"


@pytest.fixture(scope="module")
def prefect_database():
    """The URL (with a password) of a PostgreSQL database for the server that does not exist
    yet: ops/serve.sh creates it. Dropped at the end. None when there is no PostgreSQL and none
    is required: the server then runs on SQLite."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = _libpq(POSTGRES_ADMIN_URL)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as err:
        if db_servers_required():
            pytest.fail(f"PostgreSQL is required here (CI or BILLING_REQUIRE_DB_SERVERS=1) but "
                        f"{admin.split('@')[-1]}: {str(err).strip()}", pytrace=False)
        yield None
        return
    name = f"billing_e2e_{uuid.uuid4().hex[:12]}"
    url = make_url(_libpq(POSTGRES_ADMIN_URL, name)).set(password=DB_PASSWORD)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(tmp_path_factory, prefect_database):
    """ops/serve.sh on a free port; ops/stop.sh afterwards, and a check that nothing is left."""
    base = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BILLING_"))}
    env.update({
        "VENV_BIN": str(VENV_BIN),
        "PREFECT_PORT": str(port),
        "PREFECT_HOME": str(base / "home"),
        "BILLING_PREFECT_DIR": str(base / "prefect"),
        "BILLING_OUTBOX": str(base / "outbox"),
        "BILLING_INBOX": str(base / "inbox"),
        "BILLING_STATE": str(base / "billing-state.sqlite"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # the worker picks a run up within 2 s
        "BILLING_CRASH_AFTER_SECONDS": str(CRASH_AFTER_S),
    })
    if prefect_database:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect_database
    s = Stack(base, {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"},
              f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}", base / "outbox",
              base / "inbox", base / "prefect", set())
    s.serve_env = env
    s.database = prefect_database
    try:
        s.first_serve = done = s.serve()
        assert done.returncode == 0, (f"ops/serve.sh failed:\n{done.stdout}\n{done.stderr}\n"
                                      f"server.log:\n{s.log_tail('server')}")
        yield s
    finally:
        started = s.started
        family = set().union(*(procs.family(p) for p in started)) if started else set()
        family |= procs.recorded_children(s.run_dir, "worker")
        try:
            s.stop()
        finally:
            procs.stop(s.run_dir, ["worker", "server"])  # in case stop.sh itself failed
        left = {p for p in family if procs.running(p)}
        for p in left:
            procs.stop_pid(p, grace=2)
        assert not left, f"processes left running after ops/stop.sh: {sorted(left)}"


def trigger(stack: Stack, deployment: str, **params) -> str:
    """``prefect deployment run`` as in the README ("Operating it"); returns the flow run id."""
    args = ["deployment", "run", deployment]
    for key, value in params.items():
        args += ["-p", f"{key}={value}"]
    out = stack.prefect(*args)
    found = re.search(r"UUID: ([0-9a-f-]{36})", out)
    assert found, out
    return found.group(1)


def wait_for(stack: Stack, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        run = stack.get(f"/flow_runs/{run_id}")
        if run["state_type"] in TERMINAL:
            return run
        time.sleep(1)
    pytest.fail(f"flow run {run_id} not finished after {RUN_TIMEOUT_S} s "
                f"(state {run['state_type']}); worker.log:\n{stack.log_tail('worker')}")


def deployment(stack: Stack, name: str) -> dict:
    return stack.get(f"/deployments/name/{name}")


def artifacts_of(stack: Stack, run_id: str) -> dict[str, dict]:
    found = stack.post("/artifacts/filter",
                       {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    return {a["key"]: a for a in found}


def check_delivery(outbox: Path, workbook_name: str | None = None) -> dict:
    """The workbook is whole and reconciles; returns its manifest."""
    books = sorted(outbox.glob("*.xlsx"))
    if workbook_name:
        books = [b for b in books if b.name == workbook_name]
    assert len(books) == 1, sorted(p.name for p in outbox.iterdir())
    book = books[0]
    manifest = json.loads(book.with_suffix(".manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows_read"] == (manifest["rows_billed"] + manifest["rows_rejected"]
                                     + manifest["rows_not_billable"]
                                     + manifest["rows_already_billed"])
    wb = openpyxl.load_workbook(book, read_only=True)
    try:
        assert wb.sheetnames[:4] == ["Rechnungen", "Positionen", "Steuern", "Abstimmung"]
        invoices = sum(1 for _ in wb["Rechnungen"].iter_rows(min_row=2, values_only=True))
        lines = sum(1 for _ in wb["Positionen"].iter_rows(min_row=2, values_only=True))
    finally:
        wb.close()
    assert invoices == manifest["invoices"] > 0
    assert lines == manifest["rows_billed"]
    assert not list(outbox.glob("*.part")) and not list(outbox.glob(".*.xlsx*"))
    return manifest


# --------------------------------------------------------------------------------------------
# deployments and schedules
# --------------------------------------------------------------------------------------------


def test_deployments_work_pool_and_parameters(stack):
    pool = stack.get("/work_pools/billing")
    assert pool["type"] == "process"
    manual, monthly = deployment(stack, "billing-run/manual"), deployment(stack,
                                                                         "billing-run/monthly")
    for d in (manual, monthly):
        assert d["work_pool_name"] == "billing"
        assert d["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {
            "directory": str(ROOT)}}]
        assert d["parameters"]["outbox"] == str(stack.outbox)
        assert d["parameters"]["state"] == str(stack.base / "billing-state.sqlite")
        assert d["parameters"]["source"] == str(SAMPLE / "booking_orders.csv")
        assert d["parameters"]["config"] == str(SAMPLE)
    assert manual["schedules"] == [] and manual["parameters"]["draft"] is True
    # final only after approval (flows/approval.py): no draft parameter, a decision deadline
    assert monthly["entrypoint"] == "flows/approval.py:billing_with_approval"
    assert "draft" not in monthly["parameters"]
    assert monthly["parameters"]["approval_timeout_seconds"] == 259200
    assert monthly["parameters"]["advanced"]["billing_period"] == "previous_month"
    props = manual["parameter_openapi_schema"]["properties"]  # typed from the flow signature
    assert {"source", "config", "outbox", "invoice_date", "cutoff_date", "language", "draft",
            "state"} <= set(props)
    assert {"format": "date", "type": "string"} in props["invoice_date"]["anyOf"]
    assert props["draft"]["type"] == "boolean"
    out = stack.prefect("deployment", "inspect", "billing-run/monthly")
    assert "BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1;BYHOUR=7" in out and "Europe/Zurich" in out


def _monthly_dates(stack, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The run times the server's scheduler would create, from the deployment's schedules as
    the API holds them, computed by Prefect's own (server) schedule objects."""
    from prefect.server.schemas.schedules import RRuleSchedule

    schedules = [RRuleSchedule(**s["schedule"])
                 for s in deployment(stack, "billing-run/monthly")["schedules"] if s["active"]]
    assert len(schedules) == 1 and schedules[0].timezone == "Europe/Zurich"

    async def dates():
        return [d for s in schedules for d in await s.get_dates(start=start, end=end)]

    return sorted(asyncio.run(dates()))


def _first_working_day(year: int, month: int) -> dt.date:
    return next(dt.date(year, month, d) for d in range(1, 8)
                if calendar.weekday(year, month, d) < 5)


def test_monthly_schedule_first_working_morning_in_zurich_across_dst(stack):
    dates = _monthly_dates(stack, dt.datetime(2027, 2, 15, tzinfo=ZURICH),
                           dt.datetime(2027, 11, 30, tzinfo=ZURICH))
    local = {d.astimezone(ZURICH).isoformat() for d in dates}
    # summer time starts 2027-03-28 and ends 2027-10-31: 07:00 stays 07:00 local
    assert {"2027-03-01T07:00:00+01:00", "2027-04-01T07:00:00+02:00",
            "2027-10-01T07:00:00+02:00", "2027-11-01T07:00:00+01:00"} <= local
    utc = {d.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M") for d in dates}
    assert {"2027-03-01 06:00", "2027-04-01 05:00", "2027-10-01 05:00",
            "2027-11-01 06:00"} <= utc
    assert "2027-05-03T07:00:00+02:00" in local  # 1 May 2027 is a Saturday
    assert "2027-08-02T07:00:00+02:00" in local  # 1 August 2027 is a Sunday

    # exactly one run a month, on the first Monday-to-Friday, for ten years
    decade = _monthly_dates(stack, dt.datetime(2027, 1, 1, tzinfo=ZURICH),
                            dt.datetime(2036, 12, 31, 23, 59, tzinfo=ZURICH))
    by_month: dict[tuple[int, int], list[dt.datetime]] = {}
    for d in decade:
        d = d.astimezone(ZURICH)
        by_month.setdefault((d.year, d.month), []).append(d)
    assert len(by_month) == 120
    for (year, month), runs in by_month.items():
        assert len(runs) == 1, runs
        run = runs[0]
        assert run.date() == _first_working_day(year, month)
        assert (run.hour, run.minute) == (7, 0)
        assert run.utcoffset() == dt.datetime(year, month, run.day, 7,
                                              tzinfo=ZURICH).utcoffset()


def test_inbox_deployment_polls_every_few_minutes(stack):
    inbox = deployment(stack, "process-inbox/inbox")
    assert inbox["work_pool_name"] == "billing"
    assert inbox["parameters"]["inbox"] == str(stack.inbox)
    (schedule,) = inbox["schedules"]
    assert 60 <= schedule["schedule"]["interval"] <= 600  # seconds: every few minutes


# the first working day of each month of 2027, from a calendar, not from code
FIRST_WORKING_DAY_2027 = {1: 1, 2: 1, 3: 1, 4: 1, 5: 3, 6: 1, 7: 1, 8: 2, 9: 1, 10: 1, 11: 1,
                          12: 1}


def flow_runs(stack: Stack, deployment_id: str, **state) -> list[dict]:
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}},
            "sort": "EXPECTED_START_TIME_ASC"}
    if state:
        body["flow_runs"]["state"] = {"type": {"any_": state["types"]}}
    return stack.post("/flow_runs/filter", body)


def test_scheduler_created_the_monthly_runs(stack):
    """The server's scheduler itself has created the monthly deployment's next runs: one a
    month, for consecutive months, each at 07:00 Zurich time on the month's first working day."""
    monthly = deployment(stack, "billing-run/monthly")
    deadline = time.monotonic() + 60  # it schedules a new deployment within seconds
    while len(runs := flow_runs(stack, monthly["id"], types=["SCHEDULED"])) < 3:
        assert time.monotonic() < deadline, f"no scheduled runs:\n{stack.log_tail('server')}"
        time.sleep(2)
    assert all(r["auto_scheduled"] for r in runs)  # created by the scheduler, not by a trigger
    local = [dt.datetime.fromisoformat(r["expected_start_time"]).astimezone(ZURICH)
             for r in runs]
    now = dt.datetime.now(ZURICH)
    months = [(d.year, d.month) for d in local]
    assert len(set(months)) == len(months)  # exactly one run a month
    first = (now.year, now.month) if local[0].month == now.month else (
        now.year + now.month // 12, now.month % 12 + 1)
    expected_months = [(first[0] + (first[1] - 1 + i) // 12, (first[1] - 1 + i) % 12 + 1)
                       for i in range(len(local))]
    assert months == expected_months  # consecutive, starting with the next due one
    for d in local:
        assert d > now and (d.hour, d.minute) == (7, 0)
        assert d.date() == _first_working_day(d.year, d.month)
        assert d.weekday() < 5 and all(dt.date(d.year, d.month, day).weekday() >= 5
                                       for day in range(1, d.day))
        if d.year == 2027:
            assert d.day == FIRST_WORKING_DAY_2027[d.month]
        utc = d.astimezone(dt.timezone.utc)  # 06:00 UTC in winter, 05:00 in summer
        assert utc.hour == 7 - int(d.utcoffset().total_seconds() // 3600)
    if (now.year, now.month) == (2026, 12):
        assert [d.isoformat() for d in local[:3]] == [
            "2027-01-01T07:00:00+01:00", "2027-02-01T07:00:00+01:00",
            "2027-03-01T07:00:00+01:00"]


def _test_deployment(stack, flow_name: str, name: str, **fields) -> dict:
    """A deployment of tests/e2e_flows.py on the `billing` pool, with the job variables the
    deployments of prefect.yaml got (heartbeat, output)."""
    flow_id = stack.post("/flows/", {"name": flow_name})["id"]
    like = deployment(stack, "billing-run/manual")
    return stack.post("/deployments/", {
        "name": name, "flow_id": flow_id, "entrypoint": f"tests/e2e_flows.py:{fields.pop('fn')}",
        "work_pool_name": "billing", "work_queue_name": "default",
        "pull_steps": like["pull_steps"], "job_variables": like["job_variables"],
        "enforce_parameter_schema": False, **fields})


@dataclass
class Hourly:
    deployment: dict
    due: dt.datetime
    deadline: float


@pytest.fixture(scope="module")
def hourly(stack) -> Hourly:
    """A deployment of tests/e2e_flows.py:tick whose schedule, created through the API, is due
    15 s from now and then hourly."""
    due = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=15)
    dep = _test_deployment(stack, "e2e-tick", "hourly", fn="tick", schedules=[{
        "schedule": {"interval": 3600, "anchor_date": due.isoformat(), "timezone": "UTC"},
        "active": True}])
    return Hourly(dep, due, time.monotonic() + 15 + RUN_TIMEOUT_S)


def test_interval_schedule_starts_a_run_the_worker_completes(stack, hourly, runs):
    """A schedule created through the API, due 15 s from now and then hourly: the server
    creates the run by itself and the worker runs it to Completed. The 15 s pass while the
    runs of the next section (fixture ``runs``, set up after ``hourly``) are billed: the
    worker runs several at once."""
    due, dep, deadline = hourly.due, hourly.deployment, hourly.deadline
    while True:
        started = [r for r in flow_runs(stack, dep["id"])
                   if r["state_type"] not in ("SCHEDULED", "PENDING")]
        if started and started[0]["state_type"] in TERMINAL:
            break
        assert time.monotonic() < deadline, (flow_runs(stack, dep["id"]),
                                             stack.log_tail("worker"))
        time.sleep(1)
    (run,) = started  # the next one is an hour away
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["auto_scheduled"] is True
    assert dt.datetime.fromisoformat(run["expected_start_time"]) == due


# --------------------------------------------------------------------------------------------
# runs: two rounds of runs in parallel (the worker runs several at once)
# --------------------------------------------------------------------------------------------

HAS_INBOX_FLOW = (ROOT / "flows" / "process_inbox.py").exists()


@dataclass
class Runs:
    manual: dict
    manual_outbox: Path
    failed: dict
    failed_outbox: Path
    inbox_polls: list[dict]
    notifications: list[dict]


class _Hook(http.server.BaseHTTPRequestHandler):
    """Stands in for a chat or mail webhook: keeps what the automation POSTs."""

    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).received.append(json.loads(body or b"{}"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    _Hook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook.received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def runs(stack, webhook, tmp_path_factory) -> Runs:
    """The failure notification (ops/notify_on_failure.py) is installed first. Round 1: a
    manual draft on the sample (invoice date 2026-10-30, outbox in tmp) and the first poll of
    the inbox, which bills a file dropped ten seconds before. Round 2: a manual run on a source
    that does not exist, and the second poll, which finds the inbox empty."""
    url, received = webhook
    done = subprocess.run([sys.executable, str(ROOT / "ops" / "notify_on_failure.py"),
                           "webhook", url], env=stack.env, cwd=stack.base,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    date = INVOICE_DATE.isoformat()
    manual_outbox, failed_outbox = stack.base / "manual-outbox", stack.base / "failed-outbox"
    if HAS_INBOX_FLOW:
        stack.inbox.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "booking_orders_en.csv", stack.inbox / "orders.csv")
        past = time.time() - 10  # as if the copy had finished ten seconds ago
        os.utime(stack.inbox / "orders.csv", (past, past))
    # a file last changed longer ago than the settle time is taken on the first poll that sees
    # it (as `watch --once` from cron needs): the first poll bills it, the second finds nothing
    first = [trigger(stack, "billing-run/manual", invoice_date=date, outbox=str(manual_outbox))]
    if HAS_INBOX_FLOW:
        first.append(trigger(stack, "process-inbox/inbox", invoice_date=date))
    first = [wait_for(stack, r) for r in first]
    missing = tmp_path_factory.mktemp("nosource") / "missing.csv"
    second = [trigger(stack, "billing-run/manual", source=str(missing), invoice_date=date,
                      outbox=str(failed_outbox))]
    if HAS_INBOX_FLOW:
        second.append(trigger(stack, "process-inbox/inbox", invoice_date=date))
    second = [wait_for(stack, r) for r in second]
    deadline = time.monotonic() + 60  # the automation acts on the run's Failed event
    while not received and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # a second message, if any, would be a wrong one
    return Runs(first[0], manual_outbox, second[0], failed_outbox, first[1:] + second[1:],
                list(received))


def test_manual_run_delivers_a_reconciled_workbook(stack, runs):
    run = runs.manual
    assert run["state_type"] == "COMPLETED", (run["state"], stack.log_tail("worker"))
    assert run["name"] == f"billing-run {INVOICE_DATE} draft"
    assert run["parameters"]["invoice_date"] == INVOICE_DATE.isoformat()
    manifest = check_delivery(runs.manual_outbox)
    assert manifest["rows_read"] == 240
    assert (stack.base / "billing-state.sqlite").exists()  # the deployment's state store


def test_manual_run_publishes_table_and_markdown_artifacts(stack, runs):
    found = artifacts_of(stack, runs.manual["id"])
    assert found["billing-draft-100-totals"]["type"] == "table"
    assert found["billing-draft-100-reconciliation"]["type"] == "markdown"
    manifest = json.loads(next(runs.manual_outbox.glob("*.manifest.json")).read_text("utf-8"))
    table = found["billing-draft-100-totals"]["data"]
    table = json.loads(table) if isinstance(table, str) else table
    assert {r["currency"]: r["invoice amount"] for r in table} == {
        cur: t["invoice_amount"] for cur, t in manifest["totals"].items()}
    assert f"| {manifest['rows_read']} |" in found["billing-draft-100-reconciliation"]["data"]


def test_failed_run_delivers_nothing(runs):
    assert runs.failed["state_type"] == "FAILED"
    assert "missing.csv" in runs.failed["state"]["message"]
    assert not runs.failed_outbox.exists() or not any(runs.failed_outbox.iterdir())


def test_failed_run_is_notified_through_the_automation(stack, runs):
    # exactly one message, for the failed run; none for the completed ones (on SQLite, a
    # "database is locked" makes Prefect's triggers handle the event again: two messages)
    (message,) = runs.notifications
    assert message["subject"] == f"billing-export: {runs.failed['name']} Failed"
    assert "missing.csv: no such file" in message["body"]
    assert f"{stack.ui}/runs/flow-run/{runs.failed['id']}" in message["body"]


@pytest.mark.skipif(not HAS_INBOX_FLOW, reason="flows/process_inbox.py is not there yet")
def test_file_dropped_into_inbox_is_billed_by_the_inbox_deployment(stack, runs):
    first, second = runs.inbox_polls
    assert first["state_type"] == "COMPLETED", first["state"]
    assert second["state_type"] == "COMPLETED", (second["state"], stack.log_tail("worker"))
    assert not (stack.inbox / "orders.csv").exists()
    assert list((stack.inbox / "processed").glob("*/orders.csv"))
    ledger = json.loads((stack.inbox / ".billing-export" / "ledger.json").read_text("utf-8"))
    (entry,) = ledger["files"].values()
    manifest = check_delivery(stack.outbox, entry["workbook"])
    with open(SAMPLE / "booking_orders_en.csv", encoding="utf-8-sig", newline="") as f:
        assert manifest["rows_read"] == sum(1 for _ in csv.reader(f)) - 1
    assert "inbox-poll" in artifacts_of(stack, first["id"])  # the settled file, at once
    assert "inbox-poll" not in artifacts_of(stack, second["id"])  # nothing left to take
# --------------------------------------------------------------------------------------------
# the UI renders the run's artifacts (only where Debian's chromium is installed)
# --------------------------------------------------------------------------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _headless(browser: str, profile: Path, url: str, *extra: str) -> str:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--no-first-run", f"--user-data-dir={profile}", "--window-size=1600,1100",
               "--virtual-time-budget=15000", *extra, url]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, text=True)
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        procs.stop_pid(proc.pid, grace=2)  # chromium's helper processes too
    return out


def test_ui_renders_the_run_artifacts(stack, runs, tmp_path):
    browser = _chromium()
    if not browser:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    run = runs.manual
    found = artifacts_of(stack, run["id"])
    manifest = json.loads(next(runs.manual_outbox.glob("*.manifest.json")).read_text("utf-8"))
    table_page = f"{stack.ui}/artifacts/artifact/{found['billing-draft-100-totals']['id']}"
    dom = _headless(browser, tmp_path / "p1", table_page, "--dump-dom")
    assert manifest["totals"]["CHF"]["invoice_amount"] in dom  # the table, rendered
    recon_page = f"{stack.ui}/artifacts/artifact/{found['billing-draft-100-reconciliation']['id']}"
    dom = _headless(browser, tmp_path / "p2", recon_page, "--dump-dom")
    assert "<table" in dom and "Gelesene Zeilen" in dom  # the markdown, rendered as a table
    shots = ROOT / "out" / "e2e"
    shots.mkdir(parents=True, exist_ok=True)
    for name, url in (("artifact-totals", table_page), ("artifact-reconciliation", recon_page),
                      ("flow-run", f"{stack.ui}/runs/flow-run/{run['id']}")):
        shot = tmp_path / f"{name}.png"
        _headless(browser, tmp_path / name, url, f"--screenshot={shot}")
        assert shot.exists() and shot.stat().st_size > 20_000, shot
        part = shots / f".{name}.{os.getpid()}.png"  # whole files only, even with two runs
        shutil.copyfile(shot, part)
        os.replace(part, shots / shot.name)


# --------------------------------------------------------------------------------------------
# a worker that dies: its runs end Crashed, nothing is left running; serve after stop
# --------------------------------------------------------------------------------------------


def _wait_pid(path: Path, seconds: float = RUN_TIMEOUT_S) -> int:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} not written"
        time.sleep(0.5)
    return int(path.read_text(encoding="ascii"))


def _wait_state(stack, run_id: str, seconds: float) -> tuple[dict, float]:
    start = time.monotonic()
    while True:
        run = stack.get(f"/flow_runs/{run_id}")
        if run["state_type"] in TERMINAL:
            return run, time.monotonic() - start
        assert time.monotonic() - start < seconds, (run["state"], stack.log_tail("worker"))
        time.sleep(1)


def _worker_process(stack) -> int:
    """The `prefect worker` process under its supervisor (worker.pid)."""
    supervisor = procs.read_pid(stack.run_dir, "worker")
    found = []
    for p, parent, _ in procs._process_table():
        if parent == supervisor:
            try:
                command = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"worker" in command and b"start" in command:
                found.append(p)
    (pid,) = found
    return pid


@dataclass
class Killed:
    hung: dict
    hung_after_s: float
    orphan: dict
    orphan_after_s: float
    pids: list[int]
    next_run: dict
    next_outbox: Path
    left_id: str
    left_pid: Path


@pytest.fixture(scope="module")
def killed(stack) -> Killed:
    """Two long runs; one process is frozen (SIGSTOP: alive, no heartbeat), then the worker
    gets kill -9. ops/serve.sh brings a worker back and a billing run follows."""
    busy = _test_deployment(stack, "e2e-busy", "busy", fn="busy")
    files = [stack.base / "hung.pid", stack.base / "orphan.pid"]
    ids = [stack.post(f"/deployments/{busy['id']}/create_flow_run",
                      {"parameters": {"seconds": 600, "pid_file": str(f)}})["id"]
           for f in files]
    pids = [_wait_pid(f) for f in files]
    os.kill(pids[0], signal.SIGSTOP)
    os.kill(_worker_process(stack), signal.SIGKILL)
    killed_at = time.monotonic()
    orphan, orphan_after = _wait_state(stack, ids[1], 60)
    supervisor = procs.read_pid(stack.run_dir, "worker")
    deadline = time.monotonic() + procs.ORPHAN_GRACE_SECONDS + 20
    while procs.running(supervisor):  # it ends the frozen process, then itself
        assert time.monotonic() < deadline, stack.log_tail("worker")
        time.sleep(0.5)
    done = stack.serve()  # a new worker; the server kept running
    assert done.returncode == 0, done.stdout + done.stderr
    next_outbox = stack.base / "after-crash-outbox"
    next_id = trigger(stack, "billing-run/manual", invoice_date=INVOICE_DATE.isoformat(),
                      outbox=str(next_outbox))
    left_pid = stack.base / "left.pid"  # for the last test: started now, to save its time
    left_id = stack.post(f"/deployments/{busy['id']}/create_flow_run",
                         {"parameters": {"seconds": 600, "pid_file": str(left_pid)}})["id"]
    hung, _ = _wait_state(stack, ids[0], CRASH_AFTER_S + 60)
    hung_after = time.monotonic() - killed_at
    return Killed(hung, hung_after, orphan, orphan_after, pids, wait_for(stack, next_id),
                  next_outbox, left_id, left_pid)


def test_run_of_a_killed_worker_is_crashed_and_its_process_ended(killed):
    """The supervisor ends the process the dead worker left; Prefect's engine reports Crashed."""
    assert killed.orphan["state_type"] == "CRASHED"
    assert "termination signal" in killed.orphan["state"]["message"]
    assert killed.orphan_after_s < 30
    assert not any(procs.running(p) for p in killed.pids)


def test_run_without_heartbeat_is_crashed_within_the_bound(killed):
    """A process that cannot report (frozen, then killed) is marked Crashed by the server's
    automation: at most BILLING_CRASH_AFTER_SECONDS after its last heartbeat."""
    assert killed.hung["state_type"] == "CRASHED"
    assert "No heartbeat" in killed.hung["state"]["message"]
    assert f"for {CRASH_AFTER_S} s" in killed.hung["state"]["message"]  # the stack's window
    assert killed.hung_after_s < CRASH_AFTER_S + 30  # + one heartbeat, + the checks' period


def test_next_run_after_the_crash_completes(killed):
    assert killed.next_run["state_type"] == "COMPLETED", killed.next_run["state"]
    assert check_delivery(killed.next_outbox)["rows_read"] == 240


def test_stop_ends_a_run_whose_supervisor_died_too_and_serve_works_right_after(stack, killed):
    """The whole worker session killed (supervisor and worker): the flow-run process, in a
    session of its own, keeps running with parent 1. ops/stop.sh ends it from what the
    supervisor recorded (its run ends Crashed); ops/serve.sh right after works on the same
    port although the stopped server's connections are still in TIME_WAIT."""
    run_id = killed.left_id
    pid = _wait_pid(killed.left_pid)
    time.sleep(1.5)  # the supervisor records its descendants every second
    os.killpg(procs.read_pid(stack.run_dir, "worker"), signal.SIGKILL)
    time.sleep(1)
    assert procs.running(pid)  # an orphan: nobody would end it
    done = stack.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert not procs.running(pid), done.stdout
    left = [p for p in stack.started if procs.running(p)]
    assert not left, left
    done = stack.serve()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "server: started" in done.stdout and "healthy" in done.stdout
    run = stack.get(f"/flow_runs/{run_id}")
    assert run["state_type"] == "CRASHED", run["state"]
    assert "termination signal" in run["state"]["message"]


def test_server_keeps_its_state_in_postgresql_and_shows_no_password(stack, killed):
    """ops/serve.sh created the database it was given and the server keeps everything there
    (no SQLite file); the password in the URL appears in no output, log or file it wrote, and
    the worker's environment does not hold it."""
    if stack.database is None:
        pytest.skip("no PostgreSQL at " + _libpq(POSTGRES_ADMIN_URL).split("@")[-1]
                    + ": the server ran on SQLite")
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(stack.database)
    assert f"database: PostgreSQL {url.host}:{url.port or 5432}/{url.database} (created)" in \
        stack.first_serve.stdout, stack.first_serve.stdout
    with psycopg.connect(_libpq(stack.database), autocommit=True, connect_timeout=5) as conn:
        stored = conn.execute("SELECT count(*) FROM flow_run").fetchone()[0]
        automations = {r[0] for r in conn.execute("SELECT name FROM automation")}
    assert stored == stack.post("/flow_runs/count", {}) > 0
    assert "billing run unresponsive" in automations
    assert not list((stack.base / "home").glob("*.db"))
    written = [stack.first_serve.stdout, stack.first_serve.stderr]
    written += [p.read_text(encoding="utf-8", errors="replace")
                for p in stack.run_dir.iterdir() if p.is_file()]
    assert written[2:] and not [t for t in written if DB_PASSWORD in t]
    # only the server is given the URL: not the worker, hence not the runs
    environ = Path(f"/proc/{_worker_process(stack)}/environ").read_bytes()
    assert b"DATABASE_CONNECTION_URL" not in environ and DB_PASSWORD.encode() not in environ


def test_server_log_holds_no_traceback(stack, killed):
    """After schedules, runs, a killed worker and a restart, the server logged no error."""
    log = (stack.run_dir / "server.log").read_text(encoding="utf-8", errors="replace")
    errors = sorted({line for line in log.splitlines()
                     if "| ERROR" in line or line.startswith(("sqlalchemy.", "sqlite3."))})
    assert "Traceback" not in log and "InvalidRequestError" not in log, errors
