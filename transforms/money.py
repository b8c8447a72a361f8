"""Exact money: integer minor units, commercial rounding, largest-remainder allocation.

Every amount in billing-export is an integer count of the currency's minor unit (DESIGN.md §5);
rates and percentages are integers with a fixed scale. The only division happens in
:func:`mul_div_round`, which rounds half away from zero exactly as Python's ``decimal`` with
``ROUND_HALF_UP`` does (:data:`HALF_UP`, the default), or half to even as ``ROUND_HALF_EVEN``
(:data:`HALF_EVEN`), so no binary float ever touches an amount. The mode is the company's
``rounding`` setting, handed to every rule that rounds: the workbook's taxes must be the ones
the receiving ERP computes, and some ERPs (Tryton, for one) round half to even.

>>> import numpy as np
>>> mul_div_round(np.array([2675, -2675]), np.array([1, 1]), np.array([10, 10])).tolist()
[268, -268]
>>> mul_div_round(np.array([2675, -2675, 2665]), 1, 10, HALF_EVEN).tolist()
[268, -268, 266]
>>> to_minor(["1250.00", "0.5", "7"], [2, 2, 0])[0].tolist()
[125000, 50, 7]
>>> format_minor(np.array([125005, -5, 7]), np.array([2, 2, 0])).tolist()
['1250.05', '-0.05', '7']
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Percentages (tax rates, discounts) are stored as integers in units of 1/10,000 percent.
PERCENT_SCALE = 10_000
#: Exchange rates are stored as integers in units of 1/1,000,000.
RATE_SCALE = 1_000_000

_INT64_SAFE = 2**62
#: pandas' default text dtype, the one :func:`to_minor` reads
_STR = pd.Series([], dtype="str").dtype

#: half away from zero (commercial rounding; ``decimal.ROUND_HALF_UP``): 2.675 → 2.68
HALF_UP = "half_up"
#: half to even (banker's rounding; ``decimal.ROUND_HALF_EVEN``): 2.665 → 2.66, 2.675 → 2.68
HALF_EVEN = "half_even"
ROUNDING_MODES = (HALF_UP, HALF_EVEN)


def _check_mode(mode: str) -> None:
    if mode not in ROUNDING_MODES:
        raise ValueError(f"rounding mode must be one of {', '.join(ROUNDING_MODES)}, got {mode!r}")


def _as_int_array(values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object:
        return arr
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        return arr.astype(object)  # Python ints >= 2**63 arrive as uint64; never wrap them
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"money arithmetic needs integers, got {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _max_abs(arr: np.ndarray) -> int:
    if arr.size == 0:
        return 0
    return int(max(abs(int(arr.max())), abs(int(arr.min()))))


def mul_div_round(a, b, d, mode: str = HALF_UP) -> np.ndarray:
    """Round ``a * b / d`` element-wise and exactly: an exact half away from zero
    (:data:`HALF_UP`) or to the even neighbour (:data:`HALF_EVEN`).

    ``d`` must be positive. Products that could leave int64 are computed with Python integers
    (an object array), so a large amount in a currency such as JPY or IDR never wraps around.
    """
    _check_mode(mode)
    a, b, d = (_as_int_array(x) for x in (a, b, d))
    a, b, d = np.broadcast_arrays(a, b, d)
    if d.size and int(d.min()) <= 0:
        raise ValueError("divisor must be positive")
    fits = _max_abs(a) * _max_abs(b) * 2 + _max_abs(d) < _INT64_SAFE
    if not fits:
        a, b, d = (x.astype(object) for x in (a, b, d))
    n = a * b
    mag = np.abs(n)
    q, r = mag // d, mag % d
    if mode == HALF_UP:
        q = q + (2 * r >= d)
    else:  # the magnitude's half goes to the even quotient; the sign is applied after
        q = q + ((2 * r > d) | ((2 * r == d) & (q % 2 == 1)))
    out = np.where(n < 0, -q, q)
    if not fits:
        if out.size and _max_abs(out) >= 2**63:
            raise OverflowError("amount too large for 64-bit minor units")
        out = out.astype(np.int64)
    return out.astype(np.int64, copy=False)


def round_to_increment(amount, increment, mode: str = HALF_UP) -> np.ndarray:
    """Round minor-unit amounts to a multiple of ``increment`` (cash rounding, e.g. 5 Rappen);
    with :data:`HALF_EVEN` an exact half goes to the even multiple of the increment."""
    amount = _as_int_array(amount)
    increment = _as_int_array(increment)
    return mul_div_round(amount, 1, increment, mode) * increment


def allocate(total, weights, groups) -> np.ndarray:
    """Split each group's ``total`` over its rows in proportion to ``weights``, exactly.

    Largest-remainder method: every row gets the truncated share, and the units left over go
    to the rows with the largest remainders (ties: the earlier row). The parts of a group add up
    to its total to the unit, which is what lets line amounts reconcile with the invoice.
    No half is rounded here (the parts are shares of a total already rounded by its rule),
    so the rounding mode does not enter.
    ``total`` is given per row (the same value on every row of a group). A group whose
    weights sum to zero is split evenly by the same rule. ``groups`` are labels of any kind;
    integer labels (e.g. an invoice's position) save hashing texts.
    """
    total = _as_int_array(total)
    weights = _as_int_array(weights)
    n = len(weights)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    runs = groups if isinstance(groups, Groups) else Groups(groups)
    w_sum = runs.sum(weights)
    count = runs.size()
    even = w_sum == 0
    # weights signed so that the group's weight sum is positive: with weights of one sign this
    # is |weights|; with mixed signs the floor division below still gives each row its share
    w = np.where(even, 1, np.where(w_sum < 0, -weights, weights))
    denom = np.where(even, count, np.abs(w_sum))
    sign = np.where(total < 0, -1, 1)
    mag = np.abs(total)
    fits = _max_abs(mag) * _max_abs(w) * 2 < _INT64_SAFE
    if fits:
        num = mag * w
    else:
        num = mag.astype(object) * w.astype(object)
    base, rem = num // denom, num % denom
    base = base.astype(np.int64)
    # remainders below denom fit int64; keep ordering exact
    rem = rem.astype(np.int64)
    short = mag - runs.sum(base)
    rank = runs.rank_descending(rem)
    extra = (rank < short).astype(np.int64)
    return (sign * (base + extra)).astype(np.int64)


class Groups:
    """Rows grouped by label as runs of one stable sort: per-row group sums and sizes, and
    ranks within the group, all on integer arrays (exact: no float, labels hashed once)."""

    def __init__(self, labels):
        codes, _ = pd.factorize(np.asarray(labels))
        self.codes = codes.astype(np.int64)
        n = len(self.codes)
        # labels that arrive in runs (lines sorted by invoice) need no sort
        if n < 2 or bool((self.codes[1:] >= self.codes[:-1]).all()):
            self.order = None
            ordered = self.codes
        else:
            self.order = np.argsort(self.codes, kind="stable")
            ordered = self.codes[self.order]
        # factorize numbers the groups 0, 1, …: group k's run starts at starts[k]
        self.starts = np.flatnonzero(np.r_[n > 0, ordered[1:] != ordered[:-1]])
        self.n = n

    def totals(self, values: np.ndarray) -> np.ndarray:
        """Each group's total of ``values`` (integers, exact), groups in order of appearance."""
        if not self.n:
            return np.zeros(0, dtype=np.int64)
        v = values if self.order is None else values[self.order]
        return np.add.reduceat(v, self.starts)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Each row's group total of ``values`` (integers, exact)."""
        return self.totals(values)[self.codes]

    def first(self) -> np.ndarray:
        """The position of each group's first row, groups in order of appearance."""
        return self.starts if self.order is None else self.order[self.starts]

    def size(self) -> np.ndarray:
        """Each row's group size."""
        return np.diff(np.r_[self.starts, self.n])[self.codes]

    def rank_descending(self, values: np.ndarray) -> np.ndarray:
        """0 for the largest value of its group, 1 for the next, …; ties by row order.
        ``values`` are integers >= 0."""
        if not self.n:
            return np.zeros(0, dtype=np.int64)
        span = int(values.max()) + 1
        if (int(self.codes.max()) + 1) * span < _INT64_SAFE:
            # one integer key, group first, then the larger value first; a stable sort keeps
            # equal values in row order
            order = np.argsort(self.codes * span + (span - 1 - values), kind="stable")
        else:
            order = np.lexsort((-values, self.codes))
        rank = np.empty(self.n, dtype=np.int64)
        rank[order] = np.arange(self.n, dtype=np.int64) - self.starts[self.codes[order]]
        return rank


def to_minor(texts, exponents) -> tuple[np.ndarray, np.ndarray]:
    """Parse plain decimal texts (``-1250.5``) into minor units of the given exponents.

    Returns ``(minor, ok)``. A text that is not a plain decimal, or that has more non-zero
    decimals than the currency allows, is not ok: it is never rounded silently.
    ASCII texts (all but a stray few) are read by Arrow's compute kernels, a tenth of the cost
    of Python's regular expressions on the 20,000 rows of an exchange-rate table; the others by
    :func:`_to_minor_python`, the plain reference both must agree with.
    """
    if isinstance(texts, pd.Series) and texts.dtype == _STR:
        s = texts.reset_index(drop=True).str.strip()  # the same texts, without a Python list
    else:
        s = pd.Series(list(texts), dtype="str").str.strip()
    exps = np.asarray(exponents, dtype=np.int64)
    arr = pa.array(s, type=pa.large_string())
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), True).to_numpy(zero_copy_only=False)
    if not ascii_.all():
        minor, ok = _to_minor_python(s, exps)
        if ascii_.any():
            at = np.flatnonzero(ascii_)
            minor[at], ok[at] = _to_minor_ascii(pc.take(arr, at), exps[at])
        return minor, ok
    return _to_minor_ascii(arr, exps)


