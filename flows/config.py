"""Load the company settings and reference tables from a configuration folder.

``--config`` names a folder holding ``company.toml`` and the CSV tables (or the TOML file
itself, the tables beside it). Every problem is reported with file, row and column.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from schemas.reference import REQUIRED_TABLES, TABLES
from schemas.settings import SettingError, Settings, parse_settings
from transforms.reference import (SOURCE_ROWS, ReferenceError, TableProblem, cross_check,
                                  parse_table)


class ConfigError(Exception):
    """The configuration cannot be used; the message lists every problem found."""


@dataclass(frozen=True)
class Config:
    settings: Settings
    tables: dict[str, pd.DataFrame]
    folder: Path
    checksum: str  # sha256 over the files read, for the run id


def read_csv_text(path: Path) -> pd.DataFrame:
    try:
        # blank lines are kept (and skipped later) so that row numbers match the file
        return pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig",
                           skipinitialspace=False, skip_blank_lines=False)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as 'CSV UTF-8'") from None
    except pd.errors.ParserError as err:
        raise ConfigError(f"{path}: not readable as CSV: {err}") from None
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{path}: the file is empty") from None


def load_config(location: str | Path) -> Config:
    path = Path(location)
    folder, toml_path = (path.parent, path) if path.is_file() else (path, path / "company.toml")
    if not toml_path.exists():
        raise ConfigError(f"{toml_path}: no such file (the configuration folder needs "
                          "company.toml)")
    digest = hashlib.sha256()
    raw = toml_path.read_bytes()
    digest.update(raw)
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{toml_path}: not valid TOML: {err}") from None
    if "company" not in doc:
        raise ConfigError(f"{toml_path}: no [company] table")
    try:
        settings = parse_settings(doc["company"])
    except SettingError as err:
        raise ConfigError(f"{toml_path} [company] {err}") from None
    tables, files, problems = {}, {}, []
    for name in TABLES:
        file = folder / f"{name}.csv"
        files[name] = str(file)
        if not file.exists():
            if name in REQUIRED_TABLES:
                problems.append(TableProblem(str(file), None, None, "no such file"))
            continue
        data = file.read_bytes()
        digest.update(name.encode() + b"\0" + data)
        try:
            tables[name] = parse_table(name, read_csv_text(file), str(file))
        except ReferenceError as err:
            problems += err.problems
    if problems:
        raise ConfigError("\n".join(str(p) for p in problems))
    try:
        cross_check(tables, settings, files)
    except ReferenceError as err:
        raise ConfigError(str(err)) from None
    for table in tables.values():  # row numbers were only needed for the messages above
        table.attrs.pop(SOURCE_ROWS, None)
    return Config(settings, tables, folder, digest.hexdigest())
