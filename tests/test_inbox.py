"""The inbox (DESIGN.md §7): stable files only, billed once per content, filed, crash-safe.

Most tests call the plain functions of ``flows.inbox`` (and its parts ``inbox_files``,
``inbox_ledger``) with a settle time of 0 and explicit
``now`` values; ``twice`` has a first poll see the files while they are too recent, the next
take what did not change. The Prefect flow
and the ``watch`` command run under the session's Prefect harness (from test_flow).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest

import billing_runs
from conftest import INVOICE_DATE, SAMPLE, SAMPLE_ORDERS
from flows import inbox as ib
from flows import inbox_files, inbox_ledger, watch


@pytest.fixture
def box(tmp_path):
    (tmp_path / "inbox").mkdir()
    return tmp_path / "inbox", tmp_path / "outbox"


@pytest.fixture
def bill(box, sample_config):
    return ib.local_biller(sample_config, box[1])


def small_orders(lines: int = 12) -> bytes:
    """The sample's header and first rows: a real export, billed in a fraction of a second."""
    return b"".join(SAMPLE_ORDERS.read_bytes().splitlines(keepends=True)[:lines])


def without_column(header: str) -> bytes:
    rows = list(csv.reader(io.StringIO(small_orders().decode("utf-8"))))
    i = rows[0].index(header)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(r[:i] + r[i + 1:] for r in rows)
    return out.getvalue().encode("utf-8")


def twice(inbox, bill, now=None, **kw):
    """Two polls: the first sees the files (too recent for it), the second takes those that
    did not change."""
    now = time.time() + 1 if now is None else now
    assert ib.poll(inbox, bill, now=now, settle=1e9, invoice_date=INVOICE_DATE, **kw) == []
    return ib.poll(inbox, bill, now=now + 1, settle=0, invoice_date=INVOICE_DATE, **kw)


def workbooks(outbox: Path) -> list[str]:
    return sorted(p.name for p in outbox.glob("*.xlsx")) if outbox.exists() else []


def ledger(inbox: Path) -> dict:
    return json.loads((inbox / ".billing-export" / "ledger.json").read_text())["files"]


def today(now=None) -> str:
    return dt.date.fromtimestamp(now or time.time()).isoformat()


def never(path, date):
    raise AssertionError(f"{path.name} must not be billed")


def test_dropped_export_is_billed_once_and_filed_by_date(box, bill):
    inbox, outbox = box
    shutil.copy(SAMPLE_ORDERS, inbox / "booking_orders.csv")
    [taken] = twice(inbox, bill)
    assert (taken.outcome, taken.moved_to) == ("processed",
                                               f"processed/{today()}/booking_orders.csv")
    assert workbooks(outbox) == [taken.workbook]
    assert not (inbox / "booking_orders.csv").exists()
    assert (inbox / taken.moved_to).read_bytes() == SAMPLE_ORDERS.read_bytes()
    [entry] = ledger(inbox).values()
    assert (entry["status"], entry["file"], entry["workbook"]) == ("billed", "booking_orders.csv",
                                                                   taken.workbook)
    assert entry["invoice_date"] == INVOICE_DATE.isoformat()

    # the same bytes again, under another name and under the same name: not billed again
    shutil.copy(SAMPLE_ORDERS, inbox / "copy of orders.csv")
    shutil.copy(SAMPLE_ORDERS, inbox / "booking_orders.csv")
    again = twice(inbox, bill)
    assert sorted((t.outcome, t.moved_to) for t in again) == [
        ("duplicate", f"processed/{today()}/booking_orders-1.csv"),
        ("duplicate", f"processed/{today()}/copy of orders.csv")]
    assert workbooks(outbox) == [taken.workbook]
    note = (inbox / f"processed/{today()}/copy of orders.csv.duplicate.txt").read_text()
    assert "booking_orders.csv" in note and taken.workbook in note
    assert "Nothing was billed" in note
    [entry] = ledger(inbox).values()
    assert sorted(d["file"] for d in entry["duplicates"]) == ["booking_orders.csv",
                                                             "copy of orders.csv"]
    assert sorted(p.name for p in inbox.iterdir()) == [".billing-export", "processed"]


