"""Delivery into the outbox (DESIGN.md §7): whole or not at all, never overwritten."""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from flows import outbox as ob
from flows.outbox import DeliveryError, deliver
from schemas.workbook import INVOICES, LINES

NAME = "100_2026-10-30_TESTRUN1.xlsx"
MANIFEST = {"run": "TESTRUN1", "invoices": 2, "rows_read": 3,
            "totals": {"CHF": {"invoice_amount": "10.05", "invoices": 2}}}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def staged(folder: Path, data: bytes, name: str = "staged.xlsx.part") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# --- a delivery from a real run -------------------------------------------------------------

def test_run_delivers_a_whole_workbook_with_a_matching_manifest(run, tmp_path):
    result = run(outbox=tmp_path / "outbox")
    box = tmp_path / "outbox"
    d = result.delivery
    files = {p.name for p in box.iterdir() if p.is_file()}
    assert {d.workbook.name, d.manifest.name} <= files  # (other outputs may sit beside them)
    assert not [p for p in box.rglob("*") if p.name.endswith(".part")]
    assert d.workbook.name == f"100_2026-10-30_{result.run_id}.xlsx"
    assert d.manifest.name == f"100_2026-10-30_{result.run_id}.manifest.json"
    data = d.workbook.read_bytes()
    man = json.loads(d.manifest.read_text(encoding="utf-8"))
    assert man["sha256"] == sha(data) == d.sha256
    assert man["file"] == d.workbook.name and man["run"] == result.run_id

    # counts and totals per currency agree with what the workbook shows
    wb = openpyxl.load_workbook(d.workbook)
    inv = list(wb[INVOICES.name("de")].iter_rows(min_row=2, values_only=True))
    lines = list(wb[LINES.name("de")].iter_rows(min_row=2, values_only=True))
    assert man["invoices"] == len(inv) and man["lines"] == len(lines)
    assert man["rows_read"] == 240
    assert man["rows_read"] == (man["rows_billed"] + man["rows_rejected"]
                                + man["rows_not_billable"] + man["rows_already_billed"])
    ids = INVOICES.ids
    totals = defaultdict(lambda: defaultdict(Decimal))
    n_inv = defaultdict(int)
    for row in inv:
        r = dict(zip(ids, row))
        n_inv[r["currency"]] += 1
        for m in ("net_amount", "tax_amount", "cash_rounding_amount", "invoice_amount"):
            totals[r["currency"]][m] += Decimal(str(r[m]))
    assert set(man["totals"]) == set(totals) == {"CHF", "EUR", "JPY", "USD"}
    for cur, t in man["totals"].items():
        assert t["invoices"] == n_inv[cur]
        for m, v in totals[cur].items():
            assert isinstance(t[m], str)  # exact decimal text, never a JSON float
            assert Decimal(t[m]) == v, (cur, m)


def test_running_again_into_the_same_outbox_is_a_no_op(run, tmp_path):
    first = run(outbox=tmp_path / "outbox")
    box = tmp_path / "outbox"

    def snapshot():
        return {str(p.relative_to(box)): (p.read_bytes(), p.stat().st_mtime_ns)
                for p in box.rglob("*") if p.is_file()}

    before = snapshot()
    again = run(outbox=box)
    assert not first.delivery.already_there and again.delivery.already_there
    assert snapshot() == before


# --- deliver() on its own -----------------------------------------------------------------------

@pytest.mark.parametrize("stage_in_outbox", [False, True])
def test_deliver_places_workbook_and_manifest(tmp_path, stage_in_outbox):
    box = tmp_path / "outbox"
    data = b"PK\x03\x04 workbook bytes " * 1000
    src = staged(box if stage_in_outbox else tmp_path / "staging", data,
                 f".{NAME}.{os.getpid()}.part" if stage_in_outbox else "staged.part")
    d = deliver(src, box, NAME, MANIFEST)
    assert d.workbook == box / NAME and d.workbook.read_bytes() == data
    assert d.manifest == box / "100_2026-10-30_TESTRUN1.manifest.json"
    man = json.loads(d.manifest.read_text(encoding="utf-8"))
    assert man == {**MANIFEST, "file": NAME, "sha256": sha(data)}
    assert d.sha256 == sha(data) and d.already_there is False
    assert leftovers(box) == []
    assert sorted(p.name for p in box.iterdir()) == sorted([NAME, d.manifest.name])


def test_same_bytes_again_is_a_no_op(tmp_path):
    box = tmp_path / "outbox"
    data = b"same bytes"
    first = deliver(staged(tmp_path / "s1", data), box, NAME, MANIFEST)
    stamp = (first.workbook.stat().st_ino, first.workbook.stat().st_mtime_ns,
             first.manifest.read_bytes())
    second = deliver(staged(tmp_path / "s2", data), box, NAME, MANIFEST)
    assert second.already_there is True and second.sha256 == first.sha256
    assert (second.workbook.stat().st_ino, second.workbook.stat().st_mtime_ns,
            second.manifest.read_bytes()) == stamp
    assert leftovers(box) == []


def test_different_bytes_under_the_same_name_is_an_error_and_keeps_the_file(tmp_path):
    box = tmp_path / "outbox"
    first = deliver(staged(tmp_path / "s1", b"original"), box, NAME, MANIFEST)
    manifest_before = first.manifest.read_bytes()
    with pytest.raises(DeliveryError, match=NAME.replace(".", r"\.") + ".*never overwritten"):
        deliver(staged(tmp_path / "s2", b"changed"), box, NAME, MANIFEST)
    assert first.workbook.read_bytes() == b"original"
    assert first.manifest.read_bytes() == manifest_before
    assert leftovers(box) == []
    assert sorted(p.name for p in box.iterdir()) == sorted([NAME, first.manifest.name])


