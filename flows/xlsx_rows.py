"""The fast row path's one contact with XlsxWriter's internals (DESIGN.md §6): nowhere else
in the project touches a private name of XlsxWriter, and nothing here runs at import.

The data rows are built as XML elsewhere (:mod:`flows.xlsx_cells`) because writing a million
lines cell by cell through XlsxWriter's public API is three million Python calls. Putting that
XML into a workbook XlsxWriter otherwise writes takes what XlsxWriter does not offer publicly:

* reserving the data rows in a constant-memory worksheet's bookkeeping (``_check_dimensions``
  for the dimension, ``_write_single_row`` to flush the header row and move "the last row
  written" past the data) — :meth:`FastWorkbook.reserve_rows`;
* the style index XlsxWriter gives a format (``Format._get_xf_index``) — :func:`xf_index`;
* the name the packager gives a worksheet's XML in the zip (``xl/worksheets/sheetN.xml``);
* the temporary folder of the workbook (``Workbook.tmpdir``) for the rows until close;
* the zip file XlsxWriter packs into (``Workbook._store_workbook`` calls the ``ZipFile`` of its
  module's globals), to deflate at the writer's level and to put each sheet's rows into its XML
  as it goes into the zip; for that also ``ZipInfo._compresslevel`` (zipfile's own private
  field, set as ``ZipFile.write`` sets it).

Each of these is only as good as the XlsxWriter version it was read from, so the first use of
the path (:class:`FastWorkbook`) checks the installed version against
:data:`VERIFIED_VERSIONS` and raises :class:`~flows.errors.ConfigurationError` for any other:
a silent change would give wrong workbooks, not an error. (Not at import: importing the
package must not fail, or change anything, for a command that writes no workbook.)

**No patch of XlsxWriter.** The zip class is not swapped in ``xlsxwriter.workbook`` (for the
whole process, or for the time of a close under a lock, which would still hand this module's
zip to another thread's workbook closing at the same moment). Instead :class:`FastWorkbook`
runs XlsxWriter's own ``_store_workbook`` code — the very function, not a copy of its source —
with its globals extended by ``ZipFile`` bound to this workbook's rows: a new function object
over the same code, seen by this workbook's close only. :func:`check_version` also checks that
``_store_workbook`` still finds ``ZipFile`` as a global, so a change there fails loudly too.
"""

from __future__ import annotations

import functools
import tempfile
import types
import zipfile
from pathlib import Path

import pyarrow as pa
import xlsxwriter
import xlsxwriter.workbook

from .errors import ConfigurationError, WriterError

#: XlsxWriter versions the fast row path was verified with (constraints.txt pins the first):
#: the byte-identity test (tests/test_byte_identity.py) and the cell-by-cell comparison with
#: the reference writer (tests/test_workbook_reference.py) pass with each.
VERIFIED_VERSIONS = ("3.3.1",)


def check_version(version: str | None = None) -> None:
    """Refuse an XlsxWriter this path was not verified with (``version``: the installed one),
    and one whose packing no longer looks up its zip class where this module supplies it."""
    version = xlsxwriter.__version__ if version is None else version
    if version not in VERIFIED_VERSIONS:
        raise ConfigurationError(
            f"XlsxWriter {version} is installed, but the workbook writer uses XlsxWriter "
            f"internals verified only with {', '.join(VERIFIED_VERSIONS)}. Install the pinned "
            f"version (pip install -c constraints.txt -e .), or verify {version}: add it to "
            f"VERIFIED_VERSIONS in flows/xlsx_rows.py only once tests/test_byte_identity.py and "
            f"tests/test_workbook_reference.py pass with it.")
    code = xlsxwriter.workbook.Workbook._store_workbook.__code__
    if "ZipFile" not in code.co_names or code.co_freevars:
        raise ConfigurationError(
            f"XlsxWriter {version}: Workbook._store_workbook no longer packs into a module-level "
            f"ZipFile; flows/xlsx_rows.py must be adapted to it")


def xf_index(fmt) -> str:
    """The style index XlsxWriter gives ``fmt`` (assigned on first use, as when it writes a
    cell itself: the order of first uses numbers the styles)."""
    return str(fmt._get_xf_index())


