"""The types of the command line's arguments, one parser each for every command that takes
one (``run``, the state commands and ``watch``): the same input is refused with the same
message wherever it is given.

>>> iso_date("2026-10-30"), positive("4"), seconds("0.5")
(datetime.date(2026, 10, 30), 4, 0.5)
"""

from __future__ import annotations

import argparse
import datetime as dt


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def location(text: str) -> str:
    """A source or state location; a URL with a password is refused here, before it could be
    stored (it is already in the process list: change that password if it matters)."""
    if "://" not in text:  # a path holds no password (and needs no database driver loaded)
        return text
    # imported when a URL is given: SQLAlchemy costs most of a second, and `--help` or
    # `watch` need none of it
    from .errors import SourcePasswordGiven
    from .sources.db_urls import refuse_password
    try:
        refuse_password(text, "")
    except SourcePasswordGiven as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value
