"""Start, stop and wait for the local Prefect processes of ``make serve`` (no third-party imports).

Each process runs in its own session (process group) with its output in ``<dir>/<name>.log`` and
its id in ``<dir>/<name>.pid``. ``stop`` ends exactly those processes and everything they
started — also children that moved into a session of their own, as Prefect's flow-run processes
do — first politely (SIGTERM), then with SIGKILL. Used by ops/serve.sh, ops/stop.sh and the
end-to-end test, so that all three stop things the same way.

The worker runs under ``supervise``: a flow-run process must not outlive its worker silently.
The supervisor adopts what the worker leaves behind (Linux: it is the "child subreaper" of its
descendants), writes their ids and start times to ``<dir>/<name>.children`` every second, and
when the worker dies (``kill -9``, out of memory) it ends them: SIGTERM first, on which
Prefect's engine marks the run Crashed itself, then SIGKILL, after which the server's
"unresponsive run" automation (ops/crash_detection.py) marks it Crashed when its heartbeats stop.
``stop`` also ends the processes recorded in ``<name>.children``, for the case that the
supervisor itself was killed.

    python ops/procs.py start DIR NAME -- COMMAND...   start COMMAND in the background
    python ops/procs.py supervise DIR NAME -- COMMAND...
                                                       run COMMAND; end its descendants when
                                                       it exits (used inside ``start``)
    python ops/procs.py alive DIR NAME                 exit 0 when NAME is running
    python ops/procs.py stop DIR NAME...               stop NAMEs (in this order)
    python ops/procs.py wait-http URL SECONDS [DIR NAME]
                                                       wait until URL answers 200: as long as
                                                       process NAME lives and makes progress,
                                                       at most SECONDS; says why on failure
    python ops/procs.py port-free PORT                 exit 0 when nothing listens on
                                                       127.0.0.1:PORT
"""

from __future__ import annotations

import ctypes
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
# how long the supervisor gives a dead worker's flow-run processes to mark their runs Crashed
ORPHAN_GRACE_SECONDS = 10.0
# the health wait gives up when the server has shown no sign of progress (no CPU time used,
# nothing written to its log) for this long
STALL_SECONDS = 90.0


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


def children_file(folder: Path, name: str) -> Path:
    return folder / f"{name}.children"


def start_time(pid: int) -> str | None:
    """When ``pid`` started, as ``ps`` says it: tells a recorded process from a later one
    that got the same id."""
    done = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True,
                          text=True)
    return " ".join(done.stdout.split()) or None


def record_children(folder: Path, name: str, pids: set[int], known: dict[int, str]) -> None:
    """Write ``pid<TAB>start time`` of each descendant to ``<name>.children`` (atomically)."""
    for p in pids - known.keys():
        started = start_time(p)
        if started:
            known[p] = started
    for p in set(known) - pids:
        del known[p]
    target = children_file(folder, name)
    part = target.with_name(f".{target.name}.part")
    part.write_text("".join(f"{p}\t{t}\n" for p, t in sorted(known.items())), encoding="utf-8")
    os.replace(part, target)


def recorded_children(folder: Path, name: str) -> set[int]:
    """The recorded descendants of ``name`` that still run (same id and start time)."""
    try:
        lines = children_file(folder, name).read_text(encoding="utf-8").splitlines()
    except OSError:
        return set()
    alive = set()
    for line in lines:
        pid, _, started = line.partition("\t")
        if pid.isdigit() and running(int(pid)) and start_time(int(pid)) == started:
            alive.add(int(pid))
    return alive


def stop(folder: Path, names: list[str]) -> None:
    for name in names:
        pid = read_pid(folder, name)
        left = recorded_children(folder, name)  # read first: a stopping supervisor rewrites it
        if pid and stop_pid(pid):
            print(f"stopped {name} (pid {pid})")
        left = {p for p in left if running(p)}
        for orphan in sorted(left):
            stop_pid(orphan, grace=ORPHAN_GRACE_SECONDS)
        if left:
            print(f"stopped what {name} left running (pids {' '.join(map(str, sorted(left)))})")
        pid_file(folder, name).unlink(missing_ok=True)
        children_file(folder, name).unlink(missing_ok=True)


# --- the supervisor -------------------------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    """Linux: orphaned descendants are re-parented to this process instead of to init, so
    that it can still find and end them. Elsewhere the recorded ids do that job."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _say(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervisor: {message}", flush=True)


def _end(pids: set[int], grace: float) -> None:
    """SIGTERM (Prefect's engine then marks its run Crashed), SIGKILL what is left after
    ``grace`` seconds; reaps the adopted ones."""
    _signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(running(p) for p in pids):
        _reap()
        time.sleep(0.2)
    left = {p for p in pids if running(p)}
    if left:
        _say(f"killing {' '.join(map(str, sorted(left)))} (still running after {grace:.0f} s)")
        _signal_all(left, signal.SIGKILL)
    time.sleep(0.2)
    _reap()


