"""The workbook's zip package is deflated at flows.workbook.DEFLATE_LEVEL (faster than zipfile's
default, the bytes still the same for the same inputs: test_workbook.py), and XlsxWriter keeps
zipfile's default level for any workbook the writer does not close itself.
"""

from __future__ import annotations

import zipfile
import zlib

import xlsxwriter
import xlsxwriter.workbook

from flows import workbook


def deflated(data: bytes, level: int) -> bytes:
    """Raw deflate as zipfile writes an entry: 8 KiB at a time, then a flush."""
    z = zlib.compressobj(level, zlib.DEFLATED, -15)
    out = [z.compress(data[i:i + 8192]) for i in range(0, len(data), 8192)]
    return b"".join(out) + z.flush()


def test_sheets_are_deflated_at_the_writers_level(run):
    path = run().delivery.workbook
    with zipfile.ZipFile(path) as z:
        sheets = [i for i in z.infolist() if i.filename.startswith("xl/worksheets/")]
        assert sheets
        for info in sheets:
            assert info.compress_type == zipfile.ZIP_DEFLATED
            size = len(deflated(z.read(info), workbook.DEFLATE_LEVEL))
            assert info.compress_size == size, info.filename


def test_other_workbooks_keep_zipfiles_default_level(tmp_path):
    assert xlsxwriter.workbook.ZipFile is workbook._ZipFile
    wb = xlsxwriter.Workbook(str(tmp_path / "other.xlsx"))
    ws = wb.add_worksheet()
    for r in range(300):
        ws.write_row(r, 0, [f"Zeile {r} Text {r * 7 % 13}", r, "abc" * (r % 5)])
    wb.close()
    with zipfile.ZipFile(tmp_path / "other.xlsx") as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
        data = z.read(info)
    assert len(deflated(data, workbook.DEFLATE_LEVEL)) != len(deflated(data, 6))  # tells apart
    assert info.compress_size == len(deflated(data, zlib.Z_DEFAULT_COMPRESSION))
