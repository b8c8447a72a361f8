"""The state store: runs, billed booking orders, invoices, number series, deliveries (DESIGN §7).

SQLite file by default (Python's own sqlite3, flows/state_sqlite.py), PostgreSQL by URL
(SQLAlchemy), both spoken to in the same plain SQL. The schema migrates itself
at open from the ordered SQL files in ``flows/state_sql/`` (a ``schema_version`` table records
what ran). A final run holds one exclusive lock for the whole of its billing (SQLite ``BEGIN
IMMEDIATE``, PostgreSQL advisory lock), so two runs started together cannot take the same
number or bill the same order: the second waits, then sees what the first recorded. The lock
is one for the whole store, whatever the companies: a booking number is one booking of the
source for every company and configuration using the store, and a run of company 200 must see
what a run of company 100 is billing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:  # imported where used: `billing-export runs` needs neither pandas nor a driver
    import pandas as pd
    from .state_sqlite import Connection, Engine  # or their SQLAlchemy stand-ins below

MIGRATIONS = Path(__file__).resolve().parent / "state_sql"


from .errors import StateError, from_os_error  # noqa: E402,F401 - flows.errors decides


def text(sql: str) -> str:
    """The SQL of a statement. Both connections take it as it is: the SQLite file's
    (flows/state_sqlite.py, ``sqlite3`` itself) and SQLAlchemy's for PostgreSQL, which
    wraps it in its ``text()``. SQLAlchemy takes longer to import (0.2 s) than a small run
    takes to bill, so a run on a SQLite store never imports it."""
    return sql


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def normalise_url(location: str | Path) -> str:
    """A path means a SQLite file; ``postgresql://`` uses the psycopg 3 driver."""
    loc = str(location)
    if "://" not in loc:
        try:
            Path(loc).parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise from_os_error(err, Path(loc).parent, "cannot create the state store's "
                                "folder") from None
        return f"sqlite:///{Path(loc).resolve()}"
    if loc.startswith("postgresql://") or loc.startswith("postgres://"):
        return "postgresql+psycopg://" + loc.split("://", 1)[1]
    return loc


def shown(url: str) -> str:
    """The store's location fit to show: a SQLite file's path, a server's URL without its
    password."""
    from .state_sqlite import PREFIX
    return url[len(PREFIX):] if _stdlib_sqlite(url) else _safe(url)


def _safe(url: str) -> str:
    if _stdlib_sqlite(url):
        return url
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for messages
        return "<state store>"


def _stdlib_sqlite(url: str) -> bool:
    """A plain SQLite file (no driver options): opened with ``sqlite3``, not SQLAlchemy."""
    from .state_sqlite import PREFIX
    return url.startswith(PREFIX) and len(url) > len(PREFIX) and "?" not in url


def _operational_errors() -> tuple[type[Exception], ...]:
    """What a transaction raises when the store cannot do it (locked too long, disk full):
    ``sqlite3``'s own, and SQLAlchemy's where it is loaded (a PostgreSQL store)."""
    import sqlite3
    import sys
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return (sqlite3.OperationalError,) + ((sa_exc.OperationalError,) if sa_exc else ())


def _reason(err: Exception) -> object:
    return getattr(err, "orig", None) or err


@dataclass
class StateStore:
    engine: Engine | _SQLAlchemyEngine
    url: str

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def locked(self, company: str):
        """A transaction holding the store's exclusive billing lock for ``company``."""
        return self.locked_many([company])

    @contextmanager
    def locked_many(self, companies: list[str]):
        """One transaction holding the store's billing lock for the runs of ``companies``.
        One lock for all companies (SQLite has nothing else either): whether an order is
        billed already is a question for the whole store (see ``billed_elsewhere``)."""
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    key = "migrate" if list(companies) == ["migrate"] else "billing"
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                 {"k": _lock_key(key)})
                yield conn
        except _operational_errors() as err:
            raise StateError(f"state store {_safe(self.url)}: {_reason(err)}") from None

    @contextmanager
    def connect(self):
        try:
            with self.engine.begin() as conn:
                yield conn
        except _operational_errors() as err:
            raise StateError(f"state store {_safe(self.url)}: {_reason(err)}") from None


class _SQLAlchemyConnection:
    """A server store's connection taking the store's SQL as text, as the SQLite one does."""

    def __init__(self, conn):
        self._conn = conn

    def execute(self, statement, parameters=None):
        if isinstance(statement, str):
            from sqlalchemy import text as sql_text
            statement = sql_text(statement)
        return self._conn.execute(statement, parameters)

    def exec_driver_sql(self, sql: str):
        return self._conn.exec_driver_sql(sql)


class _SQLAlchemyEngine:
    """A SQLAlchemy engine whose transactions hand out :class:`_SQLAlchemyConnection`: the
    store's code sees one kind of engine, whatever the database."""

    def __init__(self, engine):
        self._engine = engine
        self.url, self.dialect = engine.url, engine.dialect

    @contextmanager
    def begin(self):
        with self._engine.begin() as conn:
            yield _SQLAlchemyConnection(conn)

    def dispose(self) -> None:
        self._engine.dispose()