def _reap() -> dict[int, int]:
    """Collect every exited child (the worker and adopted orphans): pid -> wait status."""
    done = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done[pid] = status


def supervise(folder: Path, name: str, command: list[str]) -> int:
    """Run ``command`` (the worker) and stay with it: record its descendants; when it exits,
    however it exits, end every descendant it left; on SIGTERM/SIGINT stop it, then them.
    Returns the worker's exit code (128 + signal when killed)."""
    folder.mkdir(parents=True, exist_ok=True)
    adopted = _become_subreaper()
    worker = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    _say(f"{name} started (pid {worker.pid}){'' if adopted else '; not a subreaper'}")
    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)
        try:
            os.kill(worker.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    known: dict[int, str] = {}
    status = None
    while status is None:
        mine = family(os.getpid()) - {os.getpid()}
        record_children(folder, name, mine - {worker.pid}, known)
        status = _reap().get(worker.pid)
        if status is None:
            time.sleep(1.0)
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code
    left = {p for p in (family(os.getpid()) - {os.getpid()}) | set(known) if running(p)}
    why = "stopped" if stopping else f"exited with code {code} (by itself or killed)"
    _say(f"{name} {why}; ending the flow-run processes it left: "
         f"{' '.join(map(str, sorted(left))) or 'none'}")
    if left:
        _end(left, ORPHAN_GRACE_SECONDS)
    children_file(folder, name).unlink(missing_ok=True)
    return code


def _cpu_ticks(pids: set[int]) -> int | None:
    """CPU time used so far by ``pids`` (Linux: /proc; None elsewhere)."""
    total, seen = 0, False
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            seen = True
        except (OSError, IndexError, ValueError):
            pass
    return total if seen else None


def _progress(folder: Path, name: str, pid: int) -> tuple:
    """Something that changes while the process works: its CPU time and its log's size."""
    try:
        size = (folder / f"{name}.log").stat().st_size
    except OSError:
        size = None
    return _cpu_ticks(family(pid)), size


def wait_http(url: str, seconds: float, folder: Path | None = None,
              name: str | None = None, stall: float = STALL_SECONDS) -> tuple[bool, str]:
    """Wait until ``url`` answers 200. With a process to watch, wait as long as it is alive
    and shows progress (CPU time or log output) within ``stall`` seconds, at most
    ``seconds`` in all: a busy machine gets the time it needs, a dead or hung server is
    reported at once. Returns (healthy, why not)."""
    start = time.monotonic()
    deadline = start + seconds
    last, last_change, said = None, start, start
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True, ""
        except (urllib.error.URLError, OSError):
            pass
        now = time.monotonic()
        if folder is not None and name:
            pid = read_pid(folder, name)
            if not running(pid):
                return False, f"the {name} process (pid {pid}) exited after {now - start:.0f} s"
            seen = _progress(folder, name, pid)
            if seen != last:
                last, last_change = seen, now
            elif now - last_change > stall:
                return False, (f"no answer from {url} after {now - start:.0f} s, and the "
                               f"{name} process (pid {pid}) has used no CPU time and written "
                               f"nothing to its log for {stall:.0f} s")
            if now - said >= 30:
                print(f"  still waiting for {url} ({now - start:.0f} s; the {name} is "
                      "starting)", file=sys.stderr, flush=True)
                said = now
        if now >= deadline:
            return False, f"no answer from {url} within {seconds:.0f} s"
        time.sleep(0.5)


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port``. A connection, not a bind: sockets of
    a server stopped a moment ago (TIME_WAIT) make a bind fail although a new server (which
    binds with SO_REUSEADDR, as uvicorn does) can listen there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        except OSError:  # no answer at all: something holds the port but does not accept
            return False
    return False


def main(argv: list[str]) -> int:
    if len(argv) >= 4 and argv[0] == "start" and "--" in argv:
        i = argv.index("--")
        print(start(Path(argv[1]), argv[2], argv[i + 1:]))
        return 0
    if len(argv) >= 4 and argv[0] == "supervise" and argv[3] == "--":
        return supervise(Path(argv[1]), argv[2], argv[4:])
    if len(argv) == 3 and argv[0] == "alive":
        return 0 if running(read_pid(Path(argv[1]), argv[2])) else 1
    if len(argv) >= 2 and argv[0] == "stop":
        stop(Path(argv[1]), argv[2:])
        return 0
    if len(argv) in (3, 5) and argv[0] == "wait-http":
        folder, name = (Path(argv[3]), argv[4]) if len(argv) == 5 else (None, None)
        healthy, why = wait_http(argv[1], float(argv[2]), folder, name)
        if not healthy:
            print(why, file=sys.stderr)
        return 0 if healthy else 1
    if len(argv) == 2 and argv[0] == "port-free":
        return 0 if port_free(int(argv[1])) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
