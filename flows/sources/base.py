"""What every booking-order source provides, and how it fails.

A source reads one place (a file, later a database) into a frame of *text* with the canonical
column ids plus ``source`` and ``source_row``; parsing and validation are the same for all
sources. A source that is unusable as a whole raises :class:`SourceError` with a message a
user can act on; a bad row is never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from ..errors import SourceError  # noqa: F401 - defined with every error in flows.errors



@dataclass(frozen=True)
class Extract:
    frame: pd.DataFrame  # text cells, canonical ids, source, source_row
    name: str  # what the user named (file name)
    checksum: str  # sha256 of the bytes read
    rows: int
    ignored_columns: tuple[str, ...] = ()
    location: str | None = None  # where it was read from, password hidden (set by job.extract)
    read_at: str | None = None  # UTC time the read began (ISO), for incremental database runs
    notes: tuple[str, ...] = ()  # what the source says about what it read (the run log shows it)


def read_file(location: str, kind: str) -> tuple[str, bytes]:
    """The bytes of a source file and the name to report it by; a missing file or a folder is
    a :class:`SourceError` saying so (``kind`` names what was expected, e.g. "a CSV file")."""
    path = Path(location)
    if not path.exists():
        raise SourceError(str(location), "no such file")
    if path.is_dir():
        raise SourceError(str(location), f"is a folder, not {kind}")
    return path.name, path.read_bytes()


class Source(Protocol):
    def __call__(self, location: str) -> Extract: ...
