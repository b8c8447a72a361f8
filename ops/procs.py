"""Start, stop and wait for the local Prefect processes of ``make serve`` (no third-party imports).

Each process runs in its own session (process group) with its output in ``<dir>/<name>.log`` and
its id in ``<dir>/<name>.pid``. ``stop`` ends exactly those processes and everything they
started — also children that moved into a session of their own, as Prefect's flow-run processes
do — first politely (SIGTERM), then with SIGKILL. Used by ops/serve.sh, ops/stop.sh and the
end-to-end test, so that all three stop things the same way.

    python ops/procs.py start DIR NAME -- COMMAND...   start COMMAND in the background
    python ops/procs.py alive DIR NAME                 exit 0 when NAME is running
    python ops/procs.py stop DIR NAME...               stop NAMEs (in this order)
    python ops/procs.py wait-http URL SECONDS [DIR NAME]
                                                       wait until URL answers 200 (give up
                                                       early when process NAME has died)
    python ops/procs.py port-free PORT                 exit 0 when 127.0.0.1:PORT is free
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

STOP_GRACE_SECONDS = 15.0


def pid_file(folder: Path, name: str) -> Path:
    return folder / f"{name}.pid"


def read_pid(folder: Path, name: str) -> int | None:
    try:
        return int(pid_file(folder, name).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def running(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def start(folder: Path, name: str, command: list[str]) -> int:
    """Start ``command`` in a new session; its pid goes to ``<name>.pid`` at once, so that a
    stop finds it even if whoever started it dies right after."""
    folder.mkdir(parents=True, exist_ok=True)
    old = read_pid(folder, name)
    if running(old):
        raise SystemExit(f"{name} is already running (pid {old}); run ops/stop.sh first")
    with open(folder / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    pid_file(folder, name).write_text(f"{proc.pid}\n", encoding="ascii")
    return proc.pid


def _process_table() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every process, from ``ps`` (Linux and macOS)."""
    out = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "pgid="],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            rows.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return rows


def family(pid: int) -> set[int]:
    """``pid``, every process in its group, and all their descendants."""
    table = _process_table()
    found = {pid} | {p for p, _, g in table if g == pid}
    grew = True
    while grew:
        more = {p for p, pp, _ in table if pp in found} - found
        found |= more
        grew = bool(more)
    return found


def _signal_all(pids: set[int], sig: int) -> None:
    for p in pids:
        for kill in (lambda: os.killpg(p, sig), lambda: os.kill(p, sig)):
            try:
                kill()
            except (ProcessLookupError, PermissionError):
                pass


def stop_pid(pid: int, grace: float = STOP_GRACE_SECONDS) -> bool:
    """Stop ``pid``'s family; True when something was running."""
    if not running(pid):
        return False
    members = family(pid)
    _signal_all({pid}, signal.SIGTERM)  # the session leader first: it stops its own children
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(running(p) for p in members):
        if not running(pid):  # leader gone: end what it left behind
            _signal_all({p for p in members if running(p)}, signal.SIGTERM)
        time.sleep(0.2)
    left = {p for p in members if running(p)}
    if left:
        _signal_all(left, signal.SIGKILL)
    for p in members:  # reap our own direct children, if any
        try:
            os.waitpid(p, os.WNOHANG)
        except (ChildProcessError, OSError):
            pass
    return True


def stop(folder: Path, names: list[str]) -> None:
    for name in names:
        pid = read_pid(folder, name)
        if pid and stop_pid(pid):
            print(f"stopped {name} (pid {pid})")
        pid_file(folder, name).unlink(missing_ok=True)


def wait_http(url: str, seconds: float, folder: Path | None = None,
              name: str | None = None) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        if folder is not None and name and not running(read_pid(folder, name)):
            return False
        time.sleep(0.5)
    return False


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main(argv: list[str]) -> int:
    if len(argv) >= 4 and argv[0] == "start" and "--" in argv:
        i = argv.index("--")
        print(start(Path(argv[1]), argv[2], argv[i + 1:]))
        return 0
    if len(argv) == 3 and argv[0] == "alive":
        return 0 if running(read_pid(Path(argv[1]), argv[2])) else 1
    if len(argv) >= 2 and argv[0] == "stop":
        stop(Path(argv[1]), argv[2:])
        return 0
    if len(argv) in (3, 5) and argv[0] == "wait-http":
        folder, name = (Path(argv[3]), argv[4]) if len(argv) == 5 else (None, None)
        return 0 if wait_http(argv[1], float(argv[2]), folder, name) else 1
    if len(argv) == 2 and argv[0] == "port-free":
        return 0 if port_free(int(argv[1])) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