def test_half_copied_file_waits_until_size_and_time_are_stable(box):
    inbox, _ = box
    part = inbox / "orders.csv"
    data = small_orders()
    part.write_bytes(data[:100])
    t0 = time.time() + 5
    os.utime(part, (t0, t0))
    seen = {}
    assert inbox_files.scan(inbox, seen, now=t0 + 1, settle=2) == []  # first sight, too recent
    with open(part, "ab") as f:  # the copy goes on between two polls
        f.write(data[100:])
    os.utime(part, (t0, t0))  # even with the same mtime: the size changed
    assert inbox_files.scan(inbox, seen, now=t0 + 20, settle=2) == []
    os.utime(part, (t0 + 21, t0 + 21))
    assert inbox_files.scan(inbox, seen, now=t0 + 22, settle=2) == []  # size same, mtime changed
    assert inbox_files.scan(inbox, seen, now=t0 + 22.5, settle=2) == []  # unchanged but too recent
    assert inbox_files.scan(inbox, seen, now=t0 + 23, settle=2) == [part]
    assert seen == {"orders.csv": [len(data), part.stat().st_mtime_ns]}


def test_temporary_and_hidden_files_are_left_alone(box):
    inbox, _ = box
    names = ["~$orders.xlsx", ".hidden.csv", "orders.csv.part", "Thumbs.db"]
    for name in names:
        (inbox / name).write_bytes(small_orders())
    (inbox / "sub.csv").mkdir()
    assert twice(inbox, never) == []
    assert sorted(p.name for p in inbox.iterdir()) == sorted(
        names + ["sub.csv", ".billing-export"])


def test_openolat_excel_export_is_billed_and_its_lock_file_ignored(box, bill):
    inbox, outbox = box
    export = sorted(SAMPLE.glob("Orders_*.xlsx"))[0]
    shutil.copy(export, inbox / export.name)
    (inbox / f"~${export.name}").write_bytes(b"Excel has it open")
    (inbox / "cut off.xlsx").write_bytes(export.read_bytes()[:5000])  # an interrupted download
    taken = {t.file: t for t in twice(inbox, bill)}
    assert set(taken) == {export.name, "cut off.xlsx"}
    assert taken[export.name].outcome == "processed"
    assert workbooks(outbox) == [taken[export.name].workbook]
    assert taken["cut off.xlsx"].outcome == "failed"
    assert "cut off.xlsx" in (inbox / "failed" / "cut off.xlsx.error.txt").read_text()
    assert (inbox / f"~${export.name}").exists()


def test_file_that_fails_as_a_whole_goes_to_failed_with_a_readable_report(box, bill):
    inbox, outbox = box
    (inbox / "bad.csv").write_bytes(without_column("Buchungsnummer"))
    [taken] = twice(inbox, bill)
    assert (taken.outcome, taken.moved_to) == ("failed", "failed/bad.csv")
    report = (inbox / "failed" / "bad.csv.error.txt").read_text(encoding="utf-8")
    assert "File:     bad.csv" in report
    assert "bad.csv:1: required column(s) missing: Buchungsnummer" in report
    assert "fix the file and drop it into the inbox again" in report
    assert str(dt.date.today().year) in report  # the time
    assert workbooks(outbox) == [] and not ledger(inbox)

    # dropped again unchanged: fails again, and the first report is not overwritten
    (inbox / "bad.csv").write_bytes(without_column("Buchungsnummer"))
    [again] = twice(inbox, bill)
    assert again.moved_to == "failed/bad-1.csv"
    assert (inbox / "failed" / "bad-1.csv.error.txt").exists()
    assert (inbox / "failed" / "bad.csv.error.txt").read_text(encoding="utf-8") == report

    # fixed and dropped again under the same name: billed
    (inbox / "bad.csv").write_bytes(small_orders())
    [fixed] = twice(inbox, bill)
    assert fixed.outcome == "processed" and len(workbooks(outbox)) == 1


