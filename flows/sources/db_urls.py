"""Database URLs as a run is given them: a password in one is refused before it goes
anywhere, and a URL is shown with its password hidden. Without SQLAlchemy until a URL is
actually looked at, so that the command line can check its arguments at no cost.
"""

from __future__ import annotations

import re

from ..errors import SourcePasswordGiven

#: the database password for a URL without one (any dialect; PostgreSQL's driver also reads
#: PGPASSWORD and ~/.pgpass by itself)
PASSWORD_VARIABLE = "BILLING_DB_PASSWORD"

_HOW = (f"leave it out of the URL and give it in the environment ({PASSWORD_VARIABLE}, or "
        "PGPASSWORD or ~/.pgpass for PostgreSQL), or store the whole URL in a Prefect Secret "
        "block and name it (--source-secret NAME / the flow's source_secret)")


def refuse_password(location: str | None, what: str = "source") -> None:
    """A URL with a password is refused before it goes anywhere: as a command-line argument
    it is in the process list, as a flow parameter in Prefect's database."""
    if not location or "://" not in str(location):
        return
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url
    try:
        password = make_url(str(location)).password
    except (sa_exc.ArgumentError, ValueError, TypeError):
        password = re.search(r"://[^:/@]*:[^@/]+@", str(location))
    if password:
        what = f"the {what} URL" if what else "the URL"
        raise SourcePasswordGiven(f"{redact_text(str(location))}: {what} holds a password, "
                                  f"which would be stored and shown; {_HOW}")


def redact_text(location: str) -> str:
    """Best effort for a location SQLAlchemy cannot parse: hide ``user:password@``."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", location)
