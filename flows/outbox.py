"""Deliver a workbook into the outbox whole or not at all (DESIGN.md §7).

The file is written beside its final name, flushed and fsynced, then linked to the final name
(which fails if that name exists: a file is never overwritten), and the folder is fsynced.
The manifest follows the same way and names the workbook's sha256, so a reader that sees the
manifest knows the workbook is complete. Delivering the same bytes again is a no-op; different
bytes under an existing name is an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path


from .errors import DeliveryError, OutboxUnwritable, from_os_error  # noqa: F401 - flows.errors


@dataclass(frozen=True)
class Delivery:
    workbook: Path
    manifest: Path
    sha256: str
    already_there: bool


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make a rename or link in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _place(data_path: Path, final: Path) -> bool:
    """Link ``data_path`` to ``final`` without overwriting; True if identical bytes were there.
    ``data_path`` is gone afterwards, except when the link failed for another reason (a full
    disk): then the caller decides what becomes of it."""
    with open(data_path, "rb+") as f:
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(data_path, final)
    except FileExistsError:
        same = sha256_file(final) == sha256_file(data_path)
        data_path.unlink(missing_ok=True)
        if same:
            return True
        raise DeliveryError(f"{final}: a different file with this name is already in the outbox; "
                            "it is never overwritten (move it away if it is wrong)") from None
    data_path.unlink(missing_ok=True)
    fsync_dir(final.parent)
    return False


def deliver(staged: Path, outbox: Path, name: str, manifest: dict) -> Delivery:
    """Move the staged workbook ``staged`` into ``outbox`` as ``name`` with its manifest."""
    try:
        outbox.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise from_os_error(err, outbox, "cannot create the outbox folder",
                            OutboxUnwritable) from None
    digest = sha256_file(staged)
    final = outbox / name
    tmp = outbox / f".{name}.{os.getpid()}.part"
    moved = False
    try:
        if staged.parent == outbox:
            os.replace(staged, tmp)
            moved = True
        else:
            _copy(staged, tmp)
        existed = _place(tmp, final)
    except OSError as err:
        # a half-written copy must not stay in the outbox; the final name only ever points at
        # a complete, fsynced file. A staged file moved aside goes back: a committed final run
        # is finished from it by the next run.
        try:
            if moved and tmp.exists():
                os.replace(tmp, staged)
        finally:
            tmp.unlink(missing_ok=True)
        raise from_os_error(err, final, "cannot be written to the outbox",
                            OutboxUnwritable) from None
    body = json.dumps({**manifest, "file": name, "sha256": digest}, indent=2, sort_keys=True,
                      ensure_ascii=False).encode("utf-8") + b"\n"
    man_final = outbox / (Path(name).stem + ".manifest.json")
    man_tmp = outbox / f".{man_final.name}.{os.getpid()}.part"
    try:
        man_tmp.write_bytes(body)
        man_existed = _place(man_tmp, man_final)
    except OSError as err:
        man_tmp.unlink(missing_ok=True)
        raise from_os_error(err, man_final, "cannot be written to the outbox",
                            OutboxUnwritable) from None
    return Delivery(final, man_final, digest, existed and man_existed)


def _copy(src: Path, dst: Path) -> None:
    with open(src, "rb") as a, open(dst, "wb") as b:
        for block in iter(lambda: a.read(1 << 20), b""):
            b.write(block)


def manifest_name(name: str) -> str:
    return Path(name).stem + ".manifest.json"


def write_manifest(outbox: Path, name: str, digest: str, manifest: dict) -> tuple[Path, bool]:
    """Place the manifest of workbook ``name`` (sha256 ``digest``); True if it was there."""
    body = json.dumps({**manifest, "file": name, "sha256": digest}, indent=2, sort_keys=True,
                      ensure_ascii=False).encode("utf-8") + b"\n"
    final = outbox / manifest_name(name)
    tmp = outbox / f".{final.name}.{os.getpid()}.part"
    try:
        tmp.write_bytes(body)
        return final, _place(tmp, final)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise from_os_error(err, final, "cannot be written to the outbox",
                            OutboxUnwritable) from None


# -- staged files: named for their writer, swept when nobody owns them ------------------------

#: a staged file no pending run owns is removed once it is this old, whoever wrote it (a
#: writer on another host sharing the outbox cannot be asked whether it still lives)
STALE_SECONDS = 3600.0

_WRITER = re.compile(r"\.(\d+)@([^/]*)\.(pending|part)$")


def writer_tag() -> str:
    """``<pid>@<host>``: makes a staged name unique per process (two identical runs started
    together never write the same file) and tells a later run whether its writer lives."""
    return f"{os.getpid()}@{socket.gethostname()}"


def staged_path(outbox: Path, name: str) -> Path:
    return outbox / f".{name}.{writer_tag()}.pending"


def _writer_alive(pid: int, host: str) -> bool | None:
    """True or False for a writer on this host; None when it cannot be known (another host)."""
    if host != socket.gethostname():
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user: it lives
        return True
    return True


def stale_staged(outbox: Path, owned: set[str], now: float | None = None,
                 grace: float = STALE_SECONDS) -> list[tuple[Path, str]]:
    """Staged or half-written entries of ``outbox`` (``.*.pending``, ``.*.part``) that no
    pending run owns (``owned``: their paths) and no living writer will finish: their writer
    process on this host is gone, or they are older than ``grace`` seconds. With the reason."""
    now = time.time() if now is None else now
    out = []
    try:
        entries = list(os.scandir(outbox))
    except FileNotFoundError:
        return []
    for entry in entries:
        name = entry.name
        if not name.startswith(".") or not name.endswith((".pending", ".part")):
            continue
        path = outbox / name
        if str(path) in owned or str(path.resolve()) in owned:
            continue
        m = _WRITER.search(name)
        alive = _writer_alive(int(m.group(1)), m.group(2)) if m else None
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        if alive is False:
            out.append((path, f"its writer (process {m.group(1)}) is gone"))
        elif alive is None and age >= grace:
            out.append((path, f"untouched for {int(age // 60)} minutes"))
    return sorted(out)


def remove_staged(path: Path) -> None:
    """Remove a staged workbook, manifest or QR-bill folder; a missing one is fine."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass
