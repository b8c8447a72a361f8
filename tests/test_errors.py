"""Errors a person can act on: one message, no traceback, the documented exit code.

Each kind of error is produced for real through the CLI in a subprocess (a file where the
outbox should be, a read-only and a full file system, a missing source, a bad configuration, a
database nothing listens on, a Prefect server that does not come up in time); the subprocesses
use the session's Prefect test server, so only the server-timeout case starts one of its own.
The run log is read back from Prefect: no traceback, the failed stage Failed, one line per
rejected row and the summary line.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import uuid
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import INVOICE_DATE, ROOT, SAMPLE, SAMPLE_ORDERS

from flows import errors

DATE = ["--invoice-date", INVOICE_DATE.isoformat()]


# -- the hierarchy: every project error has a kind and the documented exit code ------------------

def test_every_project_error_has_its_kind_and_exit_code():
    from flows.config import ConfigError
    from flows.commit_step import CommandError
    from flows.inbox import InboxError
    from flows.outbox import DeliveryError
    from flows.sources.base import SourceError
    from flows.sources.openolat_db import SourceUnavailable
    from flows.state_store import StateError
    from flows.task_runners import TaskRunnerError
    from flows.workbook import WriterError
    from transforms.reference import ReferenceError, TableProblem

    cases = [(SourceError("x.csv", "no such file"), 2), (CommandError("no run X"), 2),
             (WriterError("a date before 1900"), 2), (TaskRunnerError("dask?"), 2),
             (InboxError("no inbox"), 2), (ConfigError("company.toml: bad"), 3),
             (ReferenceError([TableProblem("tax_codes.csv", 3, "rate", "not a rate")]), 3),
             (DeliveryError("a different file"), 4), (StateError("cannot open"), 5),
             (OSError(errno.ENOSPC, "No space left on device"), 5),
             (PermissionError(errno.EACCES, "Permission denied", "/out"), 5),
             (OSError(errno.EROFS, "Read-only file system", "/out"), 5),
             (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/f/out"), 5),
             (RuntimeError("Timed out while attempting to connect to ephemeral Prefect API "
                           "server. stdout: …"), 5),
             (SourceUnavailable("db", "cannot connect"), 6),
             (RuntimeError("Failed to reach API at http://127.0.0.1:9/api/"), 6)]
    for err, code in cases:
        known = errors.classify(err)
        assert isinstance(known, errors.BillingError), err
        assert known.exit_code == errors.exit_code(err) == code, (err, known)
    assert errors.classify(KeyError("a bug")) is None
    assert errors.exit_code(KeyError("a bug")) == errors.INTERNAL
    assert isinstance(SourceUnavailable("db", "down"), SourceError)  # still a source error


def test_an_os_error_says_the_path_and_what_to_do():
    full = errors.classify(OSError(errno.ENOSPC, "No space left on device", "/srv/out/x.xlsx"))
    assert str(full).startswith("/srv/out/x.xlsx: No space left on device — free space")
    ro = errors.from_os_error(OSError(errno.EROFS, "Read-only file system"), "/mnt/out",
                              "cannot create the outbox folder", errors.OutboxUnwritable)
    assert str(ro).startswith("/mnt/out: cannot create the outbox folder: Read-only")
    assert ro.exit_code == 5 and isinstance(ro, errors.DeliveryError)


def test_transient_errors_alone_are_retried():
    from prefect.states import Failed

    from flows.billing_run import _transient
    from flows.sources.base import SourceError
    from flows.sources.openolat_db import SourceUnavailable

    assert _transient(None, None, Failed(data=SourceUnavailable("db", "down")))
    assert _transient(None, None, Failed(data=errors.TransientError("server busy")))
    assert not _transient(None, None, Failed(data=SourceError("x.csv", "missing column")))
    assert not _transient(None, None, Failed(data=errors.ConfigError("bad")))


def test_help_of_every_command_lists_the_exit_codes():
    from flows.cli import EXIT_CODES, parser

    p = parser()
    commands = p._subparsers._group_actions[0].choices
    assert set(commands) >= {"run", "credit", "redate", "discard", "runs", "watch"}
    for name, cmd in commands.items():
        assert EXIT_CODES in cmd.format_help(), name
    assert EXIT_CODES in p.format_help()
    for code in ("0", "1", "2", "3", "4", "5", "6", "70"):
        assert f"\n  {code} " in EXIT_CODES


# -- through the CLI, in a subprocess ------------------------------------------------------------

@pytest.fixture(scope="module")
def api_env(prefect_harness, tmp_path_factory):
    """The environment of a CLI subprocess that uses the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_HOME=str(tmp_path_factory.mktemp("cli_home")),
               BILLING_RETRY_DELAYS="0,0")
    return env