def test_empty_file_waits_for_the_settle_time_then_fails(box):
    inbox, _ = box
    empty = inbox / "orders.csv"
    empty.touch()
    t0 = time.time() + 5
    os.utime(empty, (t0, t0))
    assert ib.poll(inbox, never, now=t0 + 0.5, settle=2) == []
    assert ib.poll(inbox, never, now=t0 + 1, settle=2) == []  # unchanged, but maybe copying
    [taken] = ib.poll(inbox, never, now=t0 + 2.5, settle=2)
    assert (taken.outcome, taken.moved_to) == ("failed", "failed/orders.csv")
    assert "the file is empty" in (inbox / "failed/orders.csv.error.txt").read_text()


def test_file_that_is_not_an_export_fails(box):
    inbox, _ = box
    (inbox / "notes.txt").write_text("hello")
    [taken] = twice(inbox, never)
    assert taken.outcome == "failed" and "expected an OpenOlat export" in taken.message


CRASH_POINTS = {
    # where the poll dies -> what it leaves behind: (workbooks in outbox, file still in inbox)
    "while billing": (0, True),
    "after delivery": (1, True),
    "after the ledger": (1, True),
    "inside the move": (1, True),
    "after the move": (1, False),
}


def _crash(monkeypatch, point):
    def die(*a, **k):
        raise RuntimeError(f"simulated crash {point}")

    if point == "while billing":
        monkeypatch.setattr("flows.stages.deliver_rendered", die)
    elif point == "after delivery":
        monkeypatch.setattr(inbox_ledger.Ledger, "billed", die)
    elif point == "after the ledger":
        monkeypatch.setattr(ib, "move", die)
    elif point == "inside the move":  # linked to processed/, inbox name not yet removed
        link = os.link

        def link_and_die(src, dst, **kw):
            link(src, dst, **kw)
            if Path(dst).parent.parent.name == "processed":  # not the outbox's link
                die()
        monkeypatch.setattr(inbox_files.os, "link", link_and_die)
    elif point == "after the move":
        monkeypatch.setattr(inbox_ledger.Ledger, "moved", die)


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_at_any_point_converges_on_the_next_poll(box, bill, monkeypatch, point):
    inbox, outbox = box
    (inbox / "orders.csv").write_bytes(small_orders())
    now = time.time() + 1
    with monkeypatch.context() as m:
        _crash(m, point)
        [crashed] = twice(inbox, bill, now=now)
    assert crashed.outcome == "error" and "simulated crash" in crashed.message
    books, still_there = CRASH_POINTS[point]
    assert len(workbooks(outbox)) == books
    assert (inbox / "orders.csv").exists() == still_there

    after = ib.poll(inbox, bill, now=now + 2, settle=0, invoice_date=INVOICE_DATE)
    assert [t.outcome for t in after] == (["processed"] if still_there else [])
    assert len(workbooks(outbox)) == 1
    assert not (inbox / "orders.csv").exists()
    filed = sorted(p.name for p in (inbox / "processed" / today(now)).iterdir())
    assert filed == ["orders.csv"]  # once, no copy, no duplicate note
    [entry] = ledger(inbox).values()
    assert entry["status"] == "billed" and entry["workbook"] == workbooks(outbox)[0]


def test_same_file_dropped_again_after_a_crash_that_filed_it_is_a_duplicate(box, bill,
                                                                           monkeypatch):
    inbox, outbox = box
    (inbox / "orders.csv").write_bytes(small_orders())
    with monkeypatch.context() as m:
        _crash(m, "after the move")  # filed, but the ledger does not say where
        twice(inbox, bill)
    (inbox / "orders.csv").write_bytes(small_orders())
    [again] = twice(inbox, bill)
    assert (again.outcome, again.moved_to) == ("duplicate", f"processed/{today()}/orders-1.csv")
    assert len(workbooks(outbox)) == 1


