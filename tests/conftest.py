"""Shared fixtures: the sample configuration and a one-call local run (no Prefect)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SAMPLE_ORDERS = SAMPLE / "booking_orders.csv"
INVOICE_DATE = dt.date(2026, 10, 30)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def sample_config():
    from flows.config import load_config
    return load_config(SAMPLE)


@pytest.fixture
def run(tmp_path, sample_config):
    """Run the whole job locally: ``run(source=..., config=..., language=..., **params)``."""
    from flows import job

    def _run(source=SAMPLE_ORDERS, config=None, outbox=None, invoice_date=INVOICE_DATE,
             cutoff=None, language=None, **kw):
        cfg = config or sample_config
        params = job.default_params(invoice_date, cutoff, language, cfg)
        return job.run_local(str(source), cfg, params, Path(outbox or tmp_path / "outbox"), **kw)

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
        yield
