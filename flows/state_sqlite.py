"""The state store's SQLite file through Python's own ``sqlite3``, without SQLAlchemy.

The store speaks plain SQL with ``:name`` parameters (flows/state_store.py), which ``sqlite3``
understands as it is; SQLAlchemy adds nothing for a local file but its import, which took a
quarter of a small run's wall time. This module offers the few members of SQLAlchemy's engine,
connection and result the store and its tests use, with the same transaction rules: every
transaction begins ``BEGIN IMMEDIATE`` (the store's write lock: a second run waits up to
:data:`BUSY_TIMEOUT` seconds, then sees what the first recorded), commits when its block ends
and rolls back when it raises. PostgreSQL stores keep SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

#: how long a transaction waits for another run's lock before it fails (seconds)
BUSY_TIMEOUT = 300
PREFIX = "sqlite:///"


class Result:
    """What an ``execute`` returns: rows as tuples, or as dicts through :meth:`mappings`."""

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._cursor)

    def first(self) -> tuple | None:
        return self._cursor.fetchone()

    fetchone = first

    def all(self) -> list[tuple]:
        return self._cursor.fetchall()

    fetchall = all

    def one(self) -> tuple:
        rows = self._cursor.fetchmany(2)
        if len(rows) != 1:
            raise LookupError(f"expected one row, got {len(rows) or 'none'}")
        return rows[0]

    def scalar(self) -> Any:
        row = self._cursor.fetchone()
        return None if row is None else row[0]

    def mappings(self) -> Mappings:
        return Mappings(self._cursor)


class Mappings:
    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor
        self._names = [d[0] for d in cursor.description or ()]

    def __iter__(self) -> Iterator[dict]:
        return (dict(zip(self._names, row)) for row in self._cursor)

    def all(self) -> list[dict]:
        return list(self)

    def first(self) -> dict | None:
        row = self._cursor.fetchone()
        return None if row is None else dict(zip(self._names, row))


class Connection:
    """One transaction's connection; ``statement`` is SQL text or SQLAlchemy's ``text()``."""

    def __init__(self, dbapi: sqlite3.Connection):
        self._dbapi = dbapi

    def execute(self, statement, parameters: dict | list[dict] | None = None) -> Result:
        sql = str(statement)
        if isinstance(parameters, list):
            return Result(self._dbapi.executemany(sql, parameters))
        return Result(self._dbapi.execute(sql, parameters or {}))

    def exec_driver_sql(self, sql: str) -> Result:
        return Result(self._dbapi.execute(sql))


@dataclass(frozen=True)
class _Url:
    database: str

    def __str__(self) -> str:
        return PREFIX + self.database


@dataclass(frozen=True)
class _Dialect:
    name: str = "sqlite"


class Engine:
    """A SQLite file; each :meth:`begin` opens its own connection (no pool to dispose of)."""

    dialect = _Dialect()

    def __init__(self, url: str):
        self.url = _Url(url[len(PREFIX):])

    def connect_dbapi(self) -> sqlite3.Connection:
        return sqlite3.connect(self.url.database, timeout=BUSY_TIMEOUT, isolation_level=None)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        dbapi = self.connect_dbapi()
        try:
            dbapi.execute("BEGIN IMMEDIATE")
            try:
                yield Connection(dbapi)
            except BaseException:
                if dbapi.in_transaction:
                    dbapi.execute("ROLLBACK")
                raise
            dbapi.execute("COMMIT")
        finally:
            dbapi.close()

    def dispose(self) -> None:
        """Nothing is pooled: every connection is closed when its transaction ends."""
