"""ops/procs.py without Prefect: the port check of ``make serve``, its health wait, and the
supervisor that ends what a dead worker leaves running (a few seconds; real processes)."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="process handling is checked on Linux"),
              pytest.mark.slow]  # real processes and waits: seconds each


def _load_procs():
    spec = importlib.util.spec_from_file_location("ops_procs", ROOT / "ops" / "procs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


procs = _load_procs()


def _wait(predicate, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_port_is_free_again_while_the_stopped_servers_connections_are_in_time_wait():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's listener
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    assert not procs.port_free(port)  # a listener: taken
    accepted.close()  # the server side closes first: its end of the connection is in TIME_WAIT
    time.sleep(0.2)
    client.close()
    server.close()
    probe = socket.socket()
    try:
        with pytest.raises(OSError):  # what the old check did: a plain bind fails ...
            probe.bind(("127.0.0.1", port))
    finally:
        probe.close()
    assert procs.port_free(port)  # ... yet nothing listens, and a new server can
    again = socket.socket()
    again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    again.bind(("127.0.0.1", port))
    again.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_wait_says_when_the_server_process_exited(tmp_path):
    procs.start(tmp_path, "server", [sys.executable, "-c", "import time; time.sleep(1)"])
    healthy, why = procs.wait_http(f"http://127.0.0.1:{_closed_port()}/health", 60, tmp_path,
                                   "server")
    assert not healthy and "exited" in why


def test_health_wait_gives_up_on_a_server_that_shows_no_progress(tmp_path):
    pid = procs.start(tmp_path, "server", ["sleep", "60"])
    try:
        start = time.monotonic()
        healthy, why = procs.wait_http(f"http://127.0.0.1:{_closed_port()}/health", 60,
                                       tmp_path, "server", stall=2)
        assert not healthy and "no CPU time" in why
        assert time.monotonic() - start < 15
    finally:
        procs.stop_pid(pid, grace=2)


def test_health_wait_keeps_waiting_while_the_server_works(tmp_path):
    """A slow start that keeps using CPU is not given up after the stall time."""
    busy = "import time\nend = time.time() + 4\nwhile time.time() < end: pass\n"
    pid = procs.start(tmp_path, "server", [sys.executable, "-c", busy])
    try:
        start = time.monotonic()
        healthy, why = procs.wait_http(f"http://127.0.0.1:{_closed_port()}/health", 60,
                                       tmp_path, "server", stall=1.5)
        assert not healthy and "exited" in why  # it ended by itself, not for want of progress
        assert time.monotonic() - start >= 3.5
    finally:
        procs.stop_pid(pid, grace=2)


# a "worker" that starts a "flow-run process" in a session of its own, as Prefect's does
WORKER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                         start_new_session=True)
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(300)
"""


def _supervised(tmp_path):
    marker = tmp_path / "child.pid"
    supervisor = procs.start(tmp_path, "worker", [
        sys.executable, str(ROOT / "ops" / "procs.py"), "supervise", str(tmp_path), "worker",
        "--", sys.executable, "-c", WORKER, str(marker)])
    _wait(marker.exists)
    child = int(marker.read_text())
    _wait(lambda: str(child) in (tmp_path / "worker.children").read_text()
          if (tmp_path / "worker.children").exists() else False)
    worker = next(p for p, parent, _ in procs._process_table() if parent == supervisor
                  and p != child and b"-c" in open(f"/proc/{p}/cmdline", "rb").read())
    return supervisor, worker, child


def test_supervisor_ends_the_flow_run_process_of_a_worker_killed_with_sigkill(tmp_path):
    supervisor, worker, child = _supervised(tmp_path)
    try:
        os.kill(worker, signal.SIGKILL)
        _wait(lambda: not procs.running(child))
        _wait(lambda: not procs.running(supervisor))
        log = (tmp_path / "worker.log").read_text()
        assert "exited with code 137" in log and str(child) in log
    finally:
        procs.stop(tmp_path, ["worker"])
        procs.stop_pid(child, grace=1)


def test_stop_ends_a_flow_run_process_whose_worker_and_supervisor_were_killed(tmp_path):
    supervisor, worker, child = _supervised(tmp_path)
    try:
        os.killpg(supervisor, signal.SIGKILL)  # the worker's whole session
        _wait(lambda: not procs.running(supervisor) and not procs.running(worker))
        assert procs.running(child)  # orphaned, in a session of its own
        subprocess.run(["bash", str(ROOT / "ops" / "stop.sh")], check=True,
                       env={**os.environ, "BILLING_PREFECT_DIR": str(tmp_path),
                            "VENV_BIN": os.path.dirname(sys.executable)},
                       capture_output=True, text=True, timeout=60)
        assert not procs.running(child)
        assert not (tmp_path / "worker.children").exists()
    finally:
        procs.stop_pid(child, grace=1)


def test_a_recorded_pid_reused_by_another_process_is_not_stopped(tmp_path):
    (tmp_path / "worker.children").write_text(f"{os.getpid()}\tMon Jan  1 00:00:00 2001\n")
    assert procs.recorded_children(tmp_path, "worker") == set()
