"""The inbox: each export dropped into a folder is billed once, then filed (DESIGN.md §7).

A file is taken once it was last modified at least the settle time ago and, if an earlier poll
saw it, its size and modification time are unchanged since, so a half-copied file is never read
and a cron job (``watch --once``) takes an old file on its first call. Only regular files are
read: a symlink, FIFO, socket or device in the inbox is never opened or followed; it is moved
(a link as a link) to ``failed/`` with the reason.
Its sha256 is looked up in the ledger ``.billing-export/ledger.json`` in the inbox: a file
billed before is moved to ``processed/<date>/`` with a ``.duplicate.txt`` beside it and not
billed again. A new file is billed and delivered, recorded in the ledger, then moved to
``processed/<date>/``. A file that fails as a whole goes to ``failed/`` with a
``.error.txt`` a person can read. A file whose orders were all billed already (by final
runs of the state store) delivers no workbook: it goes to ``processed/<date>/`` with a
``.note.txt`` saying so. Hidden and temporary files are left alone. Nothing in
``processed/`` or ``failed/`` is ever overwritten: a second ``x.csv`` becomes ``x-1.csv``;
a name that would exceed the file system's limit (255 bytes) is shortened with a hash.

Every step is ordered so that a poll that dies anywhere converges on the next one: the ledger
first notes the file as *pending* with its invoice date, so a rerun bills the same bytes on the
same date and the outbox takes the identical workbook again as a no-op; a file billed but not
yet moved is moved without billing. The ledger, the notes and the moves are atomic and fsynced.

>>> [ignored(n) for n in ("~$orders.xlsx", ".orders.csv", "orders.csv.part", "orders.csv")]
[True, True, True, False]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import stat
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .cli import _date  # the CLI's date argument, one parser for every command
from .errors import BillingError, InputError
from .outbox import fsync_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows; one poller per inbox is then on you
    fcntl = None

ROOT = Path(__file__).resolve().parent.parent
SETTLE_SECONDS = 2.0
STATE = ".billing-export"
PROCESSED, FAILED = "processed", "failed"
EXPORTS = (".csv", ".xlsx", ".xlsm")
SYSTEM_FILES = ("thumbs.db", "desktop.ini")  # written by Windows into shared folders

log = logging.getLogger(__name__)


class InboxError(InputError):
    """The poll as a whole cannot run (no inbox, unreadable ledger, bad configuration); no file
    was touched."""


class FileFailed(Exception):
    """The file cannot be billed as a whole; the message says where and why."""


class AllBilled(Exception):
    """Every order of the file was billed already; no workbook was delivered."""


Bill = Callable[[Path, dt.date], str]  # (file, invoice date) -> delivered workbook path


@dataclass(frozen=True)
class Taken:
    """What a poll did with one file; ``moved_to`` is relative to the inbox."""
    file: str
    outcome: str  # processed | duplicate | failed | error (crashed, left in the inbox)
    moved_to: str | None = None
    workbook: str | None = None
    message: str = ""

    def line(self) -> str:
        where = f" -> {self.moved_to}" if self.moved_to else ""
        book = f" [{self.workbook}]" if self.workbook else ""
        text = f": {self.message}" if self.message else ""
        return f"{self.outcome:<9} {self.file}{where}{book}{text}"

    def as_dict(self) -> dict:
        return asdict(self)


def ignored(name: str) -> bool:
    """Hidden, temporary and Office lock files, and what Windows leaves in shared folders."""
    low = name.lower()
    return low.startswith((".", "~$")) or low.endswith(".part") or low in SYSTEM_FILES


def scan(inbox: Path, seen: dict, now: float, settle: float = SETTLE_SECONDS) -> list[Path]:
    """Entries ready to take, oldest first: last modified ``settle`` seconds before ``now``
    and, if the previous poll saw them (``seen``, name -> [size, mtime_ns], updated here), the
    same size and mtime as then. Nothing is followed: a symlink, FIFO or device is listed by
    its own (lstat) times, for ``take`` to file it without reading it."""
    current, ready = {}, []
    with os.scandir(inbox) as entries:
        for entry in entries:
            if ignored(entry.name) or entry.is_dir(follow_symlinks=False):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            signature = [st.st_size, st.st_mtime_ns]
            current[entry.name] = signature
            before = seen.get(entry.name)
            if (before is None or list(before) == signature) and now - st.st_mtime >= settle:
                ready.append((st.st_mtime_ns, entry.name))
    seen.clear()
    seen.update(current)
    return [inbox / name for _, name in sorted(ready)]


def _kind(mode: int) -> str | None:
    """What a non-regular entry is, in words; None for a regular file."""
    for test, words in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device")):
        if test(mode):
            return words
    return None if stat.S_ISREG(mode) else "not a regular file"


def sha256_regular(path: Path) -> str:
    """The sha256 of ``path`` read without following a link or blocking on a FIFO swapped in
    since the scan; OSError if it is not a regular file now."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{path.name}: not a regular file")
        h = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
        return h.hexdigest()


