"""Exactly once, across processes and crashes (DESIGN.md §5 Composition, §7 State).

- Two final runs started at the same moment in two processes, on overlapping sources, against
  one state store: no booking is billed twice, invoice numbers are unique and gapless across
  both workbooks, and both workbooks are delivered.
- A final run killed (``os._exit``) at each failpoint, then run again: exactly one workbook and
  manifest in the outbox, nothing half-written left, every order billed once, numbers gapless
  from 000001, the run delivered.

Both on SQLite and on PostgreSQL (see test_state_store.py for how the server is found).
The concurrent runs are started with multiprocessing's 'spawn'; the crashing runs with
'forkserver' (a clean process forked from a server that has imported the code once: as
separate as 'spawn', without paying the imports for each of the eight crashes).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import text

from conftest import INVOICE_DATE, SAMPLE_ORDERS
from flows import final_run, job, state_store
from flows.state_store import open_store
from test_state_store import store_location

FAILPOINTS = ["after_render", "before_commit", "after_commit", "after_deliver"]
CRASH_EXIT = 70
TIMEOUT = 180


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    return store_location(request, tmp_path)


def cut_source(path: Path, first: int, last: int) -> Path:
    """Data rows ``first``..``last`` (1-based, inclusive) of the sample, header kept."""
    lines = SAMPLE_ORDERS.read_bytes().decode("utf-8").splitlines(keepends=True)
    assert len(lines) == 241  # one header, 240 single-line records
    path.write_text("".join([lines[0]] + lines[first:last + 1]), encoding="utf-8")
    return path


def final_params(config):
    return job.default_params(INVOICE_DATE, None, None, config, draft=False)


def invoice_numbers(workbook: Path) -> list[str]:
    wb = openpyxl.load_workbook(workbook, read_only=True)
    rows = list(wb["Rechnungen"].iter_rows(min_row=2, values_only=True))
    header = next(wb["Rechnungen"].iter_rows(max_row=1, values_only=True))
    wb.close()
    i = header.index("Rechnungsnummer")
    return [r[i] for r in rows]


def line_bookings(workbook: Path) -> list[str]:
    wb = openpyxl.load_workbook(workbook, read_only=True)
    header = next(wb["Positionen"].iter_rows(max_row=1, values_only=True))
    rows = list(wb["Positionen"].iter_rows(min_row=2, values_only=True))
    wb.close()
    i = header.index("Buchungsnummer")
    return [r[i] for r in rows]


def gapless(numbers: list[str]) -> list[str]:
    return [f"RE-2026-{n:06d}" for n in range(1, len(numbers) + 1)]


def leftovers(outbox: Path) -> list[str]:
    """Staged or half-written files (hidden names included)."""
    return sorted(n for n in os.listdir(outbox)
                  if n.endswith((".part", ".pending")) or n.startswith("."))


def assert_qr_bills_complete(outbox: Path, manifest: dict) -> None:
    """Beside the workbook only its QR-bill folder (when the company issues QR-bills), whole:
    exactly the files its manifest lists, with their sha256."""
    folders = sorted(n for n in os.listdir(outbox) if (outbox / n).is_dir())
    qr = manifest.get("qr_bills")
    if not qr:
        assert folders == []
        return
    assert folders == [qr["folder"]]
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in (outbox / qr["folder"]).iterdir()}
    assert files == qr["files"]


def active_bookings(store) -> list[str]:
    with store.connect() as conn:
        return list(state_store.active_billed(conn, "100")["booking_number"])


# -- two runs at the same time ----------------------------------------------------------------

def _concurrent_child(url: str, source: str, config, outbox: str, barrier) -> None:
    from flows import final_run as fr, job as jb, state_store as ss
    params = jb.default_params(INVOICE_DATE, None, None, config, draft=False)
    barrier.wait(TIMEOUT)  # both processes are ready: go
    store = ss.open_store(url)  # a fresh store: both also migrate it at the same time
    fr.run_final(source, config, params, Path(outbox), store)
    store.engine.dispose()


def test_two_final_runs_at_once_bill_each_order_once(store_url, tmp_path, sample_config):
    first = cut_source(tmp_path / "rows_1_150.csv", 1, 150)
    second = cut_source(tmp_path / "rows_100_240.csv", 100, 240)
    outbox = tmp_path / "outbox"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_concurrent_child,
                         args=(store_url, str(src), sample_config, str(outbox), barrier))
             for src in (first, second)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT)
    assert [p.exitcode for p in procs] == [0, 0]

    workbooks = sorted(outbox.glob("*.xlsx"))
    manifests = [json.loads(w.with_name(w.stem + ".manifest.json").read_text("utf-8"))
                 for w in workbooks]
    assert len(workbooks) == 2
    assert leftovers(outbox) == []
    assert sorted(n for n in os.listdir(outbox) if (outbox / n).is_file()) == sorted(
        [w.name for w in workbooks] + [w.stem + ".manifest.json" for w in workbooks])
    for w, m in zip(workbooks, manifests):
        assert m["sha256"] == hashlib.sha256(w.read_bytes()).hexdigest()
        if m.get("qr_bills"):
            assert (outbox / m["qr_bills"]["folder"]).is_dir()
    numbers = [n for w in workbooks for n in invoice_numbers(w)]
    assert len(numbers) == len(set(numbers)) == sum(m["invoices"] for m in manifests) > 0
    assert sorted(numbers) == gapless(numbers)
    bookings = [b for w in workbooks for b in line_bookings(w)]
    assert len(bookings) == len(set(bookings)), "a booking is on both workbooks"
    # the overlap (rows 100-150) was billed by whichever run came first, and is "already
    # billed" for the other one
    assert sorted(m["rows_already_billed"] > 0 for m in manifests) == [False, True]
    for m in manifests:
        assert m["rows_read"] == (m["rows_billed"] + m["rows_rejected"]
                                  + m["rows_not_billable"] + m["rows_already_billed"])
    assert {m["rows_read"] for m in manifests} == {150, 141}

    store = open_store(store_url)
    try:
        billed = active_bookings(store)
        assert len(billed) == len(set(billed)) == len(bookings) == \
            sum(m["rows_billed"] for m in manifests)
        assert set(billed) == set(bookings)
        with store.connect() as conn:
            assert conn.execute(text("SELECT last_number FROM number_series")).scalar() == \
                len(numbers)
            stored = sorted(r[0] for r in conn.execute(text("SELECT invoice_number FROM "
                                                            "invoices")))
            runs = state_store.runs(conn, "final")
            assert conn.execute(text("SELECT COUNT(*) FROM schema_version")).scalar() == 1
        assert stored == sorted(numbers)
        assert sorted((r["status"], r["workbook"]) for r in runs) == \
            [("delivered", w.name) for w in workbooks]
    finally:
        store.engine.dispose()


# -- a crash at every failpoint ---------------------------------------------------------------

def _crash_child(url: str, source: str, config, outbox: str, point: str) -> None:
    from flows import final_run as fr, job as jb, state_store as ss

    def failpoint(name: str) -> None:
        if name == point:
            os._exit(CRASH_EXIT)  # no cleanup, no rollback, no unlink: as if killed

    store = ss.open_store(url)
    params = jb.default_params(INVOICE_DATE, None, None, config, draft=False)
    fr.run_final(source, config, params, Path(outbox), store, failpoint=failpoint)
    os._exit(0)  # the failpoint was never reached


@pytest.fixture(scope="module")
def crash_context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["flows.final_run", "flows.job", "openpyxl", "psycopg",
                                "sqlalchemy.dialects.postgresql.psycopg", __name__])
    return ctx


@pytest.mark.parametrize("point", FAILPOINTS)
def test_crash_then_rerun_delivers_exactly_once(point, store_url, tmp_path, sample_config,
                                               crash_context):
    source = str(cut_source(tmp_path / "orders.csv", 1, 40))
    outbox = tmp_path / "outbox"
    child = crash_context.Process(target=_crash_child, args=(store_url, source, sample_config,
                                                             str(outbox), point))
    child.start()
    child.join(TIMEOUT)
    assert child.exitcode == CRASH_EXIT, f"the run did not die at {point}"

    store = open_store(store_url)
    try:
        result = final_run.run_final(source, sample_config, final_params(sample_config),
                                     outbox, store)
        name = f"100_{INVOICE_DATE.isoformat()}_{result.run_id}.xlsx"
        committed = point in ("after_commit", "after_deliver")
        # a committed run is finished by the rerun (from the staged file); else billed anew
        assert result.already_delivered == committed
        assert result.recovered == ([name] if committed else [])

        manifest_name = name[:-len(".xlsx")] + ".manifest.json"
        assert leftovers(outbox) == []
        assert sorted(n for n in os.listdir(outbox) if (outbox / n).is_file()) == \
            sorted([name, manifest_name])
        workbook = outbox / name
        digest = hashlib.sha256(workbook.read_bytes()).hexdigest()
        manifest = json.loads((outbox / manifest_name).read_text("utf-8"))
        assert manifest["sha256"] == digest and manifest["file"] == name
        assert_qr_bills_complete(outbox, manifest)
        assert manifest["rows_read"] == (manifest["rows_billed"] + manifest["rows_rejected"]
                                         + manifest["rows_not_billable"]
                                         + manifest["rows_already_billed"])
        assert manifest["rows_already_billed"] == 0 and manifest["rows_billed"] > 0

        numbers = invoice_numbers(workbook)
        assert numbers == gapless(numbers) and len(numbers) == manifest["invoices"] > 1
        bookings = line_bookings(workbook)
        billed = active_bookings(store)
        assert len(billed) == len(set(billed)) == manifest["rows_billed"] == len(bookings)
        assert set(billed) == set(bookings)
        with store.connect() as conn:
            runs = state_store.runs(conn)
            deliveries = conn.execute(text("SELECT file_name, sha256, run_id FROM deliveries")) \
                .all()
            stored = sorted(r[0] for r in conn.execute(text("SELECT invoice_number FROM "
                                                            "invoices")))
            last = conn.execute(text("SELECT last_number FROM number_series")).scalar()
        assert [(r["run_id"], r["mode"], r["status"], r["workbook"], r["sha256"])
                for r in runs] == [(result.run_id, "final", "delivered", name, digest)]
        assert [tuple(d) for d in deliveries] == [(name, digest, result.run_id)]
        assert stored == numbers and last == len(numbers)
    finally:
        store.engine.dispose()


@pytest.mark.slow  # a final run of the sample, then the credit command twice
def test_credit_command_rerun_after_crash_delivers_once(tmp_path):
    """A credit command killed after its commit is finished by running it again."""
    import datetime as dt

    from flows import final_run, job, state_store
    from flows.config import load_config
    from conftest import SAMPLE, SAMPLE_ORDERS

    cfg = load_config(SAMPLE)
    store = state_store.open_store(tmp_path / "state.sqlite")
    outbox = tmp_path / "outbox"
    final = job.default_params(dt.date(2026, 10, 30), None, None, cfg, draft=False)
    final_run.run_final(str(SAMPLE_ORDERS), cfg, final, outbox, store)

    class Died(Exception):
        pass

    def die(point):
        if point == "after_commit":
            raise Died(point)

    with pytest.raises(Died):
        final_run.credit_on_demand("RE-2026-000001", True, cfg, final, outbox, store,
                                   failpoint=die)
    again = final_run.credit_on_demand("RE-2026-000001", True, cfg, final, outbox, store)
    assert again.already_delivered
    with store.connect() as conn:
        credit_runs = [r for r in state_store.runs(conn, "final")
                       if r["run_id"] == again.run_id]
    assert [r["status"] for r in credit_runs] == ["delivered"]
    assert (outbox / credit_runs[0]["workbook"]).exists()
    assert not list(outbox.glob(".*.pending"))
