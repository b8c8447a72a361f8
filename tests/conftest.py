"""Shared fixtures: the sample configuration and a one-call local run (no Prefect)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SAMPLE_ORDERS = SAMPLE / "booking_orders.csv"
INVOICE_DATE = dt.date(2026, 10, 30)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# --- hypothesis profiles: how many examples every property test draws -----------------------
# `dev` (make test-fast, and plain pytest) is quick; `ci` (make test, .ci/run) is thorough.
# Tests do not hard-code max_examples: one whose examples are expensive asks for a fraction of
# the profile's number, ``max_examples=max(1, settings().max_examples * 3 // 10)``, so it
# draws 60 under ci and 6 under dev (see examples() for the same rule as a function).
settings.register_profile("dev", max_examples=20)
settings.register_profile("ci", max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def examples(fraction: float) -> int:
    """A share of the active profile's examples, at least one: for tests whose every example
    is costly, so that ci still draws many and dev only a few."""
    return max(1, int(settings().max_examples * fraction))


@pytest.fixture(scope="session")
def sample_config():
    from flows.config import load_config
    return load_config(SAMPLE)


@pytest.fixture
def run(tmp_path, sample_config):
    """Run the whole job as production does, without Prefect: ``run(source=..., config=...,
    language=..., **request)`` through flows.pipeline against a fresh temporary state store
    per call (the draft is recorded there; ``state=`` shares one); returns the company's
    result."""
    import itertools

    from flows import pipeline
    calls = itertools.count(1)

    def _run(source=SAMPLE_ORDERS, config=None, outbox=None, invoice_date=INVOICE_DATE,
             cutoff=None, language=None, state=None, **kw):
        done = pipeline.run(pipeline.Request(
            source=str(source), config=config or sample_config,
            outbox=Path(outbox or tmp_path / "outbox"), invoice_date=invoice_date,
            cutoff_date=cutoff, language=language,
            state=state or str(tmp_path / f"run-state-{next(calls)}.sqlite"), **kw))
        done.store.engine.dispose()
        return done.result

    return _run


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One Prefect test harness (a temporary server) for the whole session. Defined here once:
    a fixture imported into several test modules would start one harness per module, and the
    second would leave Prefect's event client talking to the first."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect_home"))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from prefect.testing.utilities import prefect_test_harness
    with prefect_test_harness(server_startup_timeout=120):
        _console_logs_to_current_stderr()
        yield


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written: the running test's capfd or capsys
    while it has one, else the session's capture."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return False


def _console_logs_to_current_stderr() -> None:
    """Prefect's console handler keeps the ``sys.stderr`` of the moment it was made. Made
    while the first flow-running test held capfd, it kept that test's file, closed after it,
    and every later flow's logging failed (RecursionError in the handler). It now writes to
    the stderr of the moment, so a test's capfd sees the run's log lines, as a user's terminal
    would."""
    from prefect.logging.configuration import setup_logging
    from prefect.logging.handlers import PrefectConsoleHandler
    setup_logging(incremental=False)
    for logger in (logging.getLogger(), *(logging.getLogger(n) for n in
                                          logging.root.manager.loggerDict)):
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, PrefectConsoleHandler):
                handler.stream = handler.console.file = _CurrentStderr()


# --- markers by fixture use (registered in pyproject.toml; `make test-fast` deselects them) ---
# A rule here sees what a test needs, so test files do not carry marks one by one: a test that
# takes the Prefect harness talks to a Prefect server; a test parametrized onto a database
# server ("postgresql"/"mariadb" as a fixture parameter or its own) needs that server; a test
# on the sample's configuration runs the whole job. Only what no rule can see carries an
# explicit mark in its file.
PREFECT_FIXTURES = {"prefect_harness"}
DB_FIXTURES = {"postgresql_url", "mariadb_url"}
DB_SERVERS = {"postgresql", "mariadb"}
# the sample's configuration means a whole job (config, reference tables, workbook) on the
# sample; a crash child is a process started per test: seconds each, so `slow`
SLOW_FIXTURES = {"sample_config", "crash_context"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these marks, and before xdist groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & PREFECT_FIXTURES:
            item.add_marker(pytest.mark.prefect)
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec else ()
        if names & DB_FIXTURES or any(isinstance(p, str) and p in DB_SERVERS for p in params):
            item.add_marker(pytest.mark.db)
        if names & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
        group = xdist_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


# --- pytest-xdist (make test and make test-fast run `-n 2 --dist loadgroup`) ------------------
# A work unit is one test, except for what must stay in one process: the e2e module (one server
# stack, started once for the module), the tests on the session's Prefect harness (one
# temporary server per process, so only one process starts one) and the tests of a module
# that share a module-scoped fixture (a database loaded or a job billed once per module, not
# once per worker). The e2e group is mostly waiting on its server: the other worker bills on.

def xdist_group(item) -> str | None:
    """The one xdist group of a test, or None: e2e first, then the harness, then its module."""
    if item.get_closest_marker("e2e"):
        return "e2e"
    if item.get_closest_marker("prefect"):
        return "prefect"
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info else ()
    if any(d.scope == "module" for chain in defs for d in chain):
        return item.path.stem
    return None


class GroupSuffix:
    """pytest-xdist's loadgroup finds a test's group in its node id (``...::test@group``), which
    its worker hook writes to ``item._nodeid``; since pytest 9 the id lives in ``item._id`` and
    that write changes nothing, so every test became a work unit of its own: the e2e module's
    tests ran on both workers, each starting its own server stack, and both started a Prefect
    harness. This writes the suffix where the running pytest keeps the id, after xdist's hook
    (unchanged where that hook already did it)."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        for item in items:
            groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                             for m in item.iter_markers("xdist_group")})
            suffix = "@" + "_".join(groups)
            if not groups or item.nodeid.endswith(suffix):
                continue
            nodeid = item.nodeid + suffix
            if hasattr(item, "_id"):  # pytest 9
                from _pytest.nodeid import coerce_node_id
                item._id = coerce_node_id(nodeid)
            else:
                item._nodeid = nodeid


def pytest_configure(config):
    """Each xdist worker gets a PREFECT_HOME of its own before anything imports Prefect (which
    reads it once): two workers never share a profile, a memo store or result storage. On a
    worker of ``--dist loadgroup``, the groups reach the scheduler (GroupSuffix)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and config.getvalue("loadgroup"):
        config.pluginmanager.register(GroupSuffix(), "billing-xdist-group-suffix")
    if worker:
        base = os.environ.get("PREFECT_HOME") or tempfile.mkdtemp(prefix="prefect-home-")
        home = Path(base) / worker
        home.mkdir(parents=True, exist_ok=True)
        os.environ["PREFECT_HOME"] = str(home)
