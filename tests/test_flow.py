"""The Prefect flow and the CLI, under one Prefect test harness for the whole session."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import openpyxl

from conftest import INVOICE_DATE, SAMPLE, SAMPLE_ORDERS


def test_flow_delivers_reconciled_workbook_and_artifacts(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.billing_run import billing_run

    state = billing_run(source=str(SAMPLE_ORDERS), config=str(SAMPLE), outbox=str(tmp_path),
                        invoice_date=INVOICE_DATE, return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    wb = openpyxl.load_workbook(summary["workbook"], read_only=True)
    assert wb.sheetnames == ["Rechnungen", "Positionen", "Steuern", "Abstimmung", "Abgelehnt"]
    rows = list(wb["Rechnungen"].iter_rows(min_row=2, values_only=True))
    assert len(rows) == summary["invoices"] > 0
    manifest = json.loads(open(summary["manifest"], encoding="utf-8").read())
    assert manifest["rows_read"] == (manifest["rows_billed"] + manifest["rows_rejected"]
                                     + manifest["rows_not_billable"]
                                     + manifest["rows_already_billed"])
    header = [c for c in next(wb["Rechnungen"].iter_rows(max_row=1, values_only=True))]
    amount = header.index("Rechnungsbetrag")
    currency = header.index("Rechnungswährung")
    chf = sum(Decimal(str(r[amount])) for r in rows if r[currency] == "CHF")
    assert chf == Decimal(manifest["totals"]["CHF"]["invoice_amount"])

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts()

    import asyncio
    keys = {a.key for a in asyncio.run(artifacts())}
    assert {"billing-draft-100-totals", "billing-draft-100-reconciliation"} <= keys


def test_flow_fails_cleanly_on_unusable_source(prefect_harness, tmp_path):
    from flows.billing_run import billing_run

    bad = tmp_path / "orders.csv"
    bad.write_text("Buchungsnummer,Preis\n1,CHF 10.00\n", encoding="utf-8")
    state = billing_run(source=str(bad), config=str(SAMPLE), outbox=str(tmp_path / "outbox"),
                        invoice_date=INVOICE_DATE, return_state=True)
    assert state.is_failed()
    assert "orders.csv:1" in state.message and "Rechnungsadresse" in state.message
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())


def test_cli_run_prints_problems_like_a_compiler(prefect_harness, tmp_path, capsys):
    from flows.cli import main

    code = main(["run", "--outbox", str(tmp_path), "--invoice-date", INVOICE_DATE.isoformat(),
                 "--language", "en", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "booking_orders.csv:153 Price: [190114] not a valid amount" in out
    assert "Delivered:" in out
    assert len(list(tmp_path.glob("*.xlsx"))) == 1
    assert main(["run", "--outbox", str(tmp_path), "--invoice-date",
                 INVOICE_DATE.isoformat(), "--language", "en", "--strict", "--quiet"]) == 1
    assert "Already delivered" in capsys.readouterr().out


def test_cli_and_run_log_warn_of_stale_rates_and_unknown_parties(prefect_harness, tmp_path,
                                                                capsys):
    """Invoices of 1 December with rates last given on 30 October: the terminal and the run
    log say the rates are stale, and which parties the ERP knows by no customer number."""
    from prefect.client.orchestration import get_client

    from flows.cli import main

    code = main(["run", "--outbox", str(tmp_path), "--invoice-date", "2026-12-01",
                 "--language", "en", "--quiet", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    stale = [w for w in summary["warnings"] if w.startswith("stale exchange rates used")]
    assert stale and all("2026-10-30" in w for w in stale), summary["warnings"]
    parties = [w for w in summary["warnings"] if "without an entry in customers.csv" in w]
    assert len(parties) == 1 and summary["invoice_to_address_ids"] > 0
    assert parties[0].startswith(f"{summary['invoice_to_address_ids']} invoice-to part")
    wb = openpyxl.load_workbook(summary["workbook"])
    header = [c.value for c in wb["Invoices"][1]]
    dates = {r[header.index("Exchange rate date")].date().isoformat()
             for r in wb["Invoices"].iter_rows(min_row=2, values_only=True)
             if r[header.index("Invoice currency")] != "CHF"}
    assert dates == {"2026-10-30"}  # the rate used, not the 1 December asked for
    code = main(["run", "--outbox", str(tmp_path / "again"), "--invoice-date", "2026-12-01",
                 "--language", "en"])
    out = capsys.readouterr().out
    assert code == 0 and "  warning: stale exchange rates used: " in out

    async def warnings_logged():
        # the session's server holds every earlier test's logs too: the newest warnings
        from prefect.client.schemas.filters import LogFilter, LogFilterLevel
        from prefect.client.schemas.sorting import LogSort
        async with get_client() as client:
            logs = await client.read_logs(log_filter=LogFilter(level=LogFilterLevel(ge_=30)),
                                          sort=LogSort.TIMESTAMP_DESC, limit=200)
        return [log.message for log in logs]

    import asyncio

    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # the run's logs are sent in batches, not at once
    logged = asyncio.run(warnings_logged())
    assert any(m.startswith("stale exchange rates used") for m in logged), logged


def test_cli_error_exit_code_and_no_traceback(prefect_harness, tmp_path, capsys):
    from flows.cli import main

    code = main(["run", "--source", str(tmp_path / "missing.csv"), "--outbox", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "missing.csv: no such file" in err and "Traceback" not in err


def test_cli_help_explains_every_option():
    out = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for option in ("--source", "--config", "--outbox", "--invoice-date", "--language"):
        assert option in out


def test_unreachable_database_is_retried_then_fails_without_password(prefect_harness, tmp_path,
                                                                     monkeypatch):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    import flows.billing_run as br

    monkeypatch.setenv("BILLING_RETRY_DELAYS", "0,0,0")
    monkeypatch.setenv("BILLING_DB_PASSWORD", "s3cret")
    state = br.billing_run(source="postgresql+psycopg://billing@127.0.0.1:1/openolat",
                           config=str(SAMPLE), outbox=str(tmp_path / "outbox"),
                           invoice_date=INVOICE_DATE, return_state=True)
    assert state.is_failed()
    assert "cannot connect" in state.message and "s3cret" not in state.message
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").glob("*.xlsx"))

    async def extract_runs():
        async with get_client() as client:
            flow_run = await client.read_flow_run(state.state_details.flow_run_id)
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[flow_run.id])))
            return [r for r in runs if r.name.startswith("extract")]

    runs = asyncio.run(extract_runs())
    assert len(runs) == 1 and runs[0].run_count == 4  # the first try and three retries
    assert "s3cret" not in runs[0].name and "127.0.0.1:1" in runs[0].name


def test_a_bad_file_is_not_retried(prefect_harness, tmp_path):
    from flows.billing_run import _transient
    from flows.sources.base import SourceError
    from flows.sources.openolat_db import SourceUnavailable
    from prefect.states import Failed

    assert _transient(None, None, Failed(data=SourceUnavailable("db", "down")))
    assert not _transient(None, None, Failed(data=SourceError("x.csv", "missing column")))