def _lock_key(company: str) -> int:
    return int(hashlib.sha256(f"billing-export:{company}".encode()).hexdigest()[:15], 16)


def open_store(location: str | Path) -> StateStore:
    url = normalise_url(location)
    if _stdlib_sqlite(url):
        import sqlite3

        from .state_sqlite import Engine as SQLiteEngine
        store = StateStore(SQLiteEngine(url), url)
        try:
            migrate(store)
        except sqlite3.Error as err:  # not a database, no such folder …
            raise StateError(f"cannot open state store {url}: {err}") from None
        return store
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import SQLAlchemyError
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 300})

            @event.listens_for(engine, "connect")
            def _no_implicit_tx(dbapi_conn, _record):
                dbapi_conn.isolation_level = None

            @event.listens_for(engine, "begin")
            def _immediate(conn):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            engine = create_engine(url, pool_pre_ping=True)
        store = StateStore(_SQLAlchemyEngine(engine), url)
        migrate(store)
        return store
    except (SQLAlchemyError, ModuleNotFoundError) as err:
        reason = getattr(err, "orig", None) or err
        raise StateError(f"cannot open state store {_safe(url)}: {reason}") from None


def migrate(store: StateStore) -> int:
    """Run every SQL file newer than the recorded version, each in its own transaction."""
    with store.locked("migrate") as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        current = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() or 0
    for path in sorted(MIGRATIONS.glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        if version <= current:
            continue
        with store.locked("migrate") as conn:
            again = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() or 0
            if version <= again:
                continue
            for statement in path.read_text(encoding="utf-8").split(";"):
                body = "\n".join(line for line in statement.splitlines()
                                 if not line.strip().startswith("--")).strip()
                if body:
                    conn.exec_driver_sql(body)
            conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": version})
        current = version
    return current


# -- reads ---------------------------------------------------------------------------------

def run_record(conn: Connection, run_id: str) -> dict | None:
    row = conn.execute(text("SELECT * FROM runs WHERE run_id = :r"), {"r": run_id}).mappings() \
        .first()
    return dict(row) if row else None


def pending_runs(conn: Connection, company: str) -> list[dict]:
    rows = conn.execute(text("SELECT * FROM runs WHERE financial_company = :c AND mode = 'final' "
                             "AND status = 'pending' ORDER BY created_at"), {"c": company})
    return [dict(r) for r in rows.mappings()]


_BILLED_COLUMNS = ["booking_number", "invoice_number", "content_hash", "charge_type", "amount",
                   "currency", "booking_row", "run_id"]


def _billed(conn: Connection, where: str, company: str, columns: list[str]) -> pd.DataFrame:
    import pandas as pd
    rows = conn.execute(text(f"SELECT {', '.join(columns)} FROM billed_orders WHERE {where} "
                             "AND active = 1"), {"c": company}).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=columns).astype(
        {"booking_number": "str", "invoice_number": "str", "content_hash": "str"})


def active_billed(conn: Connection, company: str) -> pd.DataFrame:
    return _billed(conn, "financial_company = :c", company, _BILLED_COLUMNS)


def billed_elsewhere(conn: Connection, company: str) -> pd.DataFrame:
    """Orders billed (active) by the store's other companies: one booking number is one
    booking of the source, whichever company's configuration billed it (the one-company
    configuration first, a group configuration later, on the same store)."""
    return _billed(conn, "financial_company <> :c", company,
                   ["financial_company", "booking_number", "invoice_number", "content_hash",
                    "run_id"])


def owned_staged(conn: Connection) -> set[str]:
    """The staged files and QR-bill folders of committed final runs not yet delivered: the
    next run delivers from them, so they are never swept."""
    owned = set()
    for row in conn.execute(text("SELECT staged_path, parameters FROM runs WHERE mode = 'final' "
                                 "AND status = 'pending'")):
        if row[0]:
            owned.add(row[0])
        qr = json.loads(row[1]).get("qr_staged")
        if qr:
            owned.add(qr)
    return owned


def invoice_data(conn: Connection, company: str, numbers: list[str]) -> dict[str, dict]:
    out = {}
    for number in numbers:
        row = conn.execute(text("SELECT data, status FROM invoices WHERE financial_company = :c "
                                "AND invoice_number = :n"), {"c": company, "n": number}).first()
        if row:
            out[number] = {**json.loads(row[0]), "status": row[1]}
    return out


def invoice_billed_orders(conn: Connection, company: str, number: str) -> list[str]:
    rows = conn.execute(text("SELECT booking_number FROM billed_orders WHERE "
                             "financial_company = :c AND invoice_number = :n AND active = 1"),
                        {"c": company, "n": number})
    return [r[0] for r in rows]