def test_rerun_after_a_crash_bills_on_the_date_of_the_first_attempt(box, bill, monkeypatch):
    """A default invoice date is today's; a rerun after midnight must still converge."""
    inbox, outbox = box
    (inbox / "orders.csv").write_bytes(small_orders())
    with monkeypatch.context() as m:
        _crash(m, "after delivery")
        [crashed] = twice(inbox, bill)
    assert crashed.outcome == "error"
    [book] = workbooks(outbox)
    [taken] = ib.poll(inbox, bill, settle=0, invoice_date=INVOICE_DATE - dt.timedelta(days=1))
    assert taken.outcome == "processed" and workbooks(outbox) == [book] == [taken.workbook]
    assert INVOICE_DATE.isoformat() in book


def test_copy_of_a_file_a_dead_poll_was_billing_is_the_duplicate(box, bill, monkeypatch):
    inbox, outbox = box
    (inbox / "orders.csv").write_bytes(small_orders())
    with monkeypatch.context() as m:
        _crash(m, "after delivery")
        twice(inbox, bill)
    copy = inbox / "a copy.csv"  # older than orders.csv, so scanned first
    copy.write_bytes(small_orders())
    os.utime(copy, (1, 1))
    now = time.time() + 1
    assert ib.poll(inbox, bill, now=now, settle=1e10) == []  # sees the copy, takes nothing
    taken = ib.poll(inbox, bill, now=now + 1, settle=0, invoice_date=INVOICE_DATE)
    assert [(t.file, t.outcome) for t in taken] == [("orders.csv", "processed"),
                                                    ("a copy.csv", "duplicate")]
    outcomes = {p.name for p in (inbox / "processed" / today()).iterdir()}
    assert outcomes == {"orders.csv", "a copy.csv", "a copy.csv.duplicate.txt"}
    assert len(workbooks(outbox)) == 1


def test_unreadable_ledger_stops_the_poll_before_any_file_is_touched(box, bill):
    inbox, outbox = box
    (inbox / ".billing-export").mkdir()
    (inbox / ".billing-export" / "ledger.json").write_text("{not json")
    (inbox / "orders.csv").write_bytes(small_orders())
    with pytest.raises(inbox_ledger.InboxError, match="ledger.json: unreadable"):
        twice(inbox, bill)
    assert (inbox / "orders.csv").exists() and workbooks(outbox) == []


def test_bad_configuration_fails_the_poll_not_the_files(tmp_path):
    with pytest.raises(inbox_ledger.InboxError, match="company.toml"):
        ib.local_biller(tmp_path / "no-config", tmp_path / "outbox")


def test_missing_inbox_is_an_error(tmp_path):
    with pytest.raises(inbox_ledger.InboxError, match="no such folder"):
        ib.poll(tmp_path / "nope", never)


def test_second_poller_takes_nothing_while_one_runs(box):
    inbox, _ = box
    (inbox / "orders.csv").write_bytes(small_orders())
    with inbox_ledger.locked(inbox) as mine:
        assert mine
        assert twice(inbox, never) == []
    assert (inbox / "orders.csv").exists()


def _artifact_keys():
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return await client.read_artifacts()

    return {a.key for a in asyncio.run(read())}


