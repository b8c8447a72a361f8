"""Every error billing-export reports, and the exit code of each: decided here, once.

A person reads these messages (a terminal, the Prefect run log, a notification), so each one
says where (file, row and column, or the path) and what to do, and is shown without a
traceback. The kind of an error decides the exit code of every command (``run``, ``credit``,
``redate``, ``discard``, ``runs``, ``watch``) and whether the flow retries it: only a
:class:`TransientError` is worth trying again.

Exceptions of other libraries that stand for one of these (an ``OSError`` such as a full disk,
a transforms-level :class:`~transforms.reference.ReferenceError`, the temporary Prefect server
not starting in time, a Prefect server that cannot be reached) are turned into one by
:func:`classify`. Anything it does not know is a programmer error: the run fails, nothing is
delivered, and the traceback is the report (exit code :data:`INTERNAL`).
"""

from __future__ import annotations

import errno
import logging
import os

#: exit codes besides the kinds' own: delivered; delivered with rejected rows and --strict;
#: a bug (an exception no kind covers); stopped with Ctrl-C
OK, REJECTED_STRICT, INTERNAL, INTERRUPTED = 0, 1, 70, 130


class BillingError(Exception):
    """Base of every error a user or an operator can act on; ``exit_code`` is the CLI's."""

    exit_code = 2
    kind = "error"


class InputError(BillingError):
    """What the user gave cannot be used: the source as a whole, a command's arguments (a run,
    an invoice number), data a workbook cannot hold. Fix the input and run again."""

    exit_code = 2
    kind = "input"


class ConfigurationError(BillingError):
    """The configuration folder (company.toml, reference tables, group.toml) or a setting of
    the environment cannot be used; the message names file, row and column."""

    exit_code = 3
    kind = "configuration"


class OutboxError(BillingError):
    """The outbox refuses the workbook: a different file under its name, or a recorded
    delivery that does not match the outbox."""

    exit_code = 4
    kind = "delivery"


class EnvironmentProblem(BillingError):
    """The machine says no: a full disk, no permission, a read-only or wrong path, the state
    store or the temporary Prefect server not available. Fix the machine, then run again."""

    exit_code = 5
    kind = "environment"


class TransientError(BillingError):
    """Something that may pass by itself (a database or Prefect server that cannot be reached,
    or is busy): retried by the flow, then reported; run again later."""

    exit_code = 6
    kind = "transient"


# -- the project's errors (their modules import them from here) --------------------------------

class SourceError(InputError):
    """The source as a whole cannot be read (no such file, not a CSV, columns missing)."""

    def __init__(self, source: str, message: str, row: int | None = None):
        self.source, self.row, self.message = source, row, message
        where = f"{source}:{row}" if row else source
        super().__init__(f"{where}: {message}")


class SourceUnavailable(TransientError, SourceError):
    """The database server cannot be reached right now (refused, unknown host, timeout, lost
    connection): worth retrying, unlike every other :class:`SourceError`."""

    def __init__(self, source: str, message: str, row: int | None = None):
        super().__init__(source, f"{message} — check that the database server is running and "
                                 "reachable at that host and port, then run again", row)


class SourcePasswordGiven(InputError):
    """A database URL with a password: it would be stored in Prefect's database and shown in
    the process list, so it is refused (the message says how to give the password)."""


class ConfigError(ConfigurationError):
    """The configuration cannot be used; the message lists every problem found."""


class DeliveryError(OutboxError):
    """The outbox already holds a different file under the same name, or what a run recorded
    does not match it."""


class WriterError(InputError):
    """A value the workbook cannot hold (a date before 1900, a cell beyond Excel's limits)."""


class StateError(EnvironmentProblem):
    """The state store cannot be opened or used; the message hides any password."""


class CommandError(InputError):
    """A command cannot be done as asked (no such run or invoice, already credited …)."""


class OutboxUnwritable(EnvironmentProblem, DeliveryError):
    """The outbox cannot be created or written (full disk, no permission, a file in the way):
    the machine's problem (exit code of :class:`EnvironmentProblem`), and a delivery that did
    not happen."""


class ServerNotUp(EnvironmentProblem):
    """The temporary Prefect server a local run starts did not answer in time."""


# -- other libraries' exceptions ------------------------------------------------------------------