def test_different_bytes_staged_in_the_outbox_leave_nothing_behind(tmp_path):
    box = tmp_path / "outbox"
    deliver(staged(tmp_path / "s1", b"original"), box, NAME, MANIFEST)
    src = staged(box, b"changed", f".{NAME}.{os.getpid()}.part")
    with pytest.raises(DeliveryError):
        deliver(src, box, NAME, MANIFEST)
    assert (box / NAME).read_bytes() == b"original"
    assert leftovers(box) == []


def test_failure_while_writing_the_staged_copy_leaves_nothing_under_the_final_name(
        tmp_path, monkeypatch):
    box = tmp_path / "outbox"

    def half_copy(src, dst):
        with open(src, "rb") as a, open(dst, "wb") as b:
            b.write(a.read(5))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ob, "_copy", half_copy)
    with pytest.raises(DeliveryError, match="No space left"):
        deliver(staged(tmp_path / "s", b"0123456789" * 100), box, NAME, MANIFEST)
    assert not (box / NAME).exists()
    assert not (box / "100_2026-10-30_TESTRUN1.manifest.json").exists()
    assert list(box.iterdir()) == []  # not even the half-written .part file


def test_failure_before_the_rename_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    box = tmp_path / "outbox"

    def no_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ob.os, "fsync", no_fsync)
    with pytest.raises(DeliveryError, match="Input/output error"):
        deliver(staged(tmp_path / "s", b"data"), box, NAME, MANIFEST)
    assert list(box.iterdir()) == []


def test_failure_writing_the_manifest_keeps_the_workbook_whole_and_a_rerun_completes(
        tmp_path, monkeypatch):
    box = tmp_path / "outbox"
    data = b"workbook"
    real_place = ob._place

    def fail_on_manifest(data_path, final):
        if final.name.endswith(".manifest.json"):
            raise OSError(28, "No space left on device")
        return real_place(data_path, final)

    monkeypatch.setattr(ob, "_place", fail_on_manifest)
    with pytest.raises(DeliveryError):
        deliver(staged(tmp_path / "s1", data), box, NAME, MANIFEST)
    assert (box / NAME).read_bytes() == data  # whole: the manifest names it only when complete
    assert not (box / "100_2026-10-30_TESTRUN1.manifest.json").exists()
    assert leftovers(box) == []

    monkeypatch.setattr(ob, "_place", real_place)
    d = deliver(staged(tmp_path / "s2", data), box, NAME, MANIFEST)
    assert json.loads(d.manifest.read_text())["sha256"] == sha(data)
    assert leftovers(box) == []


def test_outbox_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(DeliveryError, match="cannot create the outbox folder"):
        deliver(staged(tmp_path / "s", b"x"), blocker, NAME, MANIFEST)
    assert blocker.read_text() == "a file where the folder should be"


# --- staged files nobody will finish ----------------------------------------------------------

def test_stale_staged_names_what_no_living_writer_or_pending_run_owns(tmp_path):
    """Dead writer on this host: stale at once. Living writer (this process, a process of
    another user): kept however old. Writer unknown (another host, a name without a writer):
    stale after the grace period. Owned by a pending run: kept. Workbooks are never looked at."""
    import socket
    import subprocess
    import time

    host = socket.gethostname()
    dead = subprocess.Popen(["true"])
    dead.wait()
    out = tmp_path / "outbox"
    out.mkdir()
    now = time.time()
    names = {
        "dead": f".{NAME}.{dead.pid}@{host}.pending",
        "dead_qr": f".100_x.qrbills.{dead.pid}@{host}.pending",
        "me": f".{NAME}.{os.getpid()}@{host}.pending",
        "init": f".{NAME}.1@{host}.pending",  # pid 1 lives
        "other_host_young": f".{NAME}.{dead.pid}@elsewhere.example.pending",
        "other_host_old": f".{NAME}.{dead.pid}@elsewhere.example.part",
        "old_format": f".{NAME}.pending",
        "owned": f".{NAME}.{dead.pid}@{host}.part",
    }
    for key, name in names.items():
        path = out / name
        path.mkdir() if key == "dead_qr" else path.write_bytes(b"x")
        age = 2 * ob.STALE_SECONDS if key in ("other_host_old", "old_format", "me",
                                              "init", "owned") else 10
        os.utime(path, (now - age, now - age))
    (out / NAME).write_bytes(b"delivered")
    stale = ob.stale_staged(out, {str(out / names["owned"])}, now=now)
    assert sorted(p.name for p, _ in stale) == sorted(
        names[k] for k in ("dead", "dead_qr", "other_host_old", "old_format"))
    reasons = dict((p.name, why) for p, why in stale)
    assert reasons[names["dead"]] == f"its writer (process {dead.pid}) is gone"
    assert reasons[names["old_format"]].startswith("untouched for 120 minutes")
    for path, _ in stale:
        ob.remove_staged(path)
    assert sorted(os.listdir(out)) == sorted(
        [NAME] + [names[k] for k in ("me", "init", "other_host_young", "owned")])


def test_a_failed_link_puts_the_staged_file_back(tmp_path, monkeypatch):
    """A full disk at the link (or its fsync): the staged workbook of a committed final run
    must survive, for the next run to deliver it."""
    out = tmp_path / "outbox"
    src = staged(out, b"workbook bytes", ".x.pending")

    def no_space(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ob.os, "link", no_space)
    with pytest.raises(DeliveryError, match="No space left on device"):
        deliver(src, out, NAME, MANIFEST)
    assert src.read_bytes() == b"workbook bytes"
    assert sorted(os.listdir(out)) == [".x.pending"]
