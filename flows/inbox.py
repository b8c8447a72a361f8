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

The parts: :mod:`flows.inbox_files` (the settle rule, regular files, atomic writes and moves),
:mod:`flows.inbox_ledger` (the ledger, the lock), this module (one poll and the reports it
files), :mod:`flows.watch` (the ``watch`` command) and :mod:`flows.process_inbox` (the poll as
a Prefect flow). The files taken are those whose ending a source reads
(:func:`flows.sources.registry.file_suffixes`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .errors import BillingError
from .inbox_files import SETTLE_SECONDS, entry_kind, move, scan, sha256_regular
from .inbox_ledger import InboxError, Ledger, load_seen, locked, save_seen
from .sources.registry import file_suffixes

PROCESSED, FAILED = "processed", "failed"

log = logging.getLogger(__name__)


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
    kind = entry_kind(st.st_mode)
    if kind:
        return _fail(inbox, path, f"{name}: {kind}, not a file; it was not read. Only files "
                     "copied into the inbox are billed (a link is filed as a link)", now)
    if st.st_size == 0:
        return _fail(inbox, path, f"{name}: the file is empty (0 bytes)", now)
    if not name.lower().endswith(file_suffixes()):
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
        seen = load_seen(inbox)
        before = dict(seen)
        ready = scan(inbox, seen, now, settle)
        save_seen(inbox, seen, before)
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
        seen = load_seen(inbox)
        before = dict(seen)
        ready = scan(inbox, seen, now, settle)
        if not ready:
            save_seen(inbox, seen, before)
        return len(ready), len(seen) - len(ready)


# -- billing without Prefect ---------------------------------------------------------------------

def local_biller(config, outbox: Path, language: str | None = None, store=None) -> Bill:
    """Bill without Prefect (tests); ``config`` is a folder or a loaded ``Config``. Each file
    is a run of the pipeline (flows.pipeline) against the state ``store`` (orders billed
    already are not billed again), or without one against a temporary store of its own. A
    bad configuration fails the poll, not the files: they wait in the inbox until it is
    fixed."""
    import tempfile

    from . import stages, pipeline
    from .config import Config, load_config
    try:
        stages.check_validation_enabled()
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
        return str(outbox / stages.file_name(cfg, pipeline.params(request, cfg), result.run_id))

    return bill