#: longest file name most file systems take (ext4, XFS, NTFS, SMB shares), in bytes
NAME_MAX = 255


def fit_name(name: str, keep: str = "", limit: int = NAME_MAX) -> str:
    """``name`` if it fits ``limit`` bytes; else its beginning, a hash of the whole name and
    its ending ``keep`` (the suffix that says what the file is), within the limit."""
    if len(name.encode("utf-8")) <= limit:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    body = name[:len(name) - len(keep)] if keep and name.endswith(keep) else name
    room = limit - len(f"~{digest}{keep}".encode("utf-8"))
    head = body.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f"{head}~{digest}{keep}"


# -- files on disk: atomic, fsynced, never overwriting ------------------------------------------

def write_atomic(path: Path, data: bytes) -> None:
    """Write beside, fsync, rename over ``path``, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(fit_name(f".{path.name}.{os.getpid()}.part", f".{os.getpid()}.part"))
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def _candidates(name: str):
    stem, suffix = Path(name).stem, Path(name).suffix
    yield fit_name(name, suffix)
    n = 1
    while True:
        yield fit_name(f"{stem}-{n}{suffix}", f"-{n}{suffix}")
        n += 1


def move(src: Path, folder: Path, note: tuple[str, str] | None = None) -> Path:
    """Move ``src`` into ``folder`` under its name or the first free ``name-N``; never
    overwrite. ``note`` (suffix, text) is written beside the target first. A target that is
    already this very file (a move cut short after the link) only loses the inbox name. A
    symlink, FIFO or device is renamed as it is, never opened or followed."""
    folder.mkdir(parents=True, exist_ok=True)
    regular = stat.S_ISREG(os.lstat(src).st_mode)
    for name in _candidates(src.name):
        dst = folder / name
        if os.path.lexists(dst):
            if regular and dst.is_file() and os.path.samefile(src, dst):
                break
            continue
        if note:
            write_atomic(folder / fit_name(name + note[0], note[0]), note[1].encode("utf-8"))
        try:
            os.link(src, dst, follow_symlinks=False)  # a link is linked, not its target
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system: check, then rename
            if os.path.lexists(dst):
                continue
            os.rename(src, dst)
        break
    src.unlink(missing_ok=True)
    fsync_dir(folder)
    fsync_dir(src.parent)
    return dst


# -- the ledger: sha256 -> what became of the file ----------------------------------------------

class Ledger:
    """``.billing-export/ledger.json``; every change is written atomically before it counts."""

    def __init__(self, inbox: Path):
        self.path = inbox / STATE / "ledger.json"
        self.files: dict[str, dict] = {}
        if self.path.exists():
            try:
                self.files = json.loads(self.path.read_text(encoding="utf-8"))["files"]
            except (ValueError, KeyError, TypeError) as err:
                raise InboxError(f"{self.path}: unreadable ({err}); without it files could be "
                                 "billed twice, so nothing is taken until it is repaired") from None

    def get(self, digest: str) -> dict | None:
        return self.files.get(digest)

    def _write(self, files: dict) -> None:
        body = json.dumps({"version": 1, "files": files}, indent=1, sort_keys=True,
                          ensure_ascii=False)
        write_atomic(self.path, body.encode("utf-8") + b"\n")
        self.files = files

    def _set(self, digest: str, **fields) -> None:
        self._write({**self.files, digest: {**self.files.get(digest, {}), **fields}})

    def begin(self, digest, file, invoice_date, at):
        self._set(digest, status="pending", file=file, invoice_date=invoice_date, started=at)

    def billed(self, digest, workbook, processed_dir, at):
        self._set(digest, status="billed", workbook=workbook, processed_dir=processed_dir,
                  billed=at)

    def moved(self, digest, processed):
        self._set(digest, processed=processed)

    def duplicate(self, digest, file, moved_to, at):
        dups = self.files[digest].get("duplicates", []) + [
            {"file": file, "moved_to": moved_to, "at": at}]
        self._set(digest, duplicates=dups)

    def drop(self, digest):
        self._write({d: e for d, e in self.files.items() if d != digest})

    def forget_pending(self, inbox: Path) -> None:
        """A pending entry whose file left the inbox will not be retried; forget its date."""
        gone = [d for d, e in self.files.items()
                if e.get("status") == "pending" and not (inbox / e.get("file", "")).is_file()]
        if gone:
            self._write({d: e for d, e in self.files.items() if d not in gone})


# -- one poll ------------------------------------------------------------------------------------

def _stamp(now: float) -> str:
    return dt.datetime.fromtimestamp(now).astimezone().isoformat(timespec="seconds")


def _rel(inbox: Path, path: Path) -> str:
    return path.relative_to(inbox).as_posix()


def _indent(text: str) -> str:
    return text.replace("\n", "\n          ")


def error_report(name: str, message: str, now: float) -> str:
    return (f"billing-export could not bill this file. Nothing was billed from it.\n\n"
            f"File:     {name}\nTime:     {_stamp(now)}\nProblem:  {_indent(message)}\n\n"
            f"What to do: fix the file and drop it into the inbox again.\n"
            f"Was tun: die Datei korrigieren und erneut in den Eingangsordner legen.\n")


def duplicate_report(name: str, digest: str, entry: dict, now: float) -> str:
    first = entry.get("processed") or f"{entry.get('processed_dir')}/{entry.get('file')}"
    return (f"billing-export did not bill this file: the same content was billed before.\n\n"
            f"File:      {name}\nTime:      {_stamp(now)}\nsha256:    {digest}\n"
            f"Billed as: {entry.get('file')} on {entry.get('billed')}\n"
            f"Workbook:  {entry.get('workbook') or 'none (its orders were billed already)'}\n"
            f"Filed at:  {first}\n\n"
            f"Nothing was billed from this file. To bill the orders again, export them anew.\n")


def all_billed_report(name: str, message: str, now: float) -> str:
    return (f"billing-export delivered no workbook for this file: its orders were billed "
            f"already.\n\nFile:     {name}\nTime:     {_stamp(now)}\nNote:     "
            f"{_indent(message)}\n\nNothing was billed from this file; nothing needs to be done.\n"
            f"Aus dieser Datei wurde nichts verrechnet: alle Buchungen sind bereits verrechnet.\n")


def _fail(inbox: Path, path: Path, message: str, now: float) -> Taken:
    dst = move(path, inbox / FAILED, (".error.txt", error_report(path.name, message, now)))
    return Taken(path.name, "failed", _rel(inbox, dst), None, message)


def take(inbox: Path, path: Path, ledger: Ledger, bill: Bill, invoice_date: dt.date | None,
         now: float) -> Taken:
    """Bill one stable file once and file it; see the module docstring for the order."""
    name, stamp = path.name, _stamp(now)
    st = os.lstat(path)
    kind = _kind(st.st_mode)
    if kind:
        return _fail(inbox, path, f"{name}: {kind}, not a file; it was not read. Only files "
                     "copied into the inbox are billed (a link is filed as a link)", now)
    if st.st_size == 0:
        return _fail(inbox, path, f"{name}: the file is empty (0 bytes)", now)
    if not name.lower().endswith(EXPORTS):
        return _fail(inbox, path, f"{name}: not a booking-order export; expected an OpenOlat "
                     "export saved as .csv or .xlsx", now)
    try:
        digest = sha256_regular(path)
    except OSError as err:  # replaced by a link or a FIFO since the scan
        return _fail(inbox, path, f"{name}: cannot be read as a file ({err.strerror or err}); "
                     "it was not billed", now)
    entry = ledger.get(digest)
    if entry and entry.get("status") == "billed":
        return _known(inbox, path, digest, entry, ledger, now)
    # a pending entry is a poll that died while billing: bill on its date, so the bytes match
    date = entry["invoice_date"] if entry else (invoice_date or dt.date.fromtimestamp(now))
    date = dt.date.fromisoformat(str(date))
    ledger.begin(digest, name, date.isoformat(), stamp)
    folder = f"{PROCESSED}/{dt.date.fromtimestamp(now).isoformat()}"
    try:
        workbook = Path(bill(path, date)).name
    except FileFailed as err:
        ledger.drop(digest)
        return _fail(inbox, path, str(err), now)
    except AllBilled as err:
        ledger.billed(digest, None, folder, stamp)
        dst = move(path, inbox / folder, (".note.txt", all_billed_report(name, str(err), now)))
        ledger.moved(digest, _rel(inbox, dst))
        return Taken(name, "processed", _rel(inbox, dst), None, str(err))
    ledger.billed(digest, workbook, folder, stamp)
    dst = move(path, inbox / folder)
    ledger.moved(digest, _rel(inbox, dst))
    return Taken(name, "processed", _rel(inbox, dst), workbook)


def _known(inbox: Path, path: Path, digest: str, entry: dict, ledger: Ledger,
           now: float) -> Taken:
    folder = inbox / entry["processed_dir"]
    target = folder / path.name
    cut_short = (entry.get("processed") is None and entry.get("file") == path.name
                 and (not target.exists() or os.path.samefile(target, path)))
    if cut_short:  # billed, but the poll died before the file was filed
        dst = move(path, folder)
        ledger.moved(digest, _rel(inbox, dst))
        return Taken(path.name, "processed", _rel(inbox, dst), entry["workbook"],
                     "billed by an earlier poll; filed now")
    today = inbox / PROCESSED / dt.date.fromtimestamp(now).isoformat()
    dst = move(path, today, (".duplicate.txt", duplicate_report(path.name, digest, entry, now)))
    ledger.duplicate(digest, path.name, _rel(inbox, dst), _stamp(now))
    return Taken(path.name, "duplicate", _rel(inbox, dst), entry["workbook"],
                 f"same content as {entry['file']}, billed before; not billed again")


@contextlib.contextmanager
def locked(inbox: Path):
    """One poll per inbox at a time; yields False (take nothing) when another one runs."""
    if not inbox.is_dir():
        raise InboxError(f"{inbox}: no such folder (the inbox must exist)")
    (inbox / STATE).mkdir(exist_ok=True)
    with open(inbox / STATE / "lock", "a") as f:
        if fcntl is None:
            yield True
            return
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _seen_path(inbox: Path) -> Path:
    return inbox / STATE / "seen.json"


def _load_seen(inbox: Path) -> dict:
    try:
        return json.loads(_seen_path(inbox).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # only a hint: files wait one more poll


def _save_seen(inbox: Path, seen: dict, before: dict) -> None:
    if seen != before:
        write_atomic(_seen_path(inbox), json.dumps(seen, sort_keys=True).encode("utf-8"))


def poll(inbox: Path, bill: Bill, *, invoice_date: dt.date | None = None,
         now: float | None = None, settle: float = SETTLE_SECONDS,
         logger: logging.Logger | logging.LoggerAdapter | None = None) -> list[Taken]:
    """One poll: take every stable file. A file whose processing crashes stays in the inbox
    for the next poll (outcome ``error``); the other files are still taken."""
    logger = logger or log
    now = time.time() if now is None else now
    with locked(inbox) as mine:
        if not mine:
            logger.warning("%s: another poll of this inbox is running; nothing taken", inbox)
            return []
        seen = _load_seen(inbox)
        before = dict(seen)
        ready = scan(inbox, seen, now, settle)
        _save_seen(inbox, seen, before)
        ledger = Ledger(inbox)
        ledger.forget_pending(inbox)
        # a file a dead poll was billing goes first, so that a copy of it is the duplicate
        pending = {e["file"] for e in ledger.files.values() if e.get("status") == "pending"}
        ready.sort(key=lambda p: p.name not in pending)
        taken = []
        for path in ready:
            try:
                taken.append(take(inbox, path, ledger, bill, invoice_date, now))
            except Exception as err:  # noqa: BLE001 - a crash: the file waits for the next poll
                logger.exception("%s: processing stopped; the file stays in the inbox", path.name)
                taken.append(Taken(path.name, "error", None, None,
                                   f"{type(err).__name__}: {err} (left in the inbox; the next "
                                   "poll tries again)"))
                ledger = Ledger(inbox)
        return taken


def observe(inbox: Path, now: float | None = None,
            settle: float = SETTLE_SECONDS) -> tuple[int, int]:
    """A poll that takes nothing: (files ready, files waiting). Sizes are recorded only when
    none is ready, so that the poll that takes them compares with the same previous poll."""
    now = time.time() if now is None else now
    with locked(inbox) as mine:
        if not mine:
            return 0, 0
        seen = _load_seen(inbox)
        before = dict(seen)
        ready = scan(inbox, seen, now, settle)
        if not ready:
            _save_seen(inbox, seen, before)
        return len(ready), len(seen) - len(ready)


# -- billing without Prefect ---------------------------------------------------------------------

def local_biller(config, outbox: Path, language: str | None = None, store=None) -> Bill:
    """Bill without Prefect (tests); ``config`` is a folder or a loaded ``Config``. Each file
    is a run of the pipeline (flows.pipeline) against the state ``store`` (orders billed
    already are not billed again), or without one against a temporary store of its own. A
    bad configuration fails the poll, not the files: they wait in the inbox until it is
    fixed."""
    import tempfile

    from . import job, pipeline
    from .config import Config, load_config
    try:
        job.check_validation_enabled()
        cfg = config if isinstance(config, Config) else load_config(config)
    except BillingError as err:
        raise InboxError(str(err)) from None

    def bill(path: Path, invoice_date: dt.date) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            request = pipeline.Request(
                source=str(path), config=cfg, outbox=outbox, invoice_date=invoice_date,
                language=language, if_empty="skip" if store is not None else "deliver",
                state=store if store is not None else str(Path(tmp) / "state.sqlite"))
            try:
                done = pipeline.run(request)
            except BillingError as err:
                raise FileFailed(str(err)) from None
            if store is None:
                done.store.engine.dispose()
            result = done.result
        if result.nothing:
            raise AllBilled(f"{path.name}: {result.nothing}")
        if result.delivery is not None:
            return str(result.delivery.workbook)
        return str(outbox / job.file_name(cfg, pipeline.params(request, cfg), result.run_id))

    return bill


# -- the ``watch`` command -----------------------------------------------------------------------

def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def add_watch_command(subparsers) -> argparse.ArgumentParser:
    """Add ``watch`` to the ``billing-export`` subcommands; it runs :func:`watch_main`."""
    w = subparsers.add_parser(
        "watch", help="bill every OpenOlat export dropped into an inbox folder",
        description="Poll an inbox folder. A CSV or OpenOlat .xlsx export dropped into it is "
                    "taken once it is older than the settle time and unchanged since the "
                    "previous poll, billed once per content (the same "
                    "file dropped twice is not billed twice), delivered into the outbox and "
                    "moved to processed/<date>/; a file that cannot be billed goes to failed/ "
                    "with a .error.txt beside it; symlinks, FIFOs and devices are never read "
                    "(filed to failed/). Hidden and temporary files (.x, ~$x, x.part) "
                    "are ignored. Prints one line per file taken; stop with Ctrl-C.")
    w.add_argument("--inbox", required=True, metavar="DIR",
                   help="folder to watch; must exist. processed/, failed/ and .billing-export/ "
                        "(the ledger of billed files) are kept inside it")
    w.add_argument("--outbox", default="out/outbox", metavar="DIR",
                   help="folder the invoicing system reads; created if missing "
                        "(default: out/outbox)")
    w.add_argument("--config", default=str(ROOT / "sample_data"), metavar="DIR",
                   help="folder with company.toml and the reference tables, or a group.toml "
                        "(default: sample_data/)")
    w.add_argument("--invoice-date", type=_date, default=None, metavar="YYYY-MM-DD",
                   help="invoice date of every file taken (default: the day the file is taken)")
    w.add_argument("--language", choices=("de", "en"), default=None,
                   help="workbook headers and messages (default: the company's language)")
    w.add_argument("--state", default=None, metavar="PATH|URL",
                   help="state store of the billing runs: a SQLite file or "
                        "postgresql://user@host/db (default: billing-state.sqlite beside the "
                        "outbox folder)")
    w.add_argument("--interval", type=_seconds, default=10.0, metavar="SECONDS",
                   help="seconds between polls (default: 10)")
    w.add_argument("--settle", type=_seconds, default=SETTLE_SECONDS, metavar="SECONDS",
                   help="a file is taken only when it was last changed at least this long ago "
                        "and, if the previous poll saw it, is unchanged since (so --once from "
                        f"cron takes an older file at once) (default: {SETTLE_SECONDS:g})")
    w.add_argument("--once", action="store_true",
                   help="poll once and exit (when the poll could not run, the exit code of its "
                        "error's kind below; 2 if a file stayed in the inbox after an "
                        "unexpected error)")
    w.add_argument("--quiet", action="store_true", help="print only the files taken and problems")
    w.set_defaults(handler=watch_main)
    return w


def _one_poll(args, flow) -> int:
    inbox = Path(args.inbox)
    ready, waiting = observe(inbox, settle=args.settle)
    if not ready:
        if args.once and waiting:
            print(f"{waiting} file(s) waiting until size and time are stable; poll again",
                  file=sys.stderr)
        return 0
    state = flow(inbox=str(inbox), outbox=args.outbox, config=args.config,
                 invoice_date=args.invoice_date, language=args.language, state=args.state,
                 settle_seconds=args.settle, return_state=True)
    if not state.is_completed():
        failure = state.result(raise_on_failure=False)  # the poll's error, with its kind
        raise failure if isinstance(failure, BillingError) else InboxError(state.message)
    taken = [Taken(**t) for t in state.result()]
    for t in taken:
        print(t.line(), file=sys.stderr if t.outcome == "error" else sys.stdout, flush=True)
    return 2 if any(t.outcome == "error" for t in taken) else 0


def watch_main(args) -> int:
    """Poll every ``--interval`` seconds until Ctrl-C (exit 0), or once with ``--once``."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if args.quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if not Path(args.inbox).is_dir():
        print(f"billing-export: error: {args.inbox}: no such folder (the inbox must exist)",
              file=sys.stderr)
        return 2
    from .process_inbox import process_inbox
    last_error = None
    try:
        while True:
            try:
                code = _one_poll(args, process_inbox)
            except BillingError as err:  # its kind's exit code (flows.errors)
                code = err.exit_code
                if str(err) != last_error:  # say it once, not every poll
                    print(f"billing-export: error: {err}", file=sys.stderr)
                last_error = str(err)
            else:
                last_error = None
            if args.once:
                return code
            time.sleep(args.interval)
    except KeyboardInterrupt:
        print("billing-export: watch stopped", file=sys.stderr)
        return 0