class RowFile:
    """A sheet's data rows until the workbook closes: a temporary file of zstd-compressed
    batches. A million lines are 1.5 GB of XML; writing them to disk and reading them back
    took longer than compressing them to a fifteenth and back (pyarrow's zstd, level 1)."""

    _codec = pa.Codec("zstd", compression_level=1) if pa.Codec.is_available("zstd") else None

    def __init__(self, tmpdir):
        self.file = tempfile.TemporaryFile(dir=tmpdir)
        self.sizes: list[tuple[int, int]] = []  # per batch: stored bytes, XML bytes

    def write(self, xml) -> None:
        stored = self._codec.compress(xml, asbytes=True) if self._codec else bytes(xml)
        self.file.write(stored)
        self.sizes.append((len(stored), len(xml)))

    def size(self) -> int:
        return sum(plain for _, plain in self.sizes)

    def batches(self):
        self.file.seek(0)
        for stored, plain in self.sizes:
            data = self.file.read(stored)
            yield (self._codec.decompress(data, decompressed_size=plain, asbytes=True)
                   if self._codec else data)

    def close(self) -> None:
        self.file.close()


class _SplicingZipFile(zipfile.ZipFile):
    """The zip one :class:`FastWorkbook` packs into: deflated at the workbook's level, and each
    sheet's data rows added from their own file as the sheet goes into the zip, just before
    ``</sheetData>`` (XlsxWriter's copy of them into its sheet file, through a text-mode
    decode and encode, is skipped). Every row file must find its sheet, or the close fails."""

    def __init__(self, *args, rows: dict[str, RowFile], **kwargs):
        super().__init__(*args, **kwargs)
        self._rows = rows
        self._spliced: set[str] = set()

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        rows = self._rows.get(arcname)
        if rows is None:
            return super().write(filename, arcname, compress_type, compresslevel)
        # as ZipFile.write does for a file, with the rows inside the sheet's XML
        sheet = Path(filename).read_bytes()
        cut = sheet.find(b"</sheetData>")
        if cut < 0:
            raise WriterError(f"{arcname}: XlsxWriter wrote no </sheetData> to put the rows in")
        info = zipfile.ZipInfo.from_file(filename, arcname)
        info.file_size = len(sheet) + rows.size()
        info.compress_type = self.compression if compress_type is None else compress_type
        info._compresslevel = self.compresslevel if compresslevel is None else compresslevel
        with self.open(info, "w") as dest:
            dest.write(sheet[:cut])
            for xml in rows.batches():
                dest.write(xml)
            dest.write(sheet[cut:])
        self._spliced.add(arcname)

    def close(self):
        was_open = self.fp is not None
        super().close()
        missing = sorted(set(self._rows) - self._spliced)
        if was_open and missing:
            raise WriterError(f"the data rows of {', '.join(missing)} found no sheet of that "
                              f"name in the package XlsxWriter wrote")


class FastWorkbook(xlsxwriter.Workbook):
    """An XlsxWriter workbook (constant-memory mode) whose worksheets can take data rows as
    ready XML: :meth:`reserve_rows`, then :meth:`RowFile.write`; :meth:`close` packs them into
    the sheets, deflating at ``deflate_level``."""

    def __init__(self, filename: str, options: dict, deflate_level: int):
        check_version()
        if not options.get("constant_memory"):
            raise ValueError("FastWorkbook writes rows as constant-memory mode does")
        super().__init__(filename, options)
        self._deflate_level = deflate_level
        self._row_files: dict[str, RowFile] = {}  # sheet XML name in the zip -> its rows

    def reserve_rows(self, ws, rows: int, cols: int) -> RowFile:
        """Rows 1..``rows`` (0-based, after the header row) of ``ws``, the last sheet added,
        left to the returned file: counted in the sheet's dimension, the header row flushed
        to XlsxWriter's row data, and "the last row written" moved past them."""
        if ws is not self.worksheets()[-1]:
            raise ValueError("rows are reserved on the sheet added last")
        code = ws._check_dimensions(rows, cols - 1)
        if code:
            raise WriterError(f"{ws.name}: row {rows + 1}, column {cols}: XlsxWriter error {code}")
        ws._write_single_row(rows + 1)
        fh = RowFile(self.tmpdir)
        # the packager numbers the worksheets' XML in the order they were added
        self._row_files[f"xl/worksheets/sheet{len(self.worksheets())}.xml"] = fh
        return fh

    def _store_workbook(self) -> None:
        # XlsxWriter's own packing, with ZipFile resolved to this workbook's splicing zip
        base = xlsxwriter.workbook.Workbook._store_workbook
        zip_class = functools.partial(_SplicingZipFile, rows=self._row_files,
                                      compresslevel=self._deflate_level)
        env = {**base.__globals__, "ZipFile": zip_class}
        types.FunctionType(base.__code__, env, base.__name__)(self)

    def close(self) -> None:
        try:
            super().close()
        finally:
            for fh in self._row_files.values():
                fh.close()
