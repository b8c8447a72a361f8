"""Prepare the PostgreSQL database of the Prefect server that ops/serve.sh starts.

Prefect's server keeps flow runs, events and automations in its own database: SQLite in
PREFECT_HOME by default, or PostgreSQL when PREFECT_API_DATABASE_CONNECTION_URL (Prefect's own
setting) names one. SQLite takes one writer at a time; with runs, worker heartbeats and the
automations writing at once a write can fail with "database is locked", and Prefect's triggers
then handle an event again (a failure notification twice). PostgreSQL has no such limit, which
is how a production installation should run the server.

ops/serve.sh calls this before it starts the server: the database is created when it does not
exist yet, so an operator only names it. The password never travels on a command line: it
comes from the URL in the environment, from PGPASSWORD or from ~/.pgpass (asyncpg reads both),
and nothing printed here shows it.

    PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://prefect@db/prefect python ops/prefect_db.py
"""

from __future__ import annotations

import asyncio
import os
import sys

VARIABLES = ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")


def configured_url() -> str | None:
    for name in VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def shown(url) -> str:
    """Where the database is, for a log line: never the password."""
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"


async def ensure(url) -> bool:
    """Create the database unless it exists; True when it was created. Connects to the
    server's `postgres` database for that, as the same user."""
    import asyncpg

    params = {"host": url.host, "port": url.port, "user": url.username,
              "password": url.password, "ssl": url.query.get("ssl")}
    params = {k: v for k, v in params.items() if v is not None}
    try:
        conn = await asyncpg.connect(database=url.database, timeout=10, **params)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return False
    conn = await asyncpg.connect(database="postgres", timeout=10, **params)
    try:
        quoted = '"' + url.database.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:  # created meanwhile by another serve.sh
            return False
    finally:
        await conn.close()
    return True


def main() -> int:
    raw = configured_url()
    if raw is None or not raw.startswith("postgresql"):
        if raw is None:
            print(f"database: SQLite in {os.environ.get('PREFECT_HOME', '~/.prefect')} "
                  "(set PREFECT_API_DATABASE_CONNECTION_URL for PostgreSQL)")
        return 0
    from sqlalchemy.engine import make_url

    try:
        url = make_url(raw)
    except Exception:  # noqa: BLE001 - a malformed URL is the operator's to fix, not a bug
        print("serve: PREFECT_API_DATABASE_CONNECTION_URL is not a database URL "
              "(postgresql+asyncpg://user@host:5432/prefect)", file=sys.stderr)
        return 2
    if not url.database:
        print("serve: PREFECT_API_DATABASE_CONNECTION_URL names no database "
              "(postgresql+asyncpg://user@host:5432/prefect)", file=sys.stderr)
        return 2
    try:
        created = asyncio.run(ensure(url))
    except (OSError, asyncio.TimeoutError) as err:
        print(f"serve: PostgreSQL at {shown(url)} cannot be reached ({type(err).__name__}: "
              f"{err}); start it or correct PREFECT_API_DATABASE_CONNECTION_URL",
              file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - asyncpg's errors (login refused, no right to create)
        message = str(err).replace(url.password or "\0", "***")
        print(f"serve: PostgreSQL at {shown(url)}: {type(err).__name__}: {message}",
              file=sys.stderr)
        return 1
    print(f"database: PostgreSQL {shown(url)}{' (created)' if created else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
