"""Bounded work for hostile source files: a zip bomb dressed as OpenOlat's xlsx export and
files beyond the configured limits are refused in seconds, with a message that names the
file, the limit and how to raise it.

The bomb is built here: a valid xlsx (correct CRC and sizes) whose sheet XML is 1 GiB of
repeated booking rows, deflated to about 1 MB. The reader runs in a subprocess so that its
peak memory (its VmHWM) is its own.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from flows.sources import base, csv_file, openolat_xlsx
from flows.sources.base import Limits, SourceError
from schemas.booking_order import HEADERS
from tests.conftest import ROOT, SAMPLE, SAMPLE_ORDERS

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        'worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://'
        'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
        'http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook {_NS} xmlns:r="http:'
        '//schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="'
        'Buchungsaufträge" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://'
        'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
        'http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'),
}


def _inline_row(cells: list[str]) -> str:
    """A row without cell references: it lands below the one before, as Excel allows."""
    return "<row>" + "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in cells) + \
        "</row>"


def _zip(members: list[tuple[str, int, int, int, bytes]]) -> bytes:
    """A zip from ``(name, crc, inflated size, method, raw data)`` with honest headers."""
    out, central = bytearray(), bytearray()
    for name, crc, size, method, raw in members:
        nm = name.encode()
        offset = len(out)
        out += struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0x800, method, 0, 0x21, crc,
                           len(raw), size, len(nm), 0) + nm + raw
        central += struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0x800, method, 0, 0x21,
                               crc, len(raw), size, len(nm), 0, 0, 0, 0, 0, offset) + nm
    start = len(out)
    out += central + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(members),
                                 len(members), len(central), start, 0)
    return bytes(out)


def zip_bomb(inflated: int = 1 << 30, declared: int | None = None) -> bytes:
    """An OpenOlat-like xlsx whose sheet inflates to ``inflated`` bytes of repeated rows.
    Each 1 MiB block is deflated once and ends in a full flush, so the same compressed bytes
    repeated are a valid deflate stream of the blocks repeated (and quick to build)."""
    header = [h[0] for h in HEADERS.values()][:26]
    head = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet {_NS}>'
            f'<sheetData>{_inline_row(header)}').encode()
    row = _inline_row(["x" * 20_000] + ["1"] * 25).encode()
    block = row * ((1 << 20) // len(row))
    tail = b"</sheetData></worksheet>"
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = z.compress(head) + z.flush(zlib.Z_FULL_FLUSH)
    packed = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    n = (inflated - len(head) - len(tail)) // len(block)
    last = z.compress(tail) + z.flush()
    raw = first + packed * n + last
    crc = zlib.crc32(head)
    for _ in range(n):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + n * len(block) + len(tail)
    members = [(name, zlib.crc32(text.encode()), len(text.encode()), 0, text.encode())
               for name, text in _PARTS.items()]
    members.append(("xl/worksheets/sheet1.xml", crc, size if declared is None else declared,
                    8, raw))
    return _zip(members)


_CHILD = """
import json, sys, time
t = time.perf_counter()
from flows.sources import openolat_xlsx
from flows.sources.base import SourceError
try:
    openolat_xlsx.read(sys.argv[1])
    message = None
except SourceError as err:
    message = str(err)
# VmHWM, the peak of this process's own memory: ru_maxrss would carry the RSS the parent had
# when it forked (pytest late in a long session: ~600 MB), as Linux keeps it across exec
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"message": message, "seconds": time.perf_counter() - t,
                  "peak_mb": hwm / 1024}))
