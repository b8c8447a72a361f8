"""The state store (DESIGN.md §7): SQLite file by default, PostgreSQL by URL, self-migrating.

Every test that takes ``store_url`` runs twice: against a SQLite file and against the machine's
PostgreSQL. For PostgreSQL one database is created per test session (through a psycopg
connection to the ``postgres`` database, autocommit) and dropped at its end; each test gets a
fresh schema in it, so every test starts from an empty store. When the server is not
reachable the PostgreSQL variants are skipped with the reason — or fail, when ``CI`` is set or
``BILLING_REQUIRE_DB_SERVERS=1`` (a CI job must not pass by skipping).

The helpers here (``postgres_database``, ``store_location``) are shared with
test_lifecycle.py and test_exactly_once.py; the session database is cached on the pytest
config, so all three modules use the same one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from flows import state_store
from flows.state_store import StateError, open_store

#: Admin connection to the server (its ``postgres`` database); override for another server.
POSTGRES_ADMIN_URL = os.environ.get("BILLING_TEST_POSTGRES_URL",
                                    "postgresql://postgres@127.0.0.1:5432/postgres")
_CACHE = "_billing_export_test_postgres"
TABLES = {"schema_version", "runs", "invoices", "billed_orders", "number_series", "deliveries"}


def db_servers_required() -> bool:
    """In CI (``CI`` set) or with ``BILLING_REQUIRE_DB_SERVERS=1`` a missing server fails."""
    ci = os.environ.get("CI")
    return (ci is not None and ci.strip().lower() not in ("0", "false", "no")) or \
        os.environ.get("BILLING_REQUIRE_DB_SERVERS") == "1"


def _unavailable(reason: str):
    if db_servers_required():
        pytest.fail(f"PostgreSQL is required here (CI or BILLING_REQUIRE_DB_SERVERS=1) but "
                    f"{reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not reachable ({reason}); start it or set "
                "BILLING_TEST_POSTGRES_URL")


def _libpq(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def postgres_database(config) -> str:
    """URL of this session's PostgreSQL test database, created on first use, dropped when the
    session ends. Skips (or fails, see ``db_servers_required``) when there is no server."""
    cached = getattr(config, _CACHE, None)
    if cached is not None:
        ok, value = cached
        if not ok:
            _unavailable(value)
        return value
    try:
        import psycopg
    except ImportError as err:
        setattr(config, _CACHE, (False, f"psycopg is not installed: {err}"))
        _unavailable(getattr(config, _CACHE)[1])
    admin = _libpq(POSTGRES_ADMIN_URL)
    name = f"billing_export_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as err:
        reason = f"{_libpq(POSTGRES_ADMIN_URL).split('@')[-1]}: {str(err).strip()}"
        setattr(config, _CACHE, (False, reason))
        _unavailable(reason)

    def drop():
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    config.add_cleanup(drop)
    url = _libpq(POSTGRES_ADMIN_URL, name)
    setattr(config, _CACHE, (True, url))
    return url


def fresh_postgres_store(config) -> str:
    """A state store URL on a new, empty schema of the session database."""
    import psycopg
    url = postgres_database(config)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{url}?options=-csearch_path%3D{schema}"


def store_location(request, tmp_path: Path) -> str:
    """For a ``store_url`` fixture parametrized over ["sqlite", "postgresql"]."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "billing-state.sqlite")
    return fresh_postgres_store(request.config)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    return store_location(request, tmp_path)


@pytest.fixture
def opened():
    """Open stores through this and their connections are closed after the test."""
    stores = []

    def _open(url):
        store = open_store(url)
        stores.append(store)
        return store

    yield _open
    for store in stores:
        store.engine.dispose()


def _versions(store) -> list[int]:
    with store.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT version FROM schema_version "
                                                "ORDER BY version"))]


