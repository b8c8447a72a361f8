"""The workbook's zip package is deflated at flows.workbook.DEFLATE_LEVEL (faster than zipfile's
default, the bytes still the same for the same inputs: test_workbook.py), and XlsxWriter is
left as it is: no patch of it, at import or while the writer closes a workbook, so any other
workbook keeps zipfile's default level. The fast row path refuses an XlsxWriter version it was
not verified with (flows/xlsx_rows.py).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import zipfile
import zlib

import pytest
import xlsxwriter
import xlsxwriter.workbook

from flows import workbook, xlsx_rows
from flows.errors import ConfigurationError
from schemas.columns import TEXT, Col, Sheet


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
    _ours(tmp_path / "ours.xlsx")
    assert xlsxwriter.workbook.ZipFile is zipfile.ZipFile
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


SHEET = Sheet("t", "Tabelle", "Table", (Col("name", "Name", "Name", TEXT),))


def _ours(path, rows=3):
    import pandas as pd
    df = pd.DataFrame({"name": [f"n{i}" for i in range(rows)]}, dtype="str")
    return workbook.write_workbook(path, {"t": df}, (SHEET,), "de", dt.date(2026, 10, 30), "t")


def test_no_patch_of_xlsxwriter_at_import_or_while_closing(tmp_path, monkeypatch):
    """Importing the writer changes nothing in XlsxWriter, and our close packs into our zip
    without XlsxWriter's module seeing it: a workbook closed while ours is being packed (as
    another thread could at that moment) still gets zipfile's own class."""
    imported = subprocess.run(
        [sys.executable, "-c", "import zipfile, xlsxwriter.workbook as w, flows.workbook, "
         "flows.xlsx_reference; print(w.ZipFile is zipfile.ZipFile)"],
        capture_output=True, text=True, check=True, cwd=workbook.Path(__file__).parent.parent)
    assert imported.stdout.strip() == "True"
    seen = []
    real = xlsx_rows._SplicingZipFile.write

    def write(self, filename, arcname=None, *args):
        seen.append((arcname, xlsxwriter.workbook.ZipFile))
        return real(self, filename, arcname, *args)
    monkeypatch.setattr(xlsx_rows._SplicingZipFile, "write", write)
    _ours(tmp_path / "ours.xlsx")
    assert "xl/worksheets/sheet1.xml" in dict(seen)
    assert {cls for _, cls in seen} == {zipfile.ZipFile}


def test_an_unverified_xlsxwriter_is_refused_loudly(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError, match=r"XlsxWriter 3\.4\.0 .* verified only with "
                       r"3\.3\.1.*constraints\.txt"):
        xlsx_rows.check_version("3.4.0")
    xlsx_rows.check_version(xlsx_rows.VERIFIED_VERSIONS[0])
    # at the first use of the fast path, not at import: a run fails before any file is made
    monkeypatch.setattr(xlsxwriter, "__version__", "3.2.9")
    with pytest.raises(ConfigurationError, match="3.2.9"):
        _ours(tmp_path / "refused.xlsx")
    assert not (tmp_path / "refused.xlsx").exists()


def test_the_pinned_xlsxwriter_is_a_verified_one():
    pins = (workbook.Path(__file__).parent.parent / "constraints.txt").read_text().lower()
    pinned = next(line.split("==")[1].strip() for line in pins.splitlines()
                  if line.startswith("xlsxwriter=="))
    assert pinned in xlsx_rows.VERIFIED_VERSIONS
    assert xlsxwriter.__version__ == pinned


def test_rows_that_find_no_sheet_fail_the_close(tmp_path):
    """If a version numbered the sheets' XML differently, rows would be dropped: the close
    fails instead."""
    wb = xlsx_rows.FastWorkbook(str(tmp_path / "x.xlsx"), {"constant_memory": True}, 1)
    ws = wb.add_worksheet("a")
    ws.write_string(0, 0, "h")
    fh = wb.reserve_rows(ws, 1, 1)
    fh.write(b'<row r="2"><c r="A2"><v>1</v></c></row>')
    wb._row_files["xl/worksheets/sheet9.xml"] = wb._row_files.pop("xl/worksheets/sheet1.xml")
    with pytest.raises(workbook.WriterError, match="sheet9"):
        wb.close()


def test_xlsxwriter_internals_are_used_in_one_module_only():
    """The seam holds: no other module of flows/ names an XlsxWriter internal or patches it."""
    import re
    internals = re.compile(r"\._check_dimensions|\._write_single_row|\._get_xf_index|"
                           r"_store_workbook|_compresslevel|\.tmpdir\b|xl/worksheets/sheet|"
                           r"xlsxwriter\.workbook\.\w+\s*=")
    flows = workbook.Path(workbook.__file__).parent
    users = sorted(p.relative_to(flows).as_posix() for p in flows.rglob("*.py")
                   if internals.search(p.read_text("utf-8")))
    assert users == ["xlsx_rows.py"]
