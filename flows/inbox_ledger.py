"""What the inbox remembers in its ``.billing-export/`` folder: the ledger of every file
billed (by sha256), the sizes the previous poll saw, and the lock that lets one poll at a
time take files (DESIGN.md §7).

The ledger is written atomically before a change counts, so a poll that dies anywhere finds
it as it was or as it became, never half written; an unreadable ledger stops the poll, since
without it a file could be billed twice.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from .errors import InputError
from .inbox_files import write_atomic

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows; one poller per inbox is then on you
    fcntl = None

STATE = ".billing-export"


class InboxError(InputError):
    """The poll as a whole cannot run (no inbox, unreadable ledger, bad configuration); no file
    was touched."""


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


def load_seen(inbox: Path) -> dict:
    try:
        return json.loads(_seen_path(inbox).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # only a hint: files wait one more poll


def save_seen(inbox: Path, seen: dict, before: dict) -> None:
    if seen != before:
        write_atomic(_seen_path(inbox), json.dumps(seen, sort_keys=True).encode("utf-8"))
