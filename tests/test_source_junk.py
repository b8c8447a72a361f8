"""Every registered source fed junk: each read returns an Extract or raises SourceError that
names what was read, never any other exception (a crash would be reported as a bug, exit 70,
instead of telling the user which file is wrong).

Generated over the registry (flows/sources/registry.py): a file source gets every kind of junk
file under each of its endings, the URL source junk URLs and SQLite databases with junk in
OpenOlat's tables, so a new source is covered by adding it to the registry.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import sqlite3
import string
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE, SAMPLE_ORDERS, examples
from flows.sources import registry
from flows.sources.base import Extract, SourceError

REGISTRY = registry.registry()
FILE_KINDS = [k for k, m in REGISTRY.kinds.items() if not m.READS_URLS]
URL_KINDS = [k for k, m in REGISTRY.kinds.items() if m.READS_URLS]
#: each file source under each of its endings; the default one also under an ending nobody reads
FILE_CASES = [(k, s) for k in FILE_KINDS
              for s in REGISTRY.kinds[k].SUFFIXES + ((".txt",) if k == REGISTRY.default else ())]
REAL_FILES = [SAMPLE_ORDERS, SAMPLE / "booking_orders_en.csv", *sorted(SAMPLE.glob("*.xlsx"))]
HEADER = SAMPLE_ORDERS.read_bytes().splitlines(keepends=True)[0]
SETTINGS = settings(max_examples=examples(0.5), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def read_or_refuse(kind: str, location: str, named: str) -> None:
    """The one outcome allowed: an Extract, or a SourceError whose message names ``named``."""
    try:
        ex = REGISTRY.kinds[kind].read(location)
    except SourceError as err:
        assert named in str(err), f"{err} does not name {named}"
        return
    assert isinstance(ex, Extract)
    assert ex.rows == len(ex.frame)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def truncated(data: st.DataObject) -> bytes:
    whole = data.draw(st.sampled_from(REAL_FILES)).read_bytes()
    return whole[:data.draw(st.integers(0, len(whole)))]


def reencoded(data: st.DataObject) -> bytes:
    text = SAMPLE_ORDERS.read_text(encoding="utf-8")[:4000]
    encoding = data.draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1",
                                          "cp1252", "cp437", "utf-7"]))
    return text.encode(encoding, errors="replace")


def zip_not_xlsx(data: st.DataObject) -> bytes:
    names = st.sampled_from(["[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml",
                             "xl/_rels/workbook.xml.rels", "_rels/.rels", "mimetype", "a.txt"])
    members = data.draw(st.dictionaries(names, st.binary(max_size=200), max_size=5))
    return _zip(members)


def header_only(data: st.DataObject) -> bytes:
    return HEADER if data.draw(st.booleans()) else HEADER.rstrip(b"\r\n")


def many_fields(data: st.DataObject) -> bytes:
    n = data.draw(st.integers(1_000, 200_000))
    sep = data.draw(st.sampled_from([b",", b";", b"\t"]))
    row = sep.join([b"x"] * n) + b"\n"
    return data.draw(st.sampled_from([row, HEADER + row, row + HEADER]))


def random_bytes(data: st.DataObject) -> bytes:
    return data.draw(st.binary(max_size=2000))


def odd_text(data: st.DataObject) -> bytes:
    """Unicode anywhere (surrogates excluded), with separators and quotes likely."""
    alphabet = st.one_of(st.characters(blacklist_categories=("Cs",)),
                         st.sampled_from(list(',;"\n\r\t\ufeff\u00a0')))
    body = data.draw(st.text(alphabet, max_size=400))
    return (HEADER if data.draw(st.booleans()) else b"") + body.encode("utf-8")


JUNK = {f.__name__: f for f in (random_bytes, truncated, reencoded, zip_not_xlsx, header_only,
                                many_fields, odd_text)}


@pytest.mark.parametrize("kind, suffix", FILE_CASES)
@pytest.mark.parametrize("junk", JUNK)
@SETTINGS
@given(data=st.data())
def test_a_file_source_reads_or_refuses_junk(tmp_path, kind, suffix, junk, data):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(JUNK[junk](data))
    read_or_refuse(kind, str(path), path.name)


@pytest.mark.parametrize("kind, suffix", FILE_CASES)
def test_a_file_source_refuses_an_empty_file_a_folder_and_no_file(tmp_path, kind, suffix):
    empty = tmp_path / f"empty{suffix}"
    empty.touch()
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    for path in (empty, folder, tmp_path / f"missing{suffix}"):
        with pytest.raises(SourceError):
            REGISTRY.kinds[kind].read(str(path))
        read_or_refuse(kind, str(path), path.name)


# -- the URL source --------------------------------------------------------------------------

#: schemes that would reach for a server (no network in tests), or SQLite, which the junk
#: database files below cover (a junk path could create a file where the test runs)
SERVERS = re.compile(r"^(postgres|mysql|mariadb|oracle|mssql|cockroach|sqlite)", re.I)
SCHEMES = st.text(string.ascii_letters + string.digits + "+-.", min_size=1, max_size=12).filter(
    lambda s: not SERVERS.match(s))


@pytest.mark.parametrize("kind", URL_KINDS)
@SETTINGS
@given(scheme=SCHEMES, rest=st.text(max_size=60))
def test_the_url_source_refuses_junk_urls(kind, scheme, rest):
    with pytest.raises(SourceError):
        REGISTRY.kinds[kind].read(f"{scheme}://{rest}")


@pytest.mark.parametrize("kind", URL_KINDS)
@pytest.mark.parametrize("junk", ["random_bytes", "truncated", "zip_not_xlsx"])
@SETTINGS
@given(data=st.data())
def test_the_url_source_refuses_a_database_file_that_is_junk(tmp_path, kind, junk, data):
    path = tmp_path / "junk.db"
    path.write_bytes(JUNK[junk](data))
    read_or_refuse(kind, f"sqlite:///{path}", "junk.db")


OPENOLAT_DDL = "\n".join(
    line for line in (SAMPLE / "openolat_schema" / "sqlite.sql").read_text(encoding="utf-8")
    .splitlines() if not line.startswith("--"))
TABLES = re.findall(r"CREATE TABLE (\w+) \(", OPENOLAT_DDL)
CELLS = st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True),
                  st.text(max_size=30), st.binary(max_size=20),
                  st.sampled_from(["", "null", "2026-13-45", "12.5", "CHF 10", "PAYED",
                                   "invoice.method", "1e400", "NaN"]))


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _keys(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})") if row[5]}


@pytest.mark.parametrize("kind", URL_KINDS)
@SETTINGS
@given(data=st.data())
def test_the_url_source_reads_or_refuses_junk_in_openolats_tables(tmp_path_factory, kind, data):
    """OpenOlat's schema, some tables left out or with a column missing, junk in every cell
    (SQLite keeps any value in any column)."""
    path = tmp_path_factory.mktemp("junkdb") / "openolat.db"
    db = sqlite3.connect(path)
    keep = data.draw(st.lists(st.sampled_from(TABLES), unique=True, min_size=len(TABLES) - 2))
    for statement in OPENOLAT_DDL.split(";"):
        found = re.search(r"CREATE TABLE (\w+)", statement)
        if found and found.group(1) in keep:
            db.execute(statement.replace("NOT NULL", ""))
    for table in keep:
        columns = _columns(db, table)
        others = [c for c in columns if c not in _keys(db, table)]  # SQLite keeps its keys
        if others and data.draw(st.booleans()):  # a column OpenOlat 20 has, missing
            with contextlib.suppress(sqlite3.OperationalError):  # indexed: it stays
                db.execute(f"ALTER TABLE {table} DROP COLUMN "
                           f"{data.draw(st.sampled_from(others))}")
            columns = _columns(db, table)
        for _ in range(data.draw(st.integers(0, 3))):
            # small ids make the joins meet; the rest of the row is junk
            keys = _keys(db, table)
            row = [data.draw(st.integers(1, 3)) if c in keys or c.startswith("fk_")
                   else data.draw(CELLS) for c in columns]
            db.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES "
                       f"({', '.join('?' * len(columns))})", row)
    db.commit()
    db.close()
    read_or_refuse(kind, f"sqlite:///{path}", "openolat.db")


def _load_sample(url: str) -> None:
    import importlib.util
    spec = importlib.util.spec_from_file_location("load_openolat_db",
                                                  SAMPLE / "load_openolat_db.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look themselves up there
    spec.loader.exec_module(sys.modules[spec.name])
    sys.modules[spec.name].load(url)


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("openolat") / "sample.db"
    _load_sample(f"sqlite:///{path}")
    return path


@pytest.mark.parametrize("kind", URL_KINDS)
@SETTINGS
@given(data=st.data())
def test_the_url_source_reads_or_refuses_junk_cells_in_real_orders(tmp_path_factory, sample_db,
                                                                   kind, data):
    """The sample's orders in OpenOlat's tables, some cells overwritten with junk: read (the
    rows then parsed and judged like any other) or refused, never a crash."""
    path = tmp_path_factory.mktemp("junkcells") / "openolat.db"
    shutil.copyfile(sample_db, path)
    db = sqlite3.connect(path)
    for _ in range(data.draw(st.integers(1, 6))):
        table = data.draw(st.sampled_from(TABLES))
        others = [c for c in _columns(db, table) if c not in _keys(db, table)]
        if not others:
            continue
        column = data.draw(st.sampled_from(others))
        db.execute(f"UPDATE OR IGNORE {table} SET {column} = ? WHERE rowid % 7 = ?",
                   (data.draw(CELLS), data.draw(st.integers(0, 6))))
    db.commit()
    db.close()
    read_or_refuse(kind, f"sqlite:///{path}", "openolat.db")


def test_the_junk_covers_every_registered_source():
    assert {k for k, _ in FILE_CASES} | set(URL_KINDS) == set(registry.SOURCES)