"""


def _read_in_child(path: Path, env_extra: dict | None = None) -> dict:
    import os
    env = {**os.environ, **(env_extra or {})}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("declared", [None, 4096], ids=["honest sizes", "declared size lies"])
def test_xlsx_zip_bomb_is_refused_in_seconds_and_small_memory(tmp_path, declared):
    data = zip_bomb(declared=declared)
    assert len(data) < 2 << 20  # about 1 MB on disk
    path = tmp_path / "Buchungsauftraege.xlsx"
    path.write_bytes(data)
    got = _read_in_child(path)
    assert got["message"] is not None
    assert got["message"].startswith("Buchungsauftraege.xlsx: ")
    assert "xl/worksheets/sheet1.xml" in got["message"]
    assert "BILLING_MAX_XLSX_RATIO" in got["message"]
    assert got["peak_mb"] < 400, got
    # refused in seconds (about 3 s on an idle machine; unbounded, this read ran 7 minutes
    # into 9 GB): the bound is loose so that a loaded machine does not fail it
    assert got["seconds"] < 60, got


def test_bomb_is_a_valid_xlsx(tmp_path):
    """The bomb's structure is sound: the same builder with a small sheet reads as usual, so
    the refusal above is for its size and nothing else."""
    import zipfile
    data = zip_bomb(inflated=3 << 20)
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as zf:
        assert zf.testzip() is None
    path = tmp_path / "small.xlsx"
    path.write_bytes(data)
    cells = openolat_xlsx.read_cells(data, "small.xlsx")[1]
    assert cells[0][0] == "Benutzername" and len(cells) > 100


def test_declared_sizes_beyond_the_limit_are_refused_before_inflating():
    data = zip_bomb(inflated=3 << 20, declared=3 << 30)
    with pytest.raises(SourceError, match="says it inflates to 3,072.00 MB.*BILLING_MAX_XLSX_MB"):
        openolat_xlsx.read_cells(data, "x.xlsx", Limits(xlsx_inflated_mb=1024))


def test_sheet_cells_and_inflated_size_limits_name_the_setting():
    data = (SAMPLE / "Orders_Herbst_2026_newest.xlsx").read_bytes()
    with pytest.raises(SourceError, match=r"10,363 cells.*BILLING_MAX_XLSX_CELLS=10000.*higher"):
        openolat_xlsx.read_cells(data, "n.xlsx", Limits(xlsx_cells=10_000))
    with pytest.raises(SourceError, match=r"more than 0.25 MB.*BILLING_MAX_XLSX_MB=0.25"):
        openolat_xlsx.read_cells(data, "n.xlsx", Limits(xlsx_inflated_mb=0.25))
    assert openolat_xlsx.read_cells(data, "n.xlsx", Limits(xlsx_cells=10_363))[1]


def test_a_sheet_without_dimension_is_counted_while_inflating():
    data = zip_bomb(inflated=3 << 20)  # no <dimension>: the cells are counted as they come
    with pytest.raises(SourceError, match=r"more than 1,000 cells.*BILLING_MAX_XLSX_CELLS"):
        openolat_xlsx.read_cells(data, "x.xlsx", Limits(xlsx_cells=1_000))


def test_csv_size_is_checked_before_reading(monkeypatch):
    monkeypatch.setenv("BILLING_MAX_CSV_MB", "0.05")
    with pytest.raises(SourceError, match=r"booking_orders.csv: the CSV file is 0.11 MB, "
                       r"larger than 0.05 MB.*BILLING_MAX_CSV_MB=0.05.*set BILLING_MAX_CSV_MB"):
        csv_file.read(str(SAMPLE_ORDERS))
    monkeypatch.setenv("BILLING_MAX_CSV_MB", "1")
    assert csv_file.read(str(SAMPLE_ORDERS)).rows == 240


def test_defaults_hold_the_benchmark_sizes(monkeypatch):
    for var in base.LIMIT_VARIABLES.values():
        monkeypatch.delenv(var, raising=False)
    limits = Limits.from_env()
    assert limits.csv_mb * 2**20 > 4 * 460 * 2**20  # the benchmark's 1M-row CSV
    assert limits.xlsx_cells >= 1_048_576 * 43  # Excel's rows, OpenOlat's columns
    assert limits.xlsx_inflated_mb * 2**20 > 1_048_576 * 2100  # ~2 kB of sheet XML a row
    monkeypatch.setenv("BILLING_MAX_XLSX_CELLS", "lots")
    with pytest.raises(SourceError, match="BILLING_MAX_XLSX_CELLS: expected a positive number"):
        Limits.from_env()


def test_rows_and_cells_are_counted_exactly_across_chunk_seams():
    import random
    rng = random.Random(7)
    for _ in range(2000):
        data = bytes(rng.choice(b"<c >rowx") for _ in range(rng.randint(0, 60)))
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 6))))
        tail, rows, cells = b"", 0, 0
        for part in (data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])):
            rows += openolat_xlsx._count(part, tail, (b"<row ", b"<row>"))
            cells += openolat_xlsx._count(part, tail, (b"<c ", b"<c>"))
            tail = (tail + part)[-4:]
        assert rows == data.count(b"<row ") + data.count(b"<row>")
        assert cells == data.count(b"<c ") + data.count(b"<c>")