def _to_minor_ascii(arr: pa.Array, exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`to_minor` of stripped ASCII texts (``[0-9]`` is Python's ``\\d`` there)."""
    parts = pc.extract_regex(arr, r"^(?P<sign>-?)(?P<int>[0-9]{1,15})(?:\.(?P<frac>[0-9]*))?$")
    ok = parts.is_valid().to_numpy(zero_copy_only=False)
    sign, int_text, frac = (pc.fill_null(pc.struct_field(parts, k), fill)
                            for k, fill in (("sign", ""), ("int", "0"), ("frac", "")))
    frac = pc.utf8_rtrim(frac, "0")
    frac_len = pc.utf8_length(frac).to_numpy().astype(np.int64)
    ok = ok & (frac_len <= exps)
    # the result must fit int64 (< 10**18): reject, never wrap around
    int_len = pc.utf8_length(pc.utf8_ltrim(int_text, "0")).to_numpy().astype(np.int64)
    ok = ok & (int_len + exps <= 18)
    int_val = np.where(ok, pc.cast(int_text, pa.int64()).to_numpy(), 0)
    frac_ok = ok & (frac_len > 0)
    frac_val = pc.cast(pc.if_else(pa.array(frac_ok), frac, "0"), pa.int64()).to_numpy()
    shift = np.where(ok, exps - frac_len, 0)
    minor = int_val * 10**exps + frac_val * 10**shift
    minor = np.where(ok, minor, 0)
    minor = np.where(pc.equal(sign, "-").to_numpy(zero_copy_only=False), -minor, minor)
    return minor.astype(np.int64), ok


def _to_minor_python(s: pd.Series, exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`to_minor` of stripped texts with Python's regular expressions: the reference."""
    parts = s.str.extract(r"^(?P<sign>-?)(?P<int>[0-9]{1,15})(?:\.(?P<frac>[0-9]*))?$")
    ok = parts["int"].notna().to_numpy()
    frac = parts["frac"].fillna("").str.rstrip("0")
    frac_len = frac.str.len().to_numpy().astype(np.int64)
    ok = ok & (frac_len <= exps)
    # the result must fit int64 (< 10**18): reject, never wrap around
    int_len = parts["int"].fillna("").str.lstrip("0").str.len().to_numpy().astype(np.int64)
    ok = ok & (int_len + exps <= 18)
    int_val = pd.to_numeric(parts["int"].where(ok, "0"), errors="coerce").to_numpy().astype(np.int64)
    frac_val = pd.to_numeric(frac.where(ok & (frac_len > 0), "0"), errors="coerce").to_numpy()
    frac_val = frac_val.astype(np.int64)
    shift = np.where(ok, exps - frac_len, 0)
    minor = int_val * 10**exps + frac_val * 10**shift
    minor = np.where(ok, minor, 0)
    minor = np.where(parts["sign"].fillna("").to_numpy() == "-", -minor, minor)
    return minor.astype(np.int64), ok


def format_minor(minor, exponents) -> np.ndarray:
    """Minor units back to plain decimal text, e.g. for manifests and checks."""
    minor = _as_int_array(minor).astype(np.int64)
    exps = np.asarray(exponents, dtype=np.int64)
    out = []
    for m, e in zip(minor.tolist(), exps.tolist()):
        out.append(str(Decimal(m).scaleb(-e)) if e else str(m))
    return np.array(out, dtype=object)


def to_decimal(minor: int, exponent: int) -> Decimal:
    """One minor-unit amount as an exact Decimal (for writing a single cell)."""
    return Decimal(int(minor)).scaleb(-int(exponent))


def parse_scaled(texts, scale_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse decimal texts into integers scaled by ``10**scale_digits`` (rates, percentages)."""
    n = len(texts)
    return to_minor(texts, np.full(n, scale_digits, dtype=np.int64))
