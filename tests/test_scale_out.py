"""Scale-out: group runs (one workbook per financial company) and partitions billed as mapped
Prefect tasks, on threads or on a local Dask cluster — always the same workbooks."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from billing_runs import bill, credit
from conftest import INVOICE_DATE, SAMPLE, SAMPLE_ORDERS

GROUP = SAMPLE / "group.toml"


def _validated():
    from flows import stages
    ex = stages.extract(str(SAMPLE_ORDERS))
    valid, problems = stages.validate(ex)
    return ex, valid, problems


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- partitions (pure, no Prefect) -----------------------------------------------------------

@pytest.mark.parametrize("partition_rows", [7, 40, 1000])
def test_partitioned_billing_gives_the_same_tables_as_one_partition(sample_config,
                                                                     partition_rows):
    from flows import stages, pipeline
    from transforms.partition import hash_partitions
    from transforms.billing import output_tables
    from transforms.reconcile import reconciliation

    ex, valid, problems = _validated()
    params = stages.default_params(INVOICE_DATE, None, None, sample_config)
    ctx = stages.context(sample_config, params, "5EED0001")
    whole, _ = stages.bill(valid, problems, ctx)
    parts = hash_partitions("100", valid, sample_config.tables.get("customers"),
                            partition_rows)
    assert (len(parts) > 1) == (partition_rows < len(valid))
    split = pipeline.bill(pipeline.LOCAL, [(valid, problems, ctx)], partition_rows)[0]
    a, b = output_tables(whole, "de"), output_tables(split, "de")
    for sheet in a:
        pd.testing.assert_frame_equal(a[sheet], b[sheet], check_dtype=True, obj=sheet)
    assert whole.notes == split.notes
    ra = reconciliation(whole, ex.rows, [(ex.name, ex.checksum, ex.rows)], {}, "de")
    rb = reconciliation(split, ex.rows, [(ex.name, ex.checksum, ex.rows)], {}, "de")
    pd.testing.assert_frame_equal(ra, rb)


def test_hash_partitions_keep_each_invoice_whole(sample_config):
    from flows import stages
    from transforms.partition import hash_partitions
    from transforms.billing import bill_partition

    _, valid, _ = _validated()
    params = stages.default_params(INVOICE_DATE, None, None, sample_config)
    ctx = stages.context(sample_config, params, "5EED0001")
    parts = hash_partitions("100", valid, sample_config.tables.get("customers"), 30)
    assert len(parts) >= 5
    assert sum(len(p.orders) for p in parts) == len(valid)
    assert sorted(pd.concat([p.orders for p in parts])["source_row"]) == \
        sorted(valid["source_row"])
    seen: dict[str, int] = {}
    for i, p in enumerate(parts):
        billed, _ = bill_partition(p.orders, ctx)
        for party in billed.lines["invoice_to_bp"].unique():
            assert seen.setdefault(party, i) == i, f"{party} billed in two partitions"


@pytest.mark.slow  # a fresh interpreter per hash seed
def test_hash_buckets_are_stable_across_processes():
    import subprocess
    import sys
    code = ("import pandas as pd; from transforms.partition import hash_buckets; "
            "print(hash_buckets(pd.Series(['BA-1005', 'BP-17', 'x']), 7).tolist())")
    out = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=SAMPLE.parent, env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin"},
                          check=True).stdout for seed in ("1", "2")}
    assert len(out) == 1


# -- companies of a group ----------------------------------------------------------------------

@pytest.mark.slow  # the sample group's companies billed
def test_every_row_is_in_exactly_one_company(tmp_path):
    from flows import stages
    from flows.config import load_group

    ex, valid, problems = _validated()
    frame = ex.frame.copy()
    frame.loc[frame.index[:3], "product_org_id"] = "ORG-99"  # an organisation no one bills
    ex = type(ex)(**{**ex.__dict__, "frame": frame})
    group = load_group(GROUP)
    runs = stages.company_runs(ex, valid, problems, group, lambda c: stages.default_params(
        INVOICE_DATE, None, None, c))
    assert [r.config.settings.code for r in runs] == ["100", "200"]
    assert sum(r.ex.rows for r in runs) == ex.rows
    rows = [set(r.orders["source_row"]) | set(r.problems["source_row"].dropna()) for r in runs]
    assert [len(r) for r in rows] == [r.ex.rows for r in runs]
    assert not rows[0] & rows[1]
    assert rows[0] | rows[1] == set(ex.frame["source_row"])
    lead = runs[0].problems
    unassigned = lead[lead["reason"] == "NO_COMPANY"]
    assert sorted(unassigned["source_row"]) == sorted(frame["source_row"][:3])
    assert set(unassigned["value"]) == {"ORG-99"}
    assert not set(unassigned["source_row"]) & set(runs[0].orders["source_row"])
    assert len({r.rid for r in runs}) == 2


def _group(tmp_path, text: str) -> Path:
    folder = tmp_path / "group"
    folder.mkdir()
    for f in SAMPLE.glob("*.csv"):
        if not f.name.startswith("booking_orders"):
            shutil.copy2(f, folder / f.name)
    for code in ("100", "200"):
        (folder / code).mkdir()
        (folder / code / "company.toml").write_text(
            f'[company]\ncode = "{code}"\nname = "Firma {code}"\nhome_currencies = ["CHF"]\n',
            encoding="utf-8")
    (folder / "group.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("text, message", [
    ('[group]\nname = "G"\n[[group.company]]\nconfig = "100"\nproduct_orgs = ["A"]\n'
     '[[group.company]]\nconfig = "200"\nproduct_orgs = ["A"]\n',
     "A is billed by company 100 already"),
    ('[group]\nname = "G"\n[[group.company]]\nconfig = "100"\nproduct_orgs = ["A"]\n'
     '[[group.company]]\nconfig = "100"\nproduct_orgs = ["B"]\n', "company 100 is listed twice"),
    ('[group]\nname = "G"\n[[group.company]]\nconfig = "300"\nproduct_orgs = ["A"]\n',
     "300/company.toml: no such file"),
    ('[group]\nname = "G"\n[[group.company]]\nconfig = "100"\n', "product_orgs: expected"),
    ('[group]\nname = "G"\ncompanies = 2\n', "companies: unknown setting"),
    ('[group]\nname = "G"\n', "no [[group.company]] entries"),
])
def test_group_configuration_errors_name_file_and_entry(tmp_path, text, message):
    from flows.config import ConfigError, load_group
    folder = _group(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_group(folder)
    assert message in str(err.value)
    assert "group.toml" in str(err.value)


@pytest.mark.slow  # loads the sample's configuration twice
def test_group_members_take_missing_tables_from_the_group_folder(tmp_path):
    from flows.config import load_group
    folder = _group(tmp_path, '[group]\nname = "G"\n[[group.company]]\nconfig = "100"\n'
                              'product_orgs = ["A"]\n[[group.company]]\nconfig = "200"\n'
                              'product_orgs = ["B"]\n')
    header = (SAMPLE / "customers.csv").read_text(encoding="utf-8").splitlines()[0]
    (folder / "200" / "customers.csv").write_text(header + "\n", encoding="utf-8")
    group = load_group(folder / "group.toml")
    assert group.org_companies == {"A": "100", "B": "200"}
    t100 = group.member("100").config.tables["customers"]
    t200 = group.member("200").config.tables["customers"]
    assert len(t100) > 1 and len(t200) == 0


# -- the flow: threads and a local Dask cluster -----------------------------------------------

def _workbooks(summary) -> dict[str, str]:
    return {Path(c["workbook"]).name: _sha(c["workbook"]) for c in summary["companies"]}


def test_group_run_delivers_one_reconciled_workbook_per_company(prefect_harness, tmp_path):
    from flows.billing_run import billing_run

    state = billing_run(source=str(SAMPLE_ORDERS), config=str(GROUP),
                        outbox=str(tmp_path / "outbox"), invoice_date=INVOICE_DATE,
                        draft=False, return_state=True)
    assert state.is_completed(), state.message
    s = state.result()
    assert [Path(w).name[:4] for w in s["workbooks"]] == ["100_", "200_"]
    assert s["rows_read"] == 240 == (s["rows_billed"] + s["rows_rejected"]
                                     + s["rows_not_billable"] + s["rows_already_billed"])
    for company, prefix in zip(s["companies"], ("RE-2026-", "MA-2026-")):
        wb = openpyxl.load_workbook(company["workbook"], read_only=True)
        numbers = [r[1] for r in wb["Rechnungen"].iter_rows(min_row=2, values_only=True)]
        assert numbers and all(n.startswith(prefix) for n in numbers)
        assert int(numbers[0][-6:]) == 1 and int(numbers[-1][-6:]) == len(numbers)
        assert company["rows_read"] == (company["rows_billed"] + company["rows_rejected"]
                                        + company["rows_not_billable"])
    # run again: both companies' orders are billed already, nothing new is delivered
    again = billing_run(source=str(SAMPLE_ORDERS), config=str(GROUP),
                        outbox=str(tmp_path / "outbox"), invoice_date=INVOICE_DATE,
                        draft=False, return_state=True).result()
    assert all(c["already_delivered"] for c in again["companies"])
    assert len(list((tmp_path / "outbox").glob("*.xlsx"))) == 2


def test_credit_in_a_group_names_the_company(prefect_harness, tmp_path, capsys):
    from flows.billing_run import billing_run
    from flows.cli import main

    outbox = str(tmp_path / "outbox")
    first = billing_run(source=str(SAMPLE_ORDERS), config=str(GROUP), outbox=outbox,
                        invoice_date=INVOICE_DATE, draft=False, return_state=True).result()
    wb = openpyxl.load_workbook(first["companies"][1]["workbook"], read_only=True)
    invoices = list(wb["Rechnungen"].iter_rows(min_row=2, values_only=True))
    header = next(wb["Rechnungen"].iter_rows(max_row=1, values_only=True))
    amount = invoices[0][header.index("Rechnungsbetrag")]
    currency = invoices[0][header.index("Rechnungswährung")]
    capsys.readouterr()
    args = ["credit", "--config", str(GROUP), "--invoice", "MA-2026-000001", "--outbox", outbox,
            "--invoice-date", "2026-10-31"]
    assert main(args) == 3  # a configuration error
    assert "say which with --company" in capsys.readouterr().err
    assert main(args + ["--company", "100"]) == 2  # company 100 has no invoice MA-…
    assert "not in the state store of company 100" in capsys.readouterr().err
    assert main(args + ["--company", "200"]) == 0
    out = capsys.readouterr().out
    # the credit note takes the company's next number and negates the invoice exactly
    assert (f"MA-2026-{len(invoices) + 1:06d}  Stornorechnung  {currency} -{amount:.2f}  "
            "MA-2026-000001") in out
    assert list((tmp_path / "outbox").glob("200_2026-10-31_*.xlsx"))


def test_two_company_run_on_a_local_dask_cluster_gives_the_same_workbooks(prefect_harness,
                                                                           tmp_path):
    """The default runner, one partition per company, against a local Dask cluster of two
    worker processes billing 20-row partitions: the same files, byte for byte.

    The Dask run goes through the CLI in its own process, against the session's Prefect
    server (as tests/test_errors.py's CLI runs; a temporary server of its own would only add
    its start-up): a Dask cluster torn down inside this test process stops Prefect's event
    client here, and later tests would not see their task runs."""
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    from flows.billing_run import billing_run

    threads = billing_run(source=str(SAMPLE_ORDERS), config=str(GROUP),
                          outbox=str(tmp_path / "threads"), invoice_date=INVOICE_DATE,
                          return_state=True)
    assert threads.is_completed(), threads.message
    expected = _workbooks(threads.result())
    assert len(expected) == 2
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect_home"),
           "PREFECT_LOGGING_LEVEL": "INFO", "PREFECT_API_URL": PREFECT_API_URL.value()}
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--source", str(SAMPLE_ORDERS),
         "--config", str(GROUP), "--outbox", str(tmp_path / "dask"),
         "--invoice-date", INVOICE_DATE.isoformat(), "--task-runner", "dask", "--workers", "2",
         "--partition-rows", "20", "--json"],
        capture_output=True, text=True, env=env, cwd=SAMPLE.parent, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "Creating a new Dask cluster" in log
    parts = {line.split("Task run '")[1].split("'")[0] for line in log.splitlines()
             if "Task run 'bill " in line}
    assert len(parts) > 10  # 240 rows in 20-row partitions over two companies
    assert any(p.startswith("bill 100 part") for p in parts)
    assert any(p.startswith("bill 200") for p in parts)
    got = {p.name: _sha(p) for p in (tmp_path / "dask").glob("*.xlsx")}
    assert got == expected


def test_cli_refuses_an_address_for_threads(prefect_harness, capsys):
    from flows.cli import main
    assert main(["run", "--task-runner", "threads", "--dask-address", "tcp://127.0.0.1:1"]) == 2
    assert "needs the dask task runner" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--partition-rows", "0"])
    assert "above 0" in capsys.readouterr().err


@pytest.mark.slow  # final runs of the sample group
def test_redate_a_group_draft_bills_only_that_companys_rows(tmp_path):
    from flows import commands, pipeline
    from flows.state_store import open_store

    store = open_store(tmp_path / "state.sqlite")
    outbox = tmp_path / "outbox"
    ex, _, _ = _validated()
    first = pipeline.run(pipeline.Request(source=str(SAMPLE_ORDERS), config=str(GROUP),
                                          outbox=outbox, invoice_date=INVOICE_DATE,
                                          state=store)).results
    rows_200 = first[1].rendered.manifest["rows_read"]
    old = first[1].run_id
    result = commands.redate(store, old, INVOICE_DATE.replace(day=29))
    assert result.rendered.name.startswith("200_2026-10-29_")
    assert result.rendered.manifest["rows_read"] == rows_200 < ex.rows
    assert result.rendered.manifest["invoices"] == first[1].rendered.manifest["invoices"]
    assert (outbox / "discarded" / first[1].rendered.name).exists()
    # and the new draft can be re-dated again, still as company 200 of the group
    again = commands.redate(store, result.run_id, INVOICE_DATE.replace(day=28))
    assert again.rendered.manifest["rows_read"] == rows_200


def test_a_file_dropped_in_the_inbox_is_billed_for_every_company(prefect_harness, tmp_path,
                                                                 capsys):
    from flows import watch
    from test_inbox import watch_args

    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    shutil.copy2(SAMPLE_ORDERS, inbox / "orders.csv")
    _, args = watch_args("--inbox", str(inbox), "--outbox", str(outbox), "--config", str(GROUP),
                         "--invoice-date", INVOICE_DATE.isoformat(), "--settle", "0", "--once")
    assert watch.watch_main(args) == 0  # older than the settle time: taken at first sight
    out = capsys.readouterr().out
    assert "processed orders.csv" in out
    assert "[100_2026-10-30_" in out and ", 200_2026-10-30_" in out
    assert sorted(p.name[:4] for p in outbox.glob("*.xlsx")) == ["100_", "200_"]


# -- one booking, one billing, whatever the configuration ---------------------------------------

def _group_final(store, outbox, source, invoice_date=INVOICE_DATE):
    from flows import pipeline
    done = pipeline.run(pipeline.Request(source=str(source), config=str(GROUP), outbox=outbox,
                                         invoice_date=invoice_date, draft=False, state=store))
    return {c.config.settings.code: r for c, r in zip(done.companies, done.results)}


def _active(store) -> dict[str, list[str]]:
    """booking number -> the companies whose invoices bill it now."""
    from sqlalchemy import text
    with store.connect() as conn:
        rows = conn.execute(text("SELECT booking_number, financial_company FROM billed_orders "
                                 "WHERE active = 1")).all()
    out: dict[str, list[str]] = {}
    for booking, company in rows:
        out.setdefault(booking, []).append(company)
    return out


def _reasons(result) -> dict[str, list[str]]:
    p = result.billing.problems
    return {r: sorted(p.loc[p["reason"] == r, "booking_number"]) for r in p["reason"].unique()}


def test_the_group_run_after_the_one_company_run_bills_nothing_twice(tmp_path, sample_config):
    """sample_data/ billed every order under company 100; the group configuration on the same
    store gives the ORG-20 orders to company 200: they are already billed, not billed again."""
    from flows import stages
    from flows.state_store import open_store

    store, outbox = open_store(tmp_path / "state.sqlite"), tmp_path / "outbox"
    single = bill(str(SAMPLE_ORDERS), sample_config, stages.default_params(
        INVOICE_DATE, None, None, sample_config, draft=False), outbox, store)
    before = _active(store)
    org20 = set(pd.read_csv(SAMPLE_ORDERS, dtype=str).query("`Org ID (Produkt)` == 'ORG-20'")
                ["Buchungsnummer"])
    billed_org20 = sorted(org20 & set(before))
    assert len(billed_org20) > 20 and all(v == ["100"] for v in before.values())

    group = _group_final(store, outbox, SAMPLE_ORDERS)
    assert _active(store) == before  # nothing billed again, nothing credited
    for company, result in group.items():
        manifest = result.rendered.manifest
        assert (manifest["invoices"], manifest["credit_notes"]) == (0, 0), company
    assert _reasons(group["200"])["ALREADY_BILLED_ELSEWHERE"] == billed_org20
    assert group["100"].rendered.manifest["rows_already_billed"] == \
        single.rendered.manifest["rows_billed"] - len(billed_org20)
    assert group["200"].rendered.manifest["rows_already_billed"] == len(billed_org20)
    store.engine.dispose()


def test_an_order_changed_after_billing_by_another_company_is_credited_there(tmp_path,
                                                                            sample_config):
    """Booking 187656 (ORG-20) was billed by company 100, then its price changed. Company
    200's run does not bill it (nor credit company 100's invoice): it reports it. Once
    company 100 credits that invoice, company 200 bills the order."""
    from flows import stages
    from flows.state_store import open_store

    store, outbox = open_store(tmp_path / "state.sqlite"), tmp_path / "outbox"
    final = stages.default_params(INVOICE_DATE, None, None, sample_config, draft=False)
    bill(str(SAMPLE_ORDERS), sample_config, final, outbox, store)
    lines = SAMPLE_ORDERS.read_text("utf-8").splitlines(keepends=True)
    changed = tmp_path / "changed.csv"
    changed.write_text("".join(ln.replace("882.00,", "900.00,") if ",187656," in ln
                               else ln for ln in lines), encoding="utf-8")
    group = _group_final(store, outbox, changed)
    assert _reasons(group["200"])["BILLED_ELSEWHERE_CHANGED"] == ["187656"]
    assert group["100"].rendered.manifest["credit_notes"] == 0
    assert _active(store)["187656"] == ["100"]

    with store.connect() as conn:
        from sqlalchemy import text
        invoice = conn.execute(text("SELECT invoice_number FROM billed_orders WHERE "
                                    "booking_number = '187656'")).scalar()
    credit(invoice, False, sample_config, final, outbox, store)
    later = _group_final(store, outbox, changed, INVOICE_DATE.replace(day=31))
    assert "187656" in set(later["200"].billing.lines["booking_number"])
    active = _active(store)
    assert active["187656"] == ["200"] and all(len(v) == 1 for v in active.values())
    store.engine.dispose()


def test_the_flows_task_runner_is_chosen_when_a_run_starts(monkeypatch):
    """Not when flows/billing_run.py is imported: a worker's environment decides for the runs
    it starts (prefect.yaml passes BILLING_TASK_RUNNER / BILLING_DASK_ADDRESS)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows import task_runners
    from flows.billing_run import billing_run

    assert isinstance(billing_run.task_runner, task_runners.AtRunStart)
    runner = billing_run.task_runner.duplicate()
    monkeypatch.setenv("BILLING_TASK_RUNNER", "no-such-runner")
    with pytest.raises(task_runners.TaskRunnerError, match="no-such-runner"):
        runner.__enter__()
    monkeypatch.setenv("BILLING_TASK_RUNNER", "threads")
    with runner.duplicate() as started:
        assert isinstance(started._inner, ThreadPoolTaskRunner)