_OS_ADVICE = {
    errno.ENOSPC: "free space there (or choose another folder), then run again",
    errno.EDQUOT: "free space there (the disk quota is used up), then run again",
    errno.EROFS: "choose a folder on a file system that can be written",
    errno.EACCES: "let the user running billing-export write there, or "
                  "choose another folder",
    errno.EPERM: "let the user running billing-export write there, or choose another folder",
    errno.ENOTDIR: "a part of this path is a file, not a folder: give a folder",
    errno.EEXIST: "a file is in the way where a folder is needed: give a folder, or move the "
                  "file away",
    errno.ENOMEM: "bill fewer rows at a time (--partition-rows) or use a "
                  "machine with more memory",
}

_SERVER_TIMEOUT = "Timed out while attempting to connect to ephemeral Prefect API server"


def from_os_error(err: OSError, path=None, doing: str = "",
                  kind: type[EnvironmentProblem] = EnvironmentProblem) -> EnvironmentProblem:
    """An ``OSError`` as one line: the path, what was being done, what the system said and
    what to do (``kind``: e.g. :class:`OutboxUnwritable` for the outbox)."""
    where = str(path or err.filename or "")
    said = err.strerror or str(err)
    advice = _OS_ADVICE.get(err.errno or 0)
    text = ": ".join(p for p in (where, doing, said) if p) + (f" — {advice}" if advice else "")
    problem = kind(text)
    problem.errno = err.errno
    return problem


def os_error_of(err: BaseException) -> OSError | None:
    """The ``OSError`` behind ``err``: itself, or the one XlsxWriter wraps when it cannot
    write the workbook (``FileCreateError(OSError(28, …))``)."""
    if isinstance(err, OSError) and err.errno is not None:
        return err
    if type(err).__name__ == "FileCreateError" and err.args and isinstance(err.args[0], OSError):
        return err.args[0]
    return None


def classify(err: BaseException) -> BillingError | None:
    """The :class:`BillingError` that ``err`` stands for, or None for a programmer error."""
    if isinstance(err, BillingError):
        return err
    from transforms.reference import ReferenceError
    if isinstance(err, ReferenceError):
        return ConfigError(str(err))
    os_err = os_error_of(err)
    if os_err is not None:
        return from_os_error(os_err)
    if isinstance(err, MemoryError):
        return EnvironmentProblem(f"out of memory — {_OS_ADVICE[errno.ENOMEM]}")
    if isinstance(err, RuntimeError) and str(err).startswith(_SERVER_TIMEOUT):
        limit = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "20")
        return ServerNotUp(
            f"the temporary Prefect server did not start within {limit} s (the machine may be "
            "busy): run again, raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or set "
            "PREFECT_API_URL to a running Prefect server")
    if type(err).__name__ == "ValidationError" and "Settings" in getattr(err, "title", ""):
        first = err.errors()[0] if err.errors() else {}
        name = "_".join(str(p) for p in first.get("loc", ())).upper()
        return ConfigurationError(f"a Prefect setting in the environment is not valid "
                                  f"({err.title} {name}: {first.get('msg', err)}); fix or "
                                  "unset that PREFECT_… variable")
    return _prefect_api_error(err)


def _prefect_api_error(err: BaseException) -> BillingError | None:
    try:
        import httpx
    except ImportError:  # pragma: no cover - a dependency of Prefect
        return None
    url = os.environ.get("PREFECT_API_URL") or "the Prefect server"
    if isinstance(err, RuntimeError) and str(err).startswith("Failed to reach API at"):
        url = str(err).rsplit(" ", 1)[-1]
        err = httpx.ConnectError(str(err))
    if isinstance(err, httpx.TransportError):
        return TransientError(f"{url}: cannot be reached ({type(err).__name__}): start it, or "
                              "unset PREFECT_API_URL to run with a temporary server")
    if isinstance(err, httpx.HTTPStatusError) and err.response.status_code in (429, 502, 503,
                                                                              504):
        return TransientError(f"{url}: busy (HTTP {err.response.status_code}): run again later")
    return None


def exit_code(err: BaseException) -> int:
    known = classify(err)
    return INTERNAL if known is None else known.exit_code


# -- no traceback for a known error in Prefect's run log ---------------------------------------

class _NoTraceback(logging.Filter):
    """Prefect logs a failed task's exception with its traceback; for a :class:`BillingError`
    the message is the report, so the traceback is left out (a bug keeps its traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.exc_info and (exc is None or isinstance(exc, BillingError)):
            record.exc_info, record.exc_text = None, None
        return True


_FILTER = _NoTraceback()


def quiet_known_errors() -> None:
    """Install the filter on Prefect's run loggers (idempotent; called when a run starts)."""
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