def test_process_inbox_flow_bills_files_as_subflows(prefect_harness, box, monkeypatch):
    from flows.process_inbox import process_inbox

    inbox, outbox = box
    (inbox / "orders.csv").write_bytes(small_orders())
    (inbox / "bad.csv").write_bytes(without_column("Buchungsnummer"))
    assert ib.observe(inbox, settle=0) == (2, 0)  # old enough: ready at first sight

    def run():
        state = process_inbox(inbox=str(inbox), outbox=str(outbox), config=str(SAMPLE),
                              invoice_date=INVOICE_DATE, settle_seconds=0, return_state=True)
        assert state.is_completed(), state.message
        return {t["file"]: t for t in state.result()}

    taken = run()
    assert taken["orders.csv"]["outcome"] == "processed"
    assert [taken["orders.csv"]["workbook"]] == workbooks(outbox)
    assert taken["bad.csv"]["outcome"] == "failed"
    assert "Buchungsnummer" in (inbox / "failed" / "bad.csv.error.txt").read_text()
    assert "inbox-poll" in _artifact_keys()

    # a crashing billing run leaves the file in the inbox; the next poll takes it
    (inbox / "more.csv").write_bytes(small_orders(20))
    ib.observe(inbox, settle=0)
    with monkeypatch.context() as m:
        m.setattr("flows.stages.deliver_rendered", lambda *a: 1 / 0)
        assert run()["more.csv"]["outcome"] == "error"
    assert (inbox / "more.csv").exists()
    assert run()["more.csv"]["outcome"] == "processed"
    assert len(workbooks(outbox)) == 2


def test_process_inbox_files_a_file_whose_orders_are_all_billed(prefect_harness, box, tmp_path,
                                                                sample_config):
    from flows import stages
    from flows.process_inbox import process_inbox
    from flows.state_store import open_store

    inbox, outbox = box
    state = tmp_path / "state.sqlite"
    store = open_store(state)
    source = tmp_path / "orders.csv"
    source.write_bytes(small_orders(30))
    final = billing_runs.bill(str(source), sample_config, stages.default_params(
        INVOICE_DATE, None, None, sample_config, draft=False), outbox, store)
    store.engine.dispose()
    before = workbooks(outbox)
    shutil.copy(source, inbox / "orders.csv")
    run = process_inbox(inbox=str(inbox), outbox=str(outbox), config=str(SAMPLE),
                        invoice_date=INVOICE_DATE, state=str(state), settle_seconds=0,
                        return_state=True)
    assert run.is_completed(), run.message
    [taken] = run.result()
    assert (taken["outcome"], taken["workbook"]) == ("processed", None)
    assert final.run_id in taken["message"] and "billed already" in taken["message"]
    assert workbooks(outbox) == before
    assert (inbox / f"processed/{today()}/orders.csv.note.txt").exists()


def watch_args(*argv):
    p = argparse.ArgumentParser(prog="billing-export")
    watch.add_watch_command(p.add_subparsers(dest="command"))
    return p, p.parse_args(["watch", *argv])


def test_watch_once_prints_one_line_per_file(prefect_harness, box, capsys):
    inbox, outbox = box
    (inbox / "orders.csv").write_bytes(small_orders())
    old = time.time() - 600
    os.utime(inbox / "orders.csv", (old, old))
    _, args = watch_args("--inbox", str(inbox), "--outbox", str(outbox), "--config", str(SAMPLE),
                         "--invoice-date", INVOICE_DATE.isoformat(), "--settle", "60", "--once")
    # a cron job's first call takes a file older than the settle time: no second look needed
    assert watch.watch_main(args) == 0
    out = capsys.readouterr().out
    assert f"processed orders.csv -> processed/{today()}/orders.csv [" in out
    assert len(workbooks(outbox)) == 1
    # a file that is too recent waits for the next call
    (inbox / "new.csv").write_bytes(small_orders(20))
    assert watch.watch_main(args) == 0
    assert "1 file(s) waiting" in capsys.readouterr().err
    assert (inbox / "new.csv").exists() and len(workbooks(outbox)) == 1


def test_watch_stops_on_ctrl_c_with_exit_code_0(box, monkeypatch, capsys):
    inbox, _ = box

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(watch.time, "sleep", interrupt)
    _, args = watch_args("--inbox", str(inbox), "--interval", "1")
    assert watch.watch_main(args) == 0
    assert "stopped" in capsys.readouterr().err