def _tables(store) -> set[str]:
    """The store's tables as SQLAlchemy's inspector sees them (a second, independent look)."""
    engine = create_engine(store.url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- where the store lives --------------------------------------------------------------------

def test_a_path_is_a_sqlite_file(tmp_path, opened):
    where = tmp_path / "not" / "yet" / "there" / "state.sqlite"
    store = opened(where)
    assert store.dialect == "sqlite"
    assert store.url == f"sqlite:///{where.resolve()}"
    assert where.is_file() and where.stat().st_size > 0


def test_a_postgresql_url_uses_psycopg():
    assert state_store.normalise_url("postgresql://u@db.example/billing") == \
        "postgresql+psycopg://u@db.example/billing"
    assert state_store.normalise_url("postgres://u@db.example/billing") == \
        "postgresql+psycopg://u@db.example/billing"


def test_store_url_opens_the_right_engine(store_url, opened):
    store = opened(store_url)
    assert store.dialect == ("sqlite" if "://" not in store_url else "postgresql")
    with store.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_unreachable_server_is_a_state_error_without_password():
    with pytest.raises(StateError) as err:
        open_store("postgresql://billing:s3cret-pw@127.0.0.1:1/billing")
    assert "s3cret-pw" not in str(err.value)
    assert "127.0.0.1" in str(err.value)


# -- migrations -------------------------------------------------------------------------------

def test_fresh_store_migrates_to_version_1(store_url, opened):
    store = opened(store_url)
    assert _versions(store) == [1]
    assert TABLES <= set(_tables(store))


def test_opening_twice_does_not_rerun_migrations(store_url, opened):
    first = opened(store_url)
    with first.locked("100") as conn:
        state_store.record_run(conn, "RUN00001", "100", "final", "pending", "2026-10-30",
                               {"outbox": "x"})
        assert state_store.next_numbers(conn, "100", "RE", 2026, 3)[-1] == "RE-2026-000003"
    second = opened(store_url)  # would fail on CREATE TABLE runs if 0001 ran again
    assert _versions(second) == [1]
    assert state_store.migrate(second) == 1
    assert _versions(second) == [1]
    with second.connect() as conn:
        assert state_store.run_record(conn, "RUN00001")["status"] == "pending"
        assert state_store.next_numbers(conn, "100", "RE", 2026, 1) == ["RE-2026-000004"]


def test_a_new_migration_runs_once_on_an_existing_store(store_url, opened, tmp_path,
                                                        monkeypatch):
    opened(store_url)  # version 1
    folder = tmp_path / "migrations"
    folder.mkdir()
    shutil.copy(state_store.MIGRATIONS / "0001_initial.sql", folder)
    (folder / "0002_notes.sql").write_text(
        "-- a later version adds a table\nCREATE TABLE run_notes (run_id VARCHAR(32) NOT NULL, "
        "note TEXT NOT NULL);\nCREATE INDEX run_notes_run ON run_notes (run_id);\n",
        encoding="utf-8")
    monkeypatch.setattr(state_store, "MIGRATIONS", folder)
    upgraded = opened(store_url)
    assert _versions(upgraded) == [1, 2]
    assert "run_notes" in _tables(upgraded)
    again = opened(store_url)
    assert _versions(again) == [1, 2]


# -- the number series and the transaction ----------------------------------------------------

def test_numbers_are_gapless_and_only_committed_numbers_count(store_url, opened):
    store = opened(store_url)
    with store.locked("100") as conn:
        assert state_store.next_numbers(conn, "100", "RE", 2026, 2) == \
            ["RE-2026-000001", "RE-2026-000002"]
        assert state_store.next_numbers(conn, "100", "RE", 2026, 0) == []
    with pytest.raises(RuntimeError):
        with store.locked("100") as conn:
            assert state_store.next_numbers(conn, "100", "RE", 2026, 5)[0] == "RE-2026-000003"
            raise RuntimeError("the run dies before its commit")
    with store.locked("100") as conn:
        assert state_store.next_numbers(conn, "100", "RE", 2026, 1) == ["RE-2026-000003"]
        # another year and another company have their own series
        assert state_store.next_numbers(conn, "100", "RE", 2027, 1) == ["RE-2027-000001"]
        assert state_store.next_numbers(conn, "200", "RE", 2026, 1) == ["RE-2026-000001"]


def test_billed_orders_and_credit_marks(store_url, opened):
    import pandas as pd
    store = opened(store_url)
    rows = pd.DataFrame({"booking_number": ["1", "2"], "invoice_number": ["RE-1", "RE-1"],
                         "content_hash": ["a", "b"], "charge_type": ["price", "fee"],
                         "amount": [100, 5], "currency": ["CHF", "CHF"],
                         "booking_row": ["{}", "{}"]})
    with store.locked("100") as conn:
        state_store.record_run(conn, "R1", "100", "final", "pending", "2026-10-30", {})
        state_store.record_billed(conn, "100", "R1", rows)
        state_store.record_invoices(conn, "100", "R1", [{
            "invoice_number": "RE-1", "document_type": "invoice", "linked_invoice_number": None,
            "invoice_date": "2026-10-30", "currency": "CHF", "invoice_amount": 105,
            "data": {"invoice": {"document_type": "invoice"}, "lines": [], "taxes": []}}])
    with store.connect() as conn:
        billed = state_store.active_billed(conn, "100")
        assert sorted(billed["booking_number"]) == ["1", "2"]
        assert billed["amount"].astype(int).tolist() == [100, 5]
        assert state_store.invoice_data(conn, "100", ["RE-1"])["RE-1"]["status"] == "open"
        state_store.mark_credited(conn, "100", ["RE-1"])
    with store.connect() as conn:
        assert state_store.active_billed(conn, "100").empty
        assert state_store.invoice_data(conn, "100", ["RE-1"])["RE-1"]["status"] == "credited"
        state_store.mark_delivered(conn, "R1", "100_2026-10-30_R1.xlsx", "ab" * 32)
        state_store.mark_delivered(conn, "R1", "100_2026-10-30_R1.xlsx", "ab" * 32)
        assert conn.execute(text("SELECT COUNT(*) FROM deliveries")).scalar() == 1
        assert state_store.run_record(conn, "R1")["status"] == "delivered"
