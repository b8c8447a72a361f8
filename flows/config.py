"""Load the company settings and reference tables from a configuration folder.

``--config`` names a folder holding ``company.toml`` and the CSV tables (or the TOML file
itself, the tables beside it). Every problem is reported with file, row and column.
"""

from __future__ import annotations

import hashlib
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from schemas.reference import REQUIRED_TABLES, TABLES
from schemas.settings import SettingError, Settings, parse_settings
from transforms.reference import (SOURCE_ROWS, ReferenceError, TableProblem, cross_check,
                                  parse_table)


from .errors import ConfigError  # noqa: E402,F401 - defined with every error in flows.errors


@dataclass(frozen=True)
class Config:
    settings: Settings
    tables: dict[str, pd.DataFrame]
    folder: Path
    checksum: str  # sha256 over the files read, for the run id


def read_csv_text(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """Every cell of a table as text, blank lines kept (and skipped later) so that row
    numbers match the file. ``data``: the file's bytes, when the caller has read them."""
    data = path.read_bytes() if data is None else data
    fast = _read_plain_csv(data)
    if fast is not None:
        return fast
    try:
        return pd.read_csv(io.BytesIO(data), dtype="str", keep_default_na=False,
                           encoding="utf-8-sig", skipinitialspace=False,
                           skip_blank_lines=False)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as 'CSV UTF-8'") from None
    except pd.errors.ParserError as err:
        raise ConfigError(f"{path}: not readable as CSV: {err}") from None
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{path}: the file is empty") from None


_TEXT = pd.StringDtype(na_value=float("nan"))  # what read_csv(dtype="str") gives


def _read_plain_csv(data: bytes) -> pd.DataFrame | None:
    """The table of a CSV file without quotes whose every row has the header's fields, read
    by Arrow (a fourth of pandas' time on the 20,000 rows of an exchange-rate table), or None
    for any other file: pandas reads that one, with its messages. Without quotes a comma
    always ends a field and a line break a row, so both readers see the same cells
    (tests/test_reference_tables.py holds them to it)."""
    if b'"' in data:
        return None
    head = data.split(b"\n", 1)[0].split(b"\r", 1)[0]
    try:
        header = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    names = header.split(",")
    if len(set(names)) != len(names) or "" in names or "\ufeff" in header:
        return None  # pandas renames them; and reads a second byte order mark as a first
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(data), read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(quote_char=False, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                null_values=[]))
    except (pa.ArrowInvalid, pa.ArrowKeyError):
        return None
    if table.column_names != names:
        return None
    return table.to_pandas(types_mapper={pa.string(): _TEXT}.get)


def load_config(location: str | Path, tables_from: Path | None = None) -> Config:
    """One company's configuration. ``tables_from`` (a group's folder) holds the tables the
    company's own folder does not have, so a group shares its tax codes and rates."""
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
        if not file.exists() and tables_from is not None and (tables_from / file.name).exists():
            file = tables_from / file.name
        files[name] = str(file)
        if not file.exists():
            if name in REQUIRED_TABLES:
                problems.append(TableProblem(str(file), None, None, "no such file"))
            continue
        data = file.read_bytes()
        digest.update(name.encode() + b"\0" + data)
        try:
            tables[name] = parse_table(name, read_csv_text(file, data), str(file))
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


@dataclass(frozen=True)
class Member:
    """A company of a group and the OpenOlat organisations whose products it bills."""
    config: Config
    product_orgs: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    """The financial companies one run bills: one workbook each. A single company's
    configuration is a group of one that bills every row."""
    name: str
    members: tuple[Member, ...]
    folder: Path
    single: bool  # a plain company configuration, not a group.toml
    toml: Path | None = None  # the group.toml

    @property
    def org_companies(self) -> dict[str, str]:
        return {org: m.config.settings.code for m in self.members for org in m.product_orgs}

    def member(self, code: str) -> Member:
        for m in self.members:
            if m.config.settings.code == code:
                return m
        known = ", ".join(m.config.settings.code for m in self.members)
        raise ConfigError(f"{self.folder}: no company {code!r} in this configuration "
                          f"(companies: {known})")


def is_group(location: str | Path) -> bool:
    path = Path(location)
    if path.is_dir():
        return not (path / "company.toml").exists() and (path / "group.toml").exists()
    return path.suffix == ".toml" and path.exists() and _has_table(path, "group")


def _has_table(path: Path, name: str) -> bool:
    try:
        return name in tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return False


def load_group(location: str | Path) -> Group:
    """A group configuration (``group.toml``), or one company's configuration as a group of
    one. group.toml lists each company's folder and the product organisations it bills::

        [group]
        name = "Bildungsgruppe Beispiel"
        [[group.company]]
        config = "."                      # folder with company.toml, relative to group.toml
        product_orgs = ["ORG-10", "ORG-30"]
    """
    if not is_group(location):
        config = load_config(location)
        return Group(config.settings.name, (Member(config, ()),), config.folder, True)
    path = Path(location)
    toml_path = path / "group.toml" if path.is_dir() else path
    folder = toml_path.parent
    try:
        doc = tomllib.loads(toml_path.read_text(encoding="utf-8"))["group"]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{toml_path}: not valid TOML: {err}") from None
    where = f"{toml_path} [group]"
    unknown = sorted(set(doc) - {"name", "company"})
    if unknown:
        raise ConfigError(f"{where} {unknown[0]}: unknown setting (known: name, company)")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} name: expected a text, e.g. name = \"Bildungsgruppe\"")
    entries = doc.get("company")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: no [[group.company]] entries (each names a company folder "
                          "and its product_orgs)")
    members, seen_orgs, seen_codes = [], {}, set()
    for i, entry in enumerate(entries, start=1):
        at = f"{toml_path} [[group.company]] #{i}"
        if not isinstance(entry, dict) or set(entry) - {"config", "product_orgs"}:
            raise ConfigError(f"{at}: expected config = \"folder\" and product_orgs = [...]")
        cfg_path = entry.get("config")
        orgs = entry.get("product_orgs")
        if not isinstance(cfg_path, str) or not cfg_path.strip():
            raise ConfigError(f"{at} config: expected the company's folder, e.g. \"zuerich\"")
        if (not isinstance(orgs, list) or not orgs
                or not all(isinstance(o, str) and o.strip() for o in orgs)):
            raise ConfigError(f"{at} product_orgs: expected a list of OpenOlat organisation ids "
                              "(\"Org ID (Produkt)\"), e.g. [\"ORG-10\"]")
        try:
            config = load_config(folder / cfg_path, tables_from=folder)
        except ConfigError as err:
            raise ConfigError(f"{at}: {err}") from None
        code = config.settings.code
        if code in seen_codes:
            raise ConfigError(f"{at}: company {code} is listed twice")
        seen_codes.add(code)
        for org in (o.strip() for o in orgs):
            if org in seen_orgs:
                raise ConfigError(f"{at} product_orgs: {org} is billed by company "
                                  f"{seen_orgs[org]} already; an organisation belongs to one "
                                  "company")
            seen_orgs[org] = code
        members.append(Member(config, tuple(o.strip() for o in orgs)))
    return Group(name.strip(), tuple(members), folder, False, toml_path)
