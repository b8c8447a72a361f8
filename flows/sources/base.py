"""What every booking-order source provides, and how it fails.

A source reads one place (a file, later a database) into a frame of *text* with the canonical
column ids plus ``source`` and ``source_row``; parsing and validation are the same for all
sources. A source that is unusable as a whole raises :class:`SourceError` with a message a
user can act on; a bad row is never an exception. The members every source module offers
are the Protocol :class:`flows.sources.registry.Source`, checked when the registry is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import SourceError  # noqa: F401 - defined with every error in flows.errors



@dataclass(frozen=True)
class Extract:
    frame: pd.DataFrame  # text cells, canonical ids, source, source_row
    name: str  # what the user named (file name)
    checksum: str  # sha256 of the bytes read
    rows: int
    ignored_columns: tuple[str, ...] = ()
    location: str | None = None  # where it was read from, password hidden (set by stages.extract)
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


def file_size(location: str) -> int:
    """The size of a source file, 0 for one that is missing (read_file says so)."""
    try:
        return Path(location).stat().st_size
    except OSError:
        return 0


@dataclass(frozen=True)
class Limits:
    """How much work one source file may cause, so that a hostile or broken file (a zip bomb,
    a runaway export) is refused in seconds instead of filling the memory. Each is set by an
    environment variable (:data:`LIMIT_VARIABLES`); the defaults hold the benchmark's
    1M-row CSV (about 460 MB) and an xlsx of Excel's 1,048,576 rows with plenty to spare."""
    csv_mb: float = 2048  # size of a CSV file
    xlsx_inflated_mb: float = 4096  # all members of an xlsx, inflated
    xlsx_ratio: float = 200  # inflated / compressed, per member (OpenOlat's sheets: about 8)
    xlsx_cells: int = 64_000_000  # cells of one sheet (1,048,576 rows x 61 columns)

    @classmethod
    def from_env(cls, env=None) -> "Limits":
        env = os.environ if env is None else env
        values = {}
        for field_name, var in LIMIT_VARIABLES.items():
            text = env.get(var, "").strip()
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                value = -1.0
            if not value > 0 or value != value or value == float("inf"):
                raise SourceError(var, f"expected a positive number, got {text!r}")
            values[field_name] = int(value) if field_name == "xlsx_cells" else value
        return cls(**values)


#: the environment variable that sets each limit
LIMIT_VARIABLES = {"csv_mb": "BILLING_MAX_CSV_MB", "xlsx_inflated_mb": "BILLING_MAX_XLSX_MB",
                   "xlsx_ratio": "BILLING_MAX_XLSX_RATIO", "xlsx_cells": "BILLING_MAX_XLSX_CELLS"}


def over_limit(name: str, what: str, field_name: str, limit) -> SourceError:
    """The message for a file beyond a limit: what, which limit, and how to raise it."""
    var = LIMIT_VARIABLES[field_name]
    shown = f"{limit:g}" if isinstance(limit, float) else f"{limit}"
    return SourceError(name, f"{what}; refused before reading it (limit {var}={shown}). If the "
                       f"file is legitimately this large, set {var} higher and run again")
