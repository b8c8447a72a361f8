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
    """Link ``data_path`` to ``final`` without overwriting; True if identical bytes were there."""
    with open(data_path, "rb+") as f:
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(data_path, final)
    except FileExistsError:
        if sha256_file(final) == sha256_file(data_path):
            return True
        raise DeliveryError(f"{final}: a different file with this name is already in the outbox; "
                            "it is never overwritten (move it away if it is wrong)") from None
    finally:
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
    try:
        os.replace(staged, tmp) if staged.parent == outbox else _copy(staged, tmp)
        existed = _place(tmp, final)
    except OSError as err:
        # a half-written copy must not stay in the outbox; the final name only ever points at
        # a complete, fsynced file
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