def test_watch_missing_inbox_exit_code_2(tmp_path, capsys):
    _, args = watch_args("--inbox", str(tmp_path / "nope"), "--once")
    assert watch.watch_main(args) == 2
    assert "no such folder" in capsys.readouterr().err


def test_watch_help_explains_every_option():
    parser, _ = watch_args("--inbox", "x")
    watch = parser._subparsers._group_actions[0].choices["watch"]
    options = [a for a in watch._actions if a.option_strings and a.dest != "help"]
    assert {a.option_strings[0] for a in options} == {
        "--inbox", "--outbox", "--config", "--invoice-date", "--language", "--state",
        "--interval", "--settle", "--once", "--quiet"}
    assert all(a.help and len(a.help) > 15 for a in options)


# -- only regular files inside the inbox are read ---------------------------------------------

def test_links_fifos_and_devices_are_filed_unread(box, tmp_path):
    """A link to a CSV outside the inbox, a link to /etc/passwd, a FIFO and a device: none is
    opened (the FIFO would block, the links would bill or leak what they point to). Each is
    moved to failed/ as it is, with the reason, on the first poll."""
    inbox, _ = box
    outside = tmp_path / "elsewhere.csv"
    outside.write_bytes(small_orders())
    (inbox / "linked.csv").symlink_to(outside)
    (inbox / "passwd.csv").symlink_to("/etc/passwd")
    os.mkfifo(inbox / "pipe.csv")
    os.mknod(inbox / "null.csv", 0o600 | __import__("stat").S_IFCHR, os.makedev(1, 3))
    old = time.time() - 60
    for name in ("linked.csv", "passwd.csv", "pipe.csv", "null.csv"):
        os.utime(inbox / name, (old, old), follow_symlinks=False)
    taken = ib.poll(inbox, never, settle=2)
    assert sorted((t.file, t.outcome, t.moved_to) for t in taken) == [
        (n, "failed", f"failed/{n}") for n in ("linked.csv", "null.csv", "passwd.csv",
                                               "pipe.csv")]
    failed = inbox / "failed"
    assert os.readlink(failed / "linked.csv") == str(outside)  # moved as a link
    assert os.readlink(failed / "passwd.csv") == "/etc/passwd"
    assert __import__("stat").S_ISFIFO(os.lstat(failed / "pipe.csv").st_mode)
    for name, kind in (("linked.csv", "a symbolic link"), ("passwd.csv", "a symbolic link"),
                       ("pipe.csv", "a FIFO"), ("null.csv", "a character device")):
        report = (failed / f"{name}.error.txt").read_text()
        assert kind in report and "it was not read" in report
        assert "root:" not in report
    assert outside.read_bytes() == small_orders()  # the target is left where it was
    assert not (inbox / ".billing-export/ledger.json").exists() or ledger(inbox) == {}


def test_a_file_swapped_for_a_link_after_the_scan_is_not_read(box, tmp_path, monkeypatch):
    inbox, _ = box
    (inbox / "orders.csv").write_bytes(small_orders())
    scan = inbox_files.scan

    def swap(*a, **k):
        ready = scan(*a, **k)
        (inbox / "orders.csv").unlink()
        (inbox / "orders.csv").symlink_to("/etc/passwd")
        return ready

    monkeypatch.setattr(ib, "scan", swap)
    [taken] = ib.poll(inbox, never, now=time.time() + 10, settle=2)
    assert (taken.outcome, taken.moved_to) == ("failed", "failed/orders.csv")
    assert os.path.islink(inbox / "failed/orders.csv")


