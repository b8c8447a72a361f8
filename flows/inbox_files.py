"""What the inbox does to the files in it: which are ready (the settle rule), which are
regular files, and how they are written and moved, atomically and never overwriting
(DESIGN.md §7).

A file is ready once it was last modified at least the settle time ago and, if an earlier
poll saw it, its size and modification time are unchanged since, so a half-copied file is
never read. Nothing is followed: a symlink, FIFO or device is moved (a link as a link), never
opened. Nothing is overwritten: a second ``x.csv`` becomes ``x-1.csv``; a name that would
exceed the file system's limit (255 bytes) is shortened with a hash. Every write and move is
fsynced, file and folder.

>>> [ignored(n) for n in ("~$orders.xlsx", ".orders.csv", "orders.csv.part", "orders.csv")]
[True, True, True, False]
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from .outbox import fsync_dir

SETTLE_SECONDS = 2.0
SYSTEM_FILES = ("thumbs.db", "desktop.ini")  # written by Windows into shared folders


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



def entry_kind(mode: int) -> str | None:
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
