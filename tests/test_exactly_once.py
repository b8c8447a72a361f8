"""Exactly once, across processes and crashes (DESIGN.md §5 Composition, §7 State).

- Two final runs started at the same moment in two processes, on overlapping sources, against
  one state store: no booking is billed twice, invoice numbers are unique and gapless across
  both workbooks, and both workbooks are delivered.
- A final run killed (``os._exit``) at each failpoint, then run again: exactly one workbook and
  manifest in the outbox, nothing half-written left, every order billed once, numbers gapless
  from 000001, the run delivered.

Both on SQLite and on PostgreSQL (see test_state_store.py for how the server is found).
The concurrent and the crashing runs are started with multiprocessing's 'forkserver' (a clean
process forked from a server that has imported the code once: as separate as 'spawn', without
paying the imports for each of the eight crashes and the ten concurrent runs).
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

from billing_runs import bill, credit
from conftest import INVOICE_DATE, SAMPLE_ORDERS
from flows import stages, state_store
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
    return stages.default_params(INVOICE_DATE, None, None, config, draft=False)


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
    from flows import stages as jb, state_store as ss
    params = jb.default_params(INVOICE_DATE, None, None, config, draft=False)
    barrier.wait(TIMEOUT)  # both processes are ready: go
    store = ss.open_store(url)  # a fresh store: both also migrate it at the same time
    bill(source, config, params, Path(outbox), store)
    store.engine.dispose()


def test_two_final_runs_at_once_bill_each_order_once(store_url, tmp_path, sample_config,
                                                    crash_context):
    first = cut_source(tmp_path / "rows_1_150.csv", 1, 150)
    second = cut_source(tmp_path / "rows_100_240.csv", 100, 240)
    outbox = tmp_path / "outbox"
    ctx = crash_context
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
    from flows import stages as jb, state_store as ss

    def failpoint(name: str) -> None:
        if name == point:
            os._exit(CRASH_EXIT)  # no cleanup, no rollback, no unlink: as if killed

    store = ss.open_store(url)
    params = jb.default_params(INVOICE_DATE, None, None, config, draft=False)
    bill(source, config, params, Path(outbox), store, crash_test=failpoint)
    os._exit(0)  # the failpoint was never reached


@pytest.fixture(scope="module")
def crash_context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["flows.commit_step", "flows.stages", "openpyxl", "psycopg",
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
        result = bill(source, sample_config, final_params(sample_config),
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

    from flows import stages, state_store
    from flows.config import load_config
    from conftest import SAMPLE, SAMPLE_ORDERS

    cfg = load_config(SAMPLE)
    store = state_store.open_store(tmp_path / "state.sqlite")
    outbox = tmp_path / "outbox"
    final = stages.default_params(dt.date(2026, 10, 30), None, None, cfg, draft=False)
    bill(str(SAMPLE_ORDERS), cfg, final, outbox, store)

    class Died(Exception):
        pass

    def die(point):
        if point == "after_commit":
            raise Died(point)

    with pytest.raises(Died):
        credit("RE-2026-000001", True, cfg, final, outbox, store,
                                   crash_test=die)
    again = credit("RE-2026-000001", True, cfg, final, outbox, store)
    assert again.already_delivered
    with store.connect() as conn:
        credit_runs = [r for r in state_store.runs(conn, "final")
                       if r["run_id"] == again.run_id]
    assert [r["status"] for r in credit_runs] == ["delivered"]
    assert (outbox / credit_runs[0]["workbook"]).exists()
    assert not list(outbox.glob(".*.pending"))


# -- nothing staged is left behind --------------------------------------------------------------

def staged_entries(outbox: Path) -> list[str]:
    return sorted(n for n in os.listdir(outbox) if n.endswith((".pending", ".part")))


def run_ids(store) -> list[str]:
    with store.connect() as conn:
        return [r["run_id"] for r in state_store.runs(conn)]


def test_a_run_killed_before_its_commit_is_swept_by_the_next_run_of_other_inputs(
        store_url, tmp_path, sample_config, crash_context):
    """Killed between render and commit: its staged workbook and QR-bill folder stay, owned by
    no run. The next run — of other inputs, so it does not write the same names — removes
    them (their writer is gone) with a log line, and delivers only its own."""
    first = str(cut_source(tmp_path / "first.csv", 1, 40))
    outbox = tmp_path / "outbox"
    child = crash_context.Process(target=_crash_child, args=(store_url, first, sample_config,
                                                             str(outbox), "after_render"))
    child.start()
    child.join(TIMEOUT)
    assert child.exitcode == CRASH_EXIT
    left = staged_entries(outbox)
    assert len(left) == 2 and all(f".{child.pid}@" in n for n in left)  # workbook, QR folder

    store = open_store(store_url)
    try:
        assert run_ids(store) == []
        second = str(cut_source(tmp_path / "second.csv", 41, 80))
        import logging
        lines: list[str] = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: lines.append(record.getMessage())
        logging.getLogger("flows.commit_step").addHandler(handler)
        try:
            result = bill(second, sample_config, final_params(sample_config),
                                         outbox, store)
        finally:
            logging.getLogger("flows.commit_step").removeHandler(handler)
        assert staged_entries(outbox) == [] and leftovers(outbox) == []
        assert sorted(os.listdir(outbox)) == sorted(
            [result.delivery.workbook.name, result.delivery.manifest.name,
             result.rendered.manifest["qr_bills"]["folder"]])
        assert sorted(n for n in left if any(f"removed {n} from the outbox" in m
                                             for m in lines)) == left
        assert len(lines) == 2 and all(f"process {child.pid}) is gone" in m for m in lines)
    finally:
        store.engine.dispose()


def _signal_child(url: str, source: str, config, outbox: str, signum: int) -> None:
    import signal as sg
    import time
    from flows import cli, stages as jb, state_store as ss

    cli.terminate_cleanly()  # what `billing-export` installs for every command

    def failpoint(name: str) -> None:
        if name == "after_render":
            os.kill(os.getpid(), signum)
            time.sleep(60)  # the signal arrives here

    store = ss.open_store(url)
    params = jb.default_params(INVOICE_DATE, None, None, config, draft=False)
    try:
        bill(source, config, params, Path(outbox), store, crash_test=failpoint)
    except SystemExit as stop:
        os._exit(stop.code)
    except KeyboardInterrupt:
        os._exit(128 + sg.SIGINT)
    os._exit(0)


@pytest.mark.parametrize("signum", [15, 2], ids=["SIGTERM", "SIGINT"])
def test_a_run_stopped_by_a_signal_removes_what_it_staged(signum, tmp_path, sample_config,
                                                          crash_context):
    source = str(cut_source(tmp_path / "orders.csv", 1, 40))
    outbox = tmp_path / "outbox"
    url = str(tmp_path / "state.sqlite")
    child = crash_context.Process(target=_signal_child, args=(url, source, sample_config,
                                                              str(outbox), signum))
    child.start()
    child.join(TIMEOUT)
    assert child.exitcode == 128 + signum
    assert os.listdir(outbox) == []  # the dying run removed its staged files itself
    store = open_store(url)
    try:
        assert run_ids(store) == []
        result = bill(source, sample_config, final_params(sample_config),
                                     outbox, store)
        assert not result.already_delivered and invoice_numbers(result.delivery.workbook)[0] \
            == "RE-2026-000001"
    finally:
        store.engine.dispose()


def test_a_prefect_termination_before_the_commit_removes_what_was_staged(tmp_path,
                                                                        sample_config):
    """Inside a flow run Prefect turns SIGTERM into TerminationSignal (a BaseException)."""
    from prefect.exceptions import TerminationSignal

    def failpoint(name):
        if name == "before_commit":
            raise TerminationSignal(15)

    outbox = tmp_path / "outbox"
    store = open_store(tmp_path / "state.sqlite")
    with pytest.raises(TerminationSignal):
        bill(str(cut_source(tmp_path / "o.csv", 1, 40)), sample_config,
                            final_params(sample_config), outbox, store, crash_test=failpoint)
    assert os.listdir(outbox) == [] and run_ids(store) == []
    store.engine.dispose()


@pytest.fixture
def small_disk(tmp_path):
    """A real file system of 512 KiB (tmpfs) as the outbox; root only. A delivery of the
    first 8 sample rows (with its QR-bills) takes about half of it."""
    import subprocess
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs",
                                            str(disk)], capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield disk
    finally:
        held = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                if os.path.exists(f"/proc/self/fd/{fd}")
                and os.readlink(f"/proc/self/fd/{fd}").startswith(str(disk))]
        subprocess.run(["umount", "-l", str(disk)], check=True)
        assert held == [], "files on the disk left open"


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    filler = disk / "filler.bin"
    with open(filler, "ab") as f:
        f.write(b"\0" * max(free - leave, 0))
    return filler


def test_a_state_store_on_a_full_disk_is_a_state_error_and_loses_nothing(small_disk):
    """The SQLite store is Python's own sqlite3: a write that finds the disk full rolls its
    transaction back and is a StateError (an environment problem: its message, its exit code,
    no traceback); what was committed before stays, and the store works again with room."""
    from flows import errors
    store = open_store(small_disk / "state.sqlite")
    with store.locked("100") as conn:
        assert state_store.next_numbers(conn, "100", "RE", 2026, 1) == ["RE-2026-000001"]
    filler = fill(small_disk, 0)
    with pytest.raises(errors.StateError) as err:
        with store.locked("100") as conn:
            state_store.next_numbers(conn, "100", "RE", 2026, 5)
            state_store.record_run(conn, "RUNFULL1", "100", "final", "pending", "2026-10-30",
                                   {"padding": "x" * 200_000})
    assert "disk is full" in str(err.value) and str(small_disk) in str(err.value)
    assert errors.classify(err.value).exit_code == errors.StateError("x").exit_code
    filler.unlink()
    with store.connect() as conn:
        assert state_store.run_record(conn, "RUNFULL1") is None  # rolled back, numbers too
        assert state_store.next_numbers(conn, "100", "RE", 2026, 1) == ["RE-2026-000002"]
    store.engine.dispose()


@pytest.mark.parametrize("draft", [False, True], ids=["final", "draft"])
def test_a_full_disk_while_rendering_leaves_nothing_and_bills_nothing(draft, small_disk,
                                                                     tmp_path, sample_config):
    from flows.outbox import DeliveryError

    source = str(cut_source(tmp_path / "orders.csv", 1, 8))  # 260 KiB with QR-bills
    params = stages.default_params(INVOICE_DATE, None, None, sample_config, draft=draft)
    outbox = small_disk / "outbox"
    outbox.mkdir()
    filler = fill(small_disk, 8 * 1024)
    store = open_store(tmp_path / "state.sqlite")
    try:
        with pytest.raises(DeliveryError, match="nothing was billed: No space left on device"):
            bill(source, sample_config, params, outbox, store)
        assert os.listdir(outbox) == []
        assert run_ids(store) == []
        filler.unlink()
        result = bill(source, sample_config, params, outbox, store)
        assert staged_entries(outbox) == [] and result.delivery.workbook.exists()
    finally:
        store.engine.dispose()


def test_a_full_disk_at_delivery_is_finished_by_the_next_run(small_disk, tmp_path,
                                                            sample_config):
    """The disk fills between render and delivery: the run is committed, its staged file is
    kept for the next run (a pending run owns it), which delivers it once there is room."""
    from flows.outbox import DeliveryError

    source = str(cut_source(tmp_path / "orders.csv", 1, 8))  # 260 KiB with QR-bills
    outbox = small_disk / "outbox"
    outbox.mkdir()
    store = open_store(tmp_path / "state.sqlite")
    fillers = []

    def failpoint(name):
        if name == "after_commit":
            fillers.append(fill(small_disk, 0))

    try:
        with pytest.raises(DeliveryError, match="No space left on device"):
            bill(source, sample_config, final_params(sample_config), outbox,
                                store, crash_test=failpoint)
        with store.connect() as conn:
            (pending,) = state_store.pending_runs(conn, "100")
        assert not any(n.endswith(".part") for n in os.listdir(outbox))
        fillers[0].unlink()
        result = bill(source, sample_config, final_params(sample_config),
                                     outbox, store)
        assert result.already_delivered and result.recovered == [pending["workbook"]]
        assert staged_entries(outbox) == []
        name = pending["workbook"]
        manifest = json.loads((outbox / (name[:-5] + ".manifest.json")).read_text("utf-8"))
        assert manifest["sha256"] == hashlib.sha256((outbox / name).read_bytes()).hexdigest()
        assert_qr_bills_complete(outbox, manifest)
    finally:
        store.engine.dispose()


def _identical_child(url: str, source: str, config, outbox: str, barrier, results) -> None:
    from flows import stages as jb, state_store as ss
    params = jb.default_params(INVOICE_DATE, None, None, config, draft=True)
    barrier.wait(TIMEOUT)
    store = ss.open_store(url)
    result = bill(source, config, params, Path(outbox), store)
    results.put("already delivered" if result.already_delivered else "delivered")
    store.engine.dispose()


def test_three_identical_drafts_started_at_once_deliver_once(store_url, tmp_path,
                                                             sample_config, crash_context):
    source = str(cut_source(tmp_path / "orders.csv", 1, 60))
    outbox = tmp_path / "outbox"
    ctx = crash_context
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_identical_child, args=(store_url, source, sample_config,
                                                        str(outbox), barrier, results))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert sorted(results.get(timeout=5) for _ in procs) == \
        ["already delivered", "already delivered", "delivered"]
    assert leftovers(outbox) == []
    (workbook,) = outbox.glob("*.xlsx")
    manifest = json.loads((outbox / (workbook.stem + ".manifest.json")).read_text("utf-8"))
    assert manifest["sha256"] == hashlib.sha256(workbook.read_bytes()).hexdigest()
    assert_qr_bills_complete(outbox, manifest)


def test_a_full_disk_ends_the_flow_failed_with_a_message_not_a_traceback(
        prefect_harness, small_disk, tmp_path, capfd):
    from flows.billing_run import billing_run

    source = str(cut_source(tmp_path / "orders.csv", 1, 8))
    outbox = small_disk / "outbox"
    outbox.mkdir()
    fill(small_disk, 8 * 1024)
    state = billing_run(source=source, outbox=str(outbox), state=str(tmp_path / "s.sqlite"),
                        invoice_date=INVOICE_DATE, draft=False, return_state=True)
    assert state.is_failed()
    assert "nothing was billed: No space left on device" in state.message
    out = capfd.readouterr()
    assert "No space left on device" in out.err  # the run's log reached this test's stderr
    assert "Traceback" not in out.out + out.err
    assert os.listdir(outbox) == []