def last_read_at(conn: Connection, company: str, location: str) -> dt.datetime | None:
    """When the last delivered final run of ``location`` began reading it: the start of the
    next incremental read (orders created or changed since)."""
    times = []
    for run in runs(conn, "final"):
        if run["financial_company"] != company or run["status"] != "delivered":
            continue
        meta = json.loads(run["parameters"])
        if meta.get("location") == location and meta.get("read_at"):
            times.append(dt.datetime.fromisoformat(meta["read_at"]))
    return max(times) if times else None


def runs(conn: Connection, mode: str | None = None) -> list[dict]:
    q = "SELECT * FROM runs" + (" WHERE mode = :m" if mode else "") + " ORDER BY created_at"
    return [dict(r) for r in conn.execute(text(q), {"m": mode} if mode else {}).mappings()]


# -- writes --------------------------------------------------------------------------------

def next_numbers(conn: Connection, company: str, prefix: str, year: int, count: int) -> list[str]:
    """Take ``count`` numbers from the gapless series; only a committed transaction keeps them."""
    if count == 0:
        return []
    last = conn.execute(text("SELECT last_number FROM number_series WHERE financial_company = :c "
                             "AND prefix = :p AND year = :y"),
                        {"c": company, "p": prefix, "y": year}).scalar()
    if last is None:
        last = 0
        conn.execute(text("INSERT INTO number_series (financial_company, prefix, year, "
                          "last_number) VALUES (:c, :p, :y, 0)"),
                     {"c": company, "p": prefix, "y": year})
    conn.execute(text("UPDATE number_series SET last_number = :n WHERE financial_company = :c "
                      "AND prefix = :p AND year = :y"),
                 {"n": last + count, "c": company, "p": prefix, "y": year})
    return [f"{prefix}-{year}-{n:06d}" for n in range(last + 1, last + count + 1)]


def record_run(conn: Connection, run_id: str, company: str, mode: str, status: str,
               invoice_date: str, parameters: dict, workbook: str | None = None,
               sha256: str | None = None, staged_path: str | None = None) -> None:
    conn.execute(text(
        "INSERT INTO runs (run_id, financial_company, mode, status, invoice_date, parameters, "
        "workbook, sha256, staged_path, created_at) VALUES (:r, :c, :m, :s, :d, :p, :w, :h, "
        ":sp, :t)"), {"r": run_id, "c": company, "m": mode, "s": status, "d": invoice_date,
                      "p": json.dumps(parameters, sort_keys=True), "w": workbook, "h": sha256,
                      "sp": staged_path, "t": _now()})


def set_run_status(conn: Connection, run_id: str, status: str) -> None:
    conn.execute(text("UPDATE runs SET status = :s WHERE run_id = :r"), {"s": status, "r": run_id})


def record_invoices(conn: Connection, company: str, run_id: str, documents: list[dict]) -> None:
    for d in documents:
        conn.execute(text(
            "INSERT INTO invoices (financial_company, invoice_number, document_type, "
            "linked_invoice_number, run_id, invoice_date, currency, invoice_amount, status, data) "
            "VALUES (:c, :n, :t, :l, :r, :d, :cur, :a, 'open', :data)"),
            {"c": company, "n": d["invoice_number"], "t": d["document_type"],
             "l": d["linked_invoice_number"], "r": run_id, "d": d["invoice_date"],
             "cur": d["currency"], "a": d["invoice_amount"], "data": json.dumps(d["data"])})


def mark_credited(conn: Connection, company: str, numbers: list[str]) -> None:
    for n in numbers:
        conn.execute(text("UPDATE invoices SET status = 'credited' WHERE financial_company = :c "
                          "AND invoice_number = :n"), {"c": company, "n": n})
        conn.execute(text("UPDATE billed_orders SET active = 0 WHERE financial_company = :c AND "
                          "invoice_number = :n"), {"c": company, "n": n})


def record_billed(conn: Connection, company: str, run_id: str, rows: pd.DataFrame) -> None:
    params = [{"c": company, "b": r.booking_number, "n": r.invoice_number, "h": r.content_hash,
               "t": r.charge_type, "a": int(r.amount), "cur": r.currency, "row": r.booking_row,
               "r": run_id} for r in rows.itertuples(index=False)]
    if params:
        conn.execute(text(
            "INSERT INTO billed_orders (financial_company, booking_number, invoice_number, "
            "content_hash, charge_type, amount, currency, active, booking_row, run_id) VALUES "
            "(:c, :b, :n, :h, :t, :a, :cur, 1, :row, :r)"), params)


def mark_delivered(conn: Connection, run_id: str, file_name: str, sha256: str) -> None:
    conn.execute(text("UPDATE runs SET status = 'delivered', delivered_at = :t, workbook = :w, "
                      "sha256 = :h WHERE run_id = :r"),
                 {"t": _now(), "w": file_name, "h": sha256, "r": run_id})
    exists = conn.execute(text("SELECT 1 FROM deliveries WHERE file_name = :f"),
                          {"f": file_name}).first()
    if not exists:
        conn.execute(text("INSERT INTO deliveries (file_name, sha256, run_id, delivered_at) "
                          "VALUES (:f, :h, :r, :t)"),
                     {"f": file_name, "h": sha256, "r": run_id, "t": _now()})