def cli(env, *args, timeout=180):
    done = subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    text = done.stdout + done.stderr
    assert "Traceback" not in text, text
    messages = [line for line in done.stderr.splitlines()
                if line.startswith("billing-export: error:")]
    return done.returncode, messages, text


def run_cli(env, tmp_path, *args):
    return cli(env, "run", "--quiet", "--state", str(tmp_path / "state.sqlite"), *DATE, *args)


def test_outbox_is_a_file(api_env, tmp_path):
    (tmp_path / "outbox").write_text("not a folder")
    code, (message,), _ = run_cli(api_env, tmp_path, "--outbox", str(tmp_path / "outbox"))
    assert code == 5
    assert f"{tmp_path / 'outbox'}:" in message and "give a folder" in message
    assert (tmp_path / "outbox").read_text() == "not a folder"


def test_outbox_below_a_file(api_env, tmp_path):
    (tmp_path / "file").write_text("x")
    code, (message,), _ = run_cli(api_env, tmp_path, "--outbox", str(tmp_path / "file" / "out"))
    assert code == 5 and str(tmp_path / "file") in message and "give a folder" in message


@contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_read_only_outbox(api_env, tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as mnt:
        code, (message,), _ = run_cli(api_env, tmp_path, "--outbox", str(mnt / "outbox"))
    assert code == 5
    assert "Read-only file system" in message and "choose a folder" in message


def test_full_disk(api_env, tmp_path):
    with tmpfs(tmp_path / "full", "size=24k") as mnt:
        code, (message,), _ = run_cli(api_env, tmp_path, "--outbox", str(mnt / "outbox"))
        assert not list((mnt / "outbox").glob("*.xlsx"))  # nothing delivered
    assert code == 5
    assert "No space left on device" in message and "free space" in message
    assert str(mnt) in message


def test_missing_source(api_env, tmp_path):
    code, (message,), text = run_cli(api_env, tmp_path, "--source", str(tmp_path / "no.csv"),
                                     "--outbox", str(tmp_path / "outbox"))
    assert code == 2 and message.endswith("no.csv: no such file")
    assert "Nothing was delivered." in text


def test_bad_configuration(api_env, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "company.toml").write_text("[company]\nname = 'x'\nlanguage = 'fr'\n")
    code, (message,), _ = run_cli(api_env, tmp_path, "--config", str(config),
                                  "--outbox", str(tmp_path / "outbox"))
    assert code == 3 and "company.toml" in message


def test_unreachable_database_after_the_retries(api_env, tmp_path):
    code, (message,), text = run_cli(api_env, tmp_path, "--source",
                                     "postgresql+psycopg://billing@127.0.0.1:1/openolat",
                                     "--outbox", str(tmp_path / "outbox"))
    assert code == 6 and "cannot connect to 127.0.0.1:1" in message and "run again" in message


def test_password_in_the_source_is_refused_and_not_echoed(api_env, tmp_path):
    code, _, text = cli(api_env, "run", "--source",
                        "postgresql+psycopg://billing:Geheim-7@db.example/openolat")
    assert code == 2 and "Geheim-7" not in text
    assert "holds a password" in text and "BILLING_DB_PASSWORD" in text
    code, _, text = cli(api_env, "runs", "--state", "postgresql://u:Geheim-7@db.example/state")
    assert code == 2 and "Geheim-7" not in text and "PGPASSWORD" in text


def test_state_commands_use_the_same_exit_codes(api_env, tmp_path):
    code, (message,), _ = cli(api_env, "discard", "--run", "ABCDEF12", "--state",
                              str(tmp_path / "state.sqlite"))
    assert code == 2 and "no run ABCDEF12" in message
    (tmp_path / "file").write_text("x")
    code, (message,), _ = cli(api_env, "runs", "--state", str(tmp_path / "file" / "s.sqlite"))
    assert code == 5 and str(tmp_path / "file") in message and "give a folder" in message


def test_runs_of_an_empty_store_says_so_on_stderr(api_env, tmp_path):
    done = subprocess.run([sys.executable, "-m", "flows.cli", "runs", "--state",
                           str(tmp_path / "state.sqlite")], cwd=ROOT, env=api_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.strip() == f"no runs yet in the state store {tmp_path / 'state.sqlite'}"


@pytest.mark.slow  # a CLI subprocess that waits for the Prefect server it starts
@pytest.mark.prefect
def test_prefect_server_not_up_in_time(tmp_path):
    """Only the flow on a task runner of its own starts a temporary server (a plain run needs
    none, and delivers where the server would not have started)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST") and k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1")
    code, (message,), _ = cli(env, "run", "--quiet", "--task-runner", "threads", "--outbox",
                              str(tmp_path / "outbox"), *DATE)
    assert code == 5
    assert "did not start within 1 s" in message and "PREFECT_API_URL" in message
    code, _, text = cli(env, "run", "--quiet", "--outbox", str(tmp_path / "outbox"), *DATE)
    assert code == 0 and "Delivered:" in text


# -- the Prefect run log -----------------------------------------------------------------------

def _logs_and_tasks(flow_run_id):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, \
        LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # the run's logs are sent in batches

    async def read():
        async with get_client() as client:
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(
                any_=[flow_run_id])))
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[flow_run_id])))
            return logs, tasks

    logs, tasks = asyncio.run(read())
    return [log.message for log in logs], {t.name: t.state.type.value for t in tasks}


def test_run_log_lists_rejected_rows_and_the_summary(prefect_harness, tmp_path, monkeypatch):
    import flows.billing_run as br
    import flows.summary as summaries

    monkeypatch.setattr(summaries, "LOGGED_PROBLEMS", 2)  # the sample has three rejected rows
    state = br.billing_run(source=str(SAMPLE_ORDERS), config=str(SAMPLE),
                           outbox=str(tmp_path / "outbox"), invoice_date=INVOICE_DATE,
                           language="en", return_state=True)
    assert state.is_completed(), state.message
    s = state.result()
    logs, _ = _logs_and_tasks(state.state_details.flow_run_id)
    rejected = [p for p in s["problems"] if p["bucket"] == "rejected"]
    assert len(rejected) == s["rows_rejected"] == 3
    lines = [m for m in logs if m.startswith("booking_orders.csv:")]
    assert lines == [summaries.problem_line(p) for p in rejected[:2]]
    assert "booking_orders.csv:153 Price: [190114] not a valid amount" in lines[0] + lines[1]
    assert "… and 1 more rejected rows (all are on the Rejected sheet)" in logs
    (summary,) = [m for m in logs if "rows read" in m]
    assert (f"rows read {s['rows_read']} = billed {s['rows_billed']} + rejected 3 + not "
            f"billable {s['rows_not_billable']} + already billed 0; {s['invoices']} invoices"
            in summary)
    assert f"CHF net {s['totals']['CHF']['net_amount']}" in summary


def test_failed_run_log_has_one_message_no_traceback_and_the_stage_failed(prefect_harness,
                                                                          tmp_path):
    from flows.billing_run import billing_run

    state = billing_run(source=str(tmp_path / "missing.csv"), config=str(SAMPLE),
                        outbox=str(tmp_path / "outbox"), invoice_date=INVOICE_DATE,
                        return_state=True)
    assert state.is_failed() and state.message.endswith("missing.csv: no such file")
    assert isinstance(state.result(raise_on_failure=False), errors.SourceError)
    logs, tasks = _logs_and_tasks(state.state_details.flow_run_id)
    assert tasks == {"extract missing.csv": "FAILED"}
    assert not any("Traceback" in m for m in logs), logs
    assert [m for m in logs if "nothing was delivered" in m] == [
        f"{tmp_path / 'missing.csv'}: no such file — nothing was delivered"]


def test_a_bug_keeps_its_traceback_and_delivers_nothing(prefect_harness, tmp_path,
                                                        monkeypatch):
    import flows.billing_run as br

    def broken(*a, **k):
        raise KeyError("a bug")

    monkeypatch.setattr(br.stages, "validate", broken)
    state = br.billing_run(source=str(SAMPLE_ORDERS), config=str(SAMPLE),
                           outbox=str(tmp_path / "outbox"), invoice_date=INVOICE_DATE,
                           return_state=True)
    assert state.is_failed()
    logs, tasks = _logs_and_tasks(state.state_details.flow_run_id)
    assert tasks["validate"] == "FAILED"
    assert any("Traceback" in m and "KeyError" in m for m in logs)
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").glob("*.xlsx"))


# -- the manual run form --------------------------------------------------------------------------

def test_every_parameter_is_described_and_language_is_a_choice():
    from flows.billing_run import billing_run

    schema = billing_run.parameters.model_dump()
    props = schema["properties"]
    assert set(props) == {"source", "config", "outbox", "invoice_date", "cutoff_date",
                          "language", "draft", "state", "source_secret", "advanced"}
    for name, prop in props.items():
        assert prop.get("description"), name
    assert {"enum": ["de", "en"], "type": "string"} in props["language"]["anyOf"]
    advanced = schema["definitions"]["Advanced"]["properties"]
    assert set(advanced) == {"billing_period", "incremental", "partition_rows", "if_empty"}
    assert all(p.get("description") for p in advanced.values())


def test_a_flow_given_a_password_refuses_it(prefect_harness, tmp_path):
    from flows.billing_run import billing_run

    state = billing_run(source="postgresql+psycopg://billing:Geheim-8@127.0.0.1:1/openolat",
                        config=str(SAMPLE), outbox=str(tmp_path / "outbox"),
                        invoice_date=INVOICE_DATE, return_state=True)
    assert state.is_failed() and "holds a password" in state.message
    assert "Geheim-8" not in state.message and "source_secret" in state.message


# -- no password anywhere ------------------------------------------------------------------------

def _pg_database():
    sys.path.insert(0, str(Path(__file__).parent))
    import test_source_db as sdb
    return sdb


@pytest.fixture
def pg_openolat():
    sdb = _pg_database()
    server = sdb._server_reachable("postgresql")
    url = server.set(database=f"billing_pw_{uuid.uuid4().hex[:10]}")
    text_url = url.render_as_string(hide_password=False)
    sdb.loader.create_database(text_url)
    try:
        sdb.loader.load(text_url)
        yield text_url
    finally:
        sdb.loader.drop_database(text_url)


def _files_holding(text: str, *folders: Path) -> list[str]:
    found = []
    needle = text.encode()
    for folder in folders:
        for path in folder.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if needle in data:
                found.append(str(path))
            if zipfile.is_zipfile(path):  # a workbook: look inside every part
                with zipfile.ZipFile(path) as z:
                    found += [f"{path}!{n}" for n in z.namelist() if needle in z.read(n)]
    return found


def test_database_password_from_the_environment_lands_nowhere(api_env, pg_openolat, tmp_path):
    from prefect.settings import get_current_settings

    password = f"pw-{uuid.uuid4().hex}"
    env = {**api_env, "BILLING_DB_PASSWORD": password}
    out, state = tmp_path / "outbox", tmp_path / "state.sqlite"
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--source", pg_openolat,
                           "--outbox", str(out), "--state", str(state), "--final", *DATE],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(out.glob("*.xlsx")) and list(out.glob("*.manifest.json"))
    assert password not in done.stdout + done.stderr
    db_url = get_current_settings().server.database.connection_url.get_secret_value()
    prefect_db = Path(db_url.split("///", 1)[1])
    assert prefect_db.exists()
    assert _files_holding(password, out, tmp_path, prefect_db.parent) == []


def test_source_from_a_prefect_secret_block(prefect_harness, tmp_path):
    from prefect.blocks.system import Secret

    from flows.billing_run import billing_run

    url = f"sqlite:///{tmp_path / 'openolat.db'}"
    _pg_database().loader.load(url)
    name = f"openolat-{uuid.uuid4().hex[:8]}"
    Secret(value=url).save(name)
    state = billing_run(source_secret=name, config=str(SAMPLE), outbox=str(tmp_path / "out"),
                        invoice_date=INVOICE_DATE, return_state=True)
    assert state.is_completed(), state.message
    assert state.result()["rows_read"] == 239  # every order of the sample database, card-paid ones too
    state = billing_run(source_secret="no-such-secret", config=str(SAMPLE),
                        outbox=str(tmp_path / "out"), invoice_date=INVOICE_DATE,
                        return_state=True)
    assert state.is_failed() and "Prefect Secret block 'no-such-secret'" in state.message
    assert isinstance(state.result(raise_on_failure=False), errors.ConfigurationError)


def test_the_password_comes_from_the_environment(monkeypatch):
    from sqlalchemy.engine import make_url

    from flows.sources.db_urls import refuse_password
    from flows.sources.openolat_db_reader import with_password

    monkeypatch.setenv("BILLING_DB_PASSWORD", "from-env")
    assert with_password(make_url("mysql+pymysql://billing@db/openolat")).password == "from-env"
    given = make_url("postgresql+psycopg://billing:other@db/openolat")
    assert with_password(given).password == "other"
    assert with_password(make_url("sqlite:///x.db")).password is None
    refuse_password("postgresql+psycopg://billing@db/openolat")  # no password: fine
    refuse_password("/srv/exports/orders.csv")
    with pytest.raises(errors.SourcePasswordGiven, match=r"billing:\*\*\*@db") as raised:
        refuse_password("postgresql+psycopg://billing:s3cret@db/openolat")
    assert "s3cret" not in str(raised.value) and raised.value.exit_code == 2