def test_a_file_with_a_name_of_250_characters_reaches_failed_on_its_first_poll(box):
    inbox, _ = box
    name = "Buchungen_" + "x" * 236 + ".txt"  # not an export: it fails
    assert len(name) == 250
    (inbox / name).write_bytes(small_orders())
    old = time.time() - 60
    os.utime(inbox / name, (old, old))
    [taken] = ib.poll(inbox, never, settle=2)
    assert (taken.outcome, taken.moved_to) == ("failed", f"failed/{name}")
    [report] = [p for p in (inbox / "failed").iterdir() if p.name.endswith(".error.txt")]
    assert len(report.name.encode()) <= 255 and report.name.startswith("Buchungen_xxx")
    assert name in report.read_text()  # the report names the whole file
    # the same name again: the second copy gets a -1 name that fits too
    (inbox / name).write_bytes(small_orders())
    os.utime(inbox / name, (old, old))
    [again] = ib.poll(inbox, never, settle=2)
    assert again.outcome == "failed" and len(Path(again.moved_to).name.encode()) <= 255
    assert sorted(p.name for p in inbox.iterdir()) == [".billing-export", "failed"]


def test_fit_name_keeps_the_suffix_and_the_limit():
    long = "ü" * 200 + ".csv.error.txt"
    short = inbox_files.fit_name(long, ".error.txt")
    assert len(short.encode()) <= 255 and short.endswith(".error.txt")
    assert inbox_files.fit_name(long, ".error.txt") == short  # stable: the same name each time
    assert inbox_files.fit_name("ü" * 199 + "x.csv.error.txt", ".error.txt") != short
    assert inbox_files.fit_name("orders.csv.error.txt", ".error.txt") == "orders.csv.error.txt"


# -- a file whose orders were all billed already ----------------------------------------------

def test_a_file_whose_orders_are_all_billed_is_filed_with_a_note(box, tmp_path, sample_config):
    """Its orders were billed by a final run on the store: no empty workbook, a note."""
    from flows import stages
    from flows.state_store import open_store

    inbox, outbox = box
    store = open_store(tmp_path / "state.sqlite")
    source = tmp_path / "orders.csv"
    source.write_bytes(small_orders(40))
    final = billing_runs.bill(str(source), sample_config, stages.default_params(
        INVOICE_DATE, None, None, sample_config, draft=False), outbox, store)
    before = workbooks(outbox)
    shutil.copy(source, inbox / "again.csv")
    old = time.time() - 60
    os.utime(inbox / "again.csv", (old, old))
    bill = ib.local_biller(sample_config, outbox, store=store)
    [taken] = ib.poll(inbox, bill, settle=2, invoice_date=INVOICE_DATE)
    billed = final.rendered.manifest["rows_billed"]
    assert (taken.outcome, taken.moved_to, taken.workbook) == (
        "processed", f"processed/{today()}/again.csv", None)
    assert f"of its 39 orders {billed} were billed already (final runs {final.run_id})" \
        in taken.message
    assert workbooks(outbox) == before  # no empty workbook
    note = (inbox / f"processed/{today()}/again.csv.note.txt").read_text()
    assert final.run_id in note and "Nothing was billed" in note
    # a new export with one order more is billed: only that order
    (inbox / "more.csv").write_bytes(small_orders(41))
    os.utime(inbox / "more.csv", (old, old))
    [more] = ib.poll(inbox, bill, settle=2, invoice_date=INVOICE_DATE)
    assert more.outcome == "processed" and more.workbook in workbooks(outbox)
    store.engine.dispose()



def test_the_inbox_takes_every_ending_a_source_reads_and_nothing_else(box):
    """The endings come from the source registry: a new source's files are taken too."""
    from flows.sources import registry

    inbox, _ = box
    offered = [f"orders{s}" for s in registry.file_suffixes()] + ["orders.txt", "orders.xls"]
    for name in offered:
        (inbox / name).write_bytes(small_orders())
    billed = []

    def record(path, date):
        billed.append(path.name)
        raise ib.FileFailed(f"{path.name}: recorded")

    taken = twice(inbox, record)
    assert sorted(billed) == sorted(f"orders{s}" for s in registry.file_suffixes())
    refused = {t.file for t in taken if "not a booking-order export" in t.message}
    assert refused == {"orders.txt", "orders.xls"}
