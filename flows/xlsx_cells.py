"""The data rows of a workbook sheet as XML, built column-wise with Arrow (DESIGN.md §6).

A million lines written cell by cell through XlsxWriter are three million Python calls, so the
rows are built here a batch at a time with Arrow compute kernels, in exactly the XML
XlsxWriter's own constant-memory row writer emits (``<c r=.. s=..><v>..</v></c>`` and inline
strings); :mod:`flows.xlsx_rows` puts them into the sheet. What the cells are is defined by
the plain writer, :mod:`flows.xlsx_reference` (XlsxWriter's public API, cell by cell):
tests/test_workbook_reference.py holds the two to the same cells.

Amounts are exact decimal text built from integer minor units and the currency's exponent (no
float ever holds an amount), each cell with its currency's number format. Text is always an
inline string, never a formula nor markup, XML-escaped, control characters as ``_xHHHH_`` like
Excel; a text over ``max_text`` UTF-16 units is cut with a marker and reported; a text longer
than its column is wide gets the wrapping style. A :data:`~schemas.columns.VARIANT` column is
written cell by cell as the kind its row names.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from xlsxwriter.utility import xl_col_to_name

from schemas.columns import AMOUNT, DATE, PERCENT, RATE, TEXT, VARIANT, Sheet
from transforms import minor_units

from .errors import WriterError

_SCALE = {PERCENT: 4, RATE: 6}  # money.PERCENT_SCALE, money.RATE_SCALE as exponents

_LS = pa.large_string()
# what XlsxWriter escapes as _xHHHH_ (control characters, U+FFFE/U+FFFF, and a literal _xHHHH_)
_CONTROL_RE2 = r"[\x00-\x08\x0b-\x1f\x{fffe}\x{ffff}]|_x[0-9a-fA-F]{4}_"
_CONTROL_1 = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL_2 = re.compile(r"([\x00-\x08\x0b-\x1f])")
# leading or trailing whitespace as Python's ``\s`` sees it (XlsxWriter's xml:space test)
_EDGE_SPACE_RE2 = r"^[\s\p{Z}\x{85}]|[\s\p{Z}\x{85}]$"
_EDGE_SPACE = re.compile(r"^\s|\s$")
# days from 1899-12-31 (Excel's 1900 epoch), +1 after 1900-02-28 (Excel's leap-year bug)
_EPOCH = np.datetime64("1899-12-31", "ns")
_NS_PER_DAY = 86_400 * 10**9


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2



def cut_text(text: str, max_text: int, marker: str) -> str:
    keep = max_text - utf16_len(marker)
    head = text.encode("utf-16-le", "surrogatepass")[: 2 * keep]
    return head.decode("utf-16-le", "ignore") + marker  # a split surrogate pair is dropped


def escape_control(text: str) -> str:
    text = _CONTROL_1.sub(r"_x005F\1", text)
    text = _CONTROL_2.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    return text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")



def joined_bytes(arr: pa.Array) -> memoryview:
    """All values of a large_string array back to back (its data buffer between the offsets)."""
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    return memoryview(data)[int(offs[0]):int(offs[-1])]


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, _LS)


def bool_mask(arr) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def text_array(values: pd.Series) -> pa.Array:
    s = values if values.dtype == "str" else values.astype("str")
    arr = pa.array(s, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(_LS)


def _int_array(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """int64 values and a mask of present ones (nullable Int64 or int64)."""
    present = values.notna().to_numpy()
    return values.to_numpy(dtype=np.int64, na_value=0), present


def decimal_text(minor: np.ndarray, exps: np.ndarray) -> pa.Array:
    """Exact decimal text of integer minor units at per-row exponents: 125005, 2 → "1250.05";
    -5, 2 → "-0.05"; 7, 0 → "7". The same digits ``Decimal(minor).scaleb(-exp)`` shows."""
    minor = np.asarray(minor, dtype=np.int64)
    exps = np.asarray(exps, dtype=np.int64)
    mag = np.abs(minor)
    unit = 10 ** exps
    whole = pa.array(mag // unit).cast(_LS)
    # the fraction, zero-padded to exp digits: 10**exp + frac written out, minus the leading 1
    frac = pc.utf8_slice_codeunits(pa.array(unit + mag % unit).cast(_LS), 1)
    frac = pc.if_else(pa.array(exps > 0), pc.binary_join_element_wise(_s("."), frac, _s("")),
                      _s(""))
    sign = pc.if_else(pa.array(minor < 0), _s("-"), _s(""))
    return pc.binary_join_element_wise(sign, whole, frac, _s(""))


def _exponents(currency: pd.Series) -> np.ndarray:
    """Decimals of each row's currency (-1 for none or an unknown one), looked up once per
    distinct currency."""
    codes, values = pd.factorize(currency, use_na_sentinel=False)
    known = pd.Series(values, dtype="object")
    return minor_units.exponents(known.where(known.notna(), ""))[codes]


def _excel_days(values: pd.Series, name: str, header: str
                ) -> tuple[np.ndarray | pa.Array, np.ndarray]:
    """Excel serial day numbers (1900 system), and the mask of present dates; a column with
    a time of day as its text, as XlsxWriter writes it."""
    ns = values.to_numpy(dtype="datetime64[ns]")
    present = ~np.isnat(ns)
    delta = (ns - _EPOCH).astype(np.int64)
    days, rest = np.divmod(delta, _NS_PER_DAY)
    days = np.where(days > 59, days + 1, days)  # Excel's 29 February 1900
    if (rest[present] != 0).any():
        # a time of day: the fraction as XlsxWriter writes it (dates here are whole days)
        text = [None if not p else f"{d + r / _NS_PER_DAY:.16G}"
                for d, r, p in zip(days.tolist(), rest.tolist(), present.tolist())]
        return pa.array(text, _LS), present
    if present.any() and days[present].min() < 0:
        raise WriterError(f"{name}: column {header}: a date before 1900 cannot be an Excel date")
    return days, present


def rows_xml(sheet: Sheet, part: pd.DataFrame, first_row: int, fmt, name, language, marker,
              max_text, report, widths=None) -> pa.Array:
    """The <row> elements of the data rows ``first_row``.. (0-based sheet rows)."""
    n = len(part)
    rownum = pa.array(np.arange(first_row + 1, first_row + n + 1, dtype=np.int64)).cast(_LS)
    # the pieces of every row, joined once at the end; a column with a missing cell is joined
    # on its own first (a missing piece makes the whole cell null, written as nothing)
    pieces = [_s('<row r="'), rownum, _s('">')]

    def add(*cell):
        if any(isinstance(p, pa.Array) and p.null_count for p in cell):
            pieces.append(pc.binary_join_element_wise(*cell, _s("")))
        else:
            pieces.extend(cell)
    texts = _text_pieces(sheet, part, first_row, name, language, marker, max_text, widths)
    numbers = _number_cells(sheet, part, first_row, name, language)
    for j, c in enumerate(sheet.cols):
        ref = _s(f'<c r="{xl_col_to_name(j)}')
        s = part[c.id]
        header = c.header(language)
        width = widths[j] if widths else None
        if c.kind == VARIANT:
            add(pa.array(_variant_cells(xl_col_to_name(j), s, part[f"{c.id}_kind"],
                                        part[c.currency] if c.currency else None, first_row,
                                        fmt, name, header, marker, max_text, report, width),
                         _LS))
        elif c.kind == TEXT:
            long, preserve, arr, cut = texts[j]
            report.cut_cells.extend(cut)
            add(ref, rownum, _text_type(long, fmt), preserve, arr, _s("</t></is></c>"))
        else:
            got = numbers[j]
            if isinstance(got, WriterError):
                raise got
            value, exps, present = got
            if c.kind == DATE:
                style = _s(fmt.xf(fmt.date))
            elif c.kind == AMOUNT:
                styles = {int(e): fmt.xf(fmt.amount(int(e))) for e in np.unique(exps[present])}
                table = np.array([styles.get(e, "0") for e in range(int(exps.max()) + 1)],
                                 dtype=object)
                style = pa.array(table[exps], _LS)
            elif c.kind in _SCALE:
                style = _s(fmt.xf(fmt.percent if c.kind == PERCENT else fmt.rate))
            else:
                style = _s(fmt.xf(fmt.int))
            add(ref, rownum, _s('" s="'), style, _s('"><v>'), value, _s("</v></c>"))
    pieces.append(_s("</row>"))
    return pc.binary_join_element_wise(*pieces, _s(""), null_handling="replace",
                                       null_replacement="")


def _text_pieces(sheet: Sheet, part: pd.DataFrame, first_row: int, name, language, marker,
                 max_text, widths) -> dict[int, tuple]:
    """The pieces of every text column's cells — which are longer than the column (they
    wrap, :func:`_text_type`), the space marker, the escaped text — and the cells cut at
    ``max_text``, by column position. Every
    step is cell by cell, so the sheet's text columns go through them as one array, one call
    a step, not one call a step and column (a small sheet's text columns took most of its
    XML's time in calls)."""
    cols = [j for j, c in enumerate(sheet.cols) if c.kind == TEXT]
    n = len(part)
    if not cols or not n:
        return {j: (None, _s(""), pa.array([], _LS), []) for j in cols}
    arr = pa.concat_arrays([text_array(part[sheet.cols[j].id]) for j in cols])
    cut: dict[int, list] = {j: [] for j in cols}
    cand = np.flatnonzero(bool_mask(pc.greater(pc.binary_length(arr), max_text)))
    if len(cand):
        mask = np.zeros(len(arr), dtype=bool)
        fixed = []
        for i in cand:
            text = arr[int(i)].as_py()
            if utf16_len(text) > max_text:
                k, row = divmod(int(i), n)
                mask[i] = True
                fixed.append(cut_text(text, max_text, marker))
                cut[cols[k]].append((name, first_row + row + 1,
                                     sheet.cols[cols[k]].header(language)))
        if fixed:
            arr = pc.replace_with_mask(arr, pa.array(mask), pa.array(fixed, _LS))
    ctrl = np.flatnonzero(bool_mask(pc.match_substring_regex(arr, _CONTROL_RE2)))
    if len(ctrl):
        mask = np.zeros(len(arr), dtype=bool)
        mask[ctrl] = True
        fixed = [escape_control(arr[int(i)].as_py()) for i in ctrl]
        arr = pc.replace_with_mask(arr, pa.array(mask), pa.array(fixed, _LS))
    preserve = pc.if_else(pc.match_substring_regex(arr, _EDGE_SPACE_RE2),
                          _s('<t xml:space="preserve">'), _s("<t>"))
    for ch, ent in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        if pc.any(pc.match_substring(arr, ch)).as_py():  # most sheets have none
            arr = pc.replace_substring(arr, ch, ent)
    long = None
    if widths:
        # a text longer than its column wraps (its row grows), else it runs off; its length
        # here is the escaped one ("&" counts as "&amp;"), as the recorded workbooks have it
        # (a VARIANT text counts its own characters)
        width = np.repeat(np.array([widths[j] for j in cols], dtype=np.int64), n)
        long = np.asarray(pc.fill_null(pc.utf8_length(arr), 0), dtype=np.int64) > width
    return {j: (None if long is None else long[k * n:(k + 1) * n], preserve.slice(k * n, n),
                arr.slice(k * n, n), cut[j])
            for k, j in enumerate(cols)}


def _text_type(long: np.ndarray | None, fmt):
    """A text cell's type: inline, and wrapping where it is longer than its column. The
    wrapping format is asked for at the first column that wraps, as the styles' order has
    it."""
    plain = _s('" t="inlineStr"><is>')
    if long is None or not long.any():
        return plain
    return pc.if_else(pa.array(long), _s(f'" s="{fmt.xf(fmt.wrap)}" t="inlineStr"><is>'), plain)


def _number_cells(sheet: Sheet, part: pd.DataFrame, first_row: int, name, language
                  ) -> dict[int, tuple | WriterError]:
    """Every number and date column's cell values as text — ``(text, exponents, present)``,
    the exponents an amount's currency's — or the error of its first bad cell, by column
    position (raised when the sheet's writing reaches that column). The digits of all of
    them are written in two calls, whole numbers and decimals, not in calls per column."""
    out: dict[int, tuple | WriterError] = {}
    whole: list[tuple[int, np.ndarray, np.ndarray]] = []  # ints and whole-day dates
    decimal: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    exponents: dict[str, np.ndarray] = {}
    n = len(part)
    for j, c in enumerate(sheet.cols):
        if c.kind in (TEXT, VARIANT):
            continue
        s = part[c.id]
        if c.kind == DATE:
            try:
                days, present = _excel_days(s, name, c.header(language))
            except WriterError as err:
                out[j] = err
                continue
            if isinstance(days, pa.Array):  # a time of day: written out already
                out[j] = (pc.if_else(pa.array(present), days, pa.scalar(None, _LS)), None,
                          present)
            else:
                whole.append((j, days, present))
            continue
        ints, present = _int_array(s)
        if c.kind == AMOUNT:
            if c.currency not in exponents:  # most amounts share a currency column
                exponents[c.currency] = _exponents(part[c.currency])
            exps = exponents[c.currency]
            bad = present & (exps < 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                out[j] = WriterError(
                    f"{name}: row {first_row + i + 1}, column {c.header(language)}: amount "
                    f"without a known currency ({part[c.currency].iloc[i]!r})")
                continue
            decimal.append((j, ints, np.where(present, exps, 0), present))
        elif c.kind in _SCALE:
            decimal.append((j, ints, np.full(n, _SCALE[c.kind], dtype=np.int64), present))
        else:
            whole.append((j, ints, present))
    if whole:
        present = np.concatenate([w[2] for w in whole])
        text = pc.if_else(pa.array(present),
                          pa.array(np.concatenate([w[1] for w in whole])).cast(_LS),
                          pa.scalar(None, _LS))
        for k, (j, _, p) in enumerate(whole):
            out[j] = (text.slice(k * n, n), None, p)
    if decimal:
        present = np.concatenate([d[3] for d in decimal])
        text = pc.if_else(pa.array(present),
                          decimal_text(np.concatenate([d[1] for d in decimal]),
                                       np.concatenate([d[2] for d in decimal])),
                          pa.scalar(None, _LS))
        for k, (j, _, exps, p) in enumerate(decimal):
            out[j] = (text.slice(k * n, n), exps, p)
    return out


def variant_value(value, kind: str, currency, where: str):
    """A :data:`VARIANT` cell's value as the kind its row names: None (no cell), or
    ``("int", int)``, ``("amount", (Decimal, exponent))``, ``("date", date)``, ``("text", str)``;
    a value not of its kind is an error, never a guess. Shared by both writers: this is what
    the row's text means, not how it is written."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    if kind == "int":
        if not re.fullmatch(r"-?\d+", text):
            raise WriterError(f"{where}: {text!r} is not a whole number")
        return "int", int(text)
    if kind == "amount":
        exp = minor_units.EXPONENTS.get(currency, -1) if isinstance(currency, str) else -1
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = None
        if exp < 0 or amount is None or not amount.is_finite() or \
                amount != amount.quantize(Decimal(1).scaleb(-exp)):
            raise WriterError(f"{where}: {text!r} is not an amount in {currency!r}")
        return "amount", (amount.quantize(Decimal(1).scaleb(-exp)), exp)
    if kind == "date":
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise WriterError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None
        if day < dt.date(1900, 1, 1):
            raise WriterError(f"{where}: a date before 1900 cannot be an Excel date")
        return "date", day
    return "text", text


def _variant_cells(col: str, values: pd.Series, kinds: pd.Series, currency, first_row: int,
                   fmt, name, header, marker, max_text, report, width) -> list[str]:
    """The cells of a :data:`VARIANT` column one by one (a sheet of a few dozen rows): each
    value's exact text written as the kind its row names, so a count or an amount is a number
    Excel sums, a date is a date, and nothing is a number stored as text."""
    out = []
    for i, (value, kind) in enumerate(zip(values.tolist(), kinds.tolist())):
        row = first_row + i + 1
        cur = currency.iloc[i] if currency is not None else None
        cell = variant_value(value, kind, cur, f"{name}: row {row}, column {header}")
        if cell is None:
            out.append("")
            continue
        kind, value = cell
        ref = f'<c r="{col}{row}"'
        if kind == "int":
            out.append(f'{ref} s="{fmt.xf(fmt.int)}"><v>{value}</v></c>')
        elif kind == "amount":
            amount, exp = value
            out.append(f'{ref} s="{fmt.xf(fmt.amount(exp))}"><v>{format(amount, "f")}</v></c>')
        elif kind == "date":
            serial = (value - dt.date(1899, 12, 31)).days
            serial += serial > 59  # Excel's 29 February 1900
            out.append(f'{ref} s="{fmt.xf(fmt.date)}"><v>{serial}</v></c>')
        else:
            text = value
            if utf16_len(text) > max_text:
                text = cut_text(text, max_text, marker)
                report.cut_cells.append((name, row, header))
            long = width is not None and len(text) > width
            text = escape_control(text)
            space = ' xml:space="preserve"' if _EDGE_SPACE.search(text) else ""
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            style = f' s="{fmt.xf(fmt.wrap)}"' if long else ""
            out.append(f'{ref}{style} t="inlineStr"><is><t{space}>{text}</t></is></c>')
    return out
