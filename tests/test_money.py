"""Money rules of transforms.money and transforms.totals, checked against Python's ``decimal``.

DESIGN.md §5 "Money is exact" and §9.3: every amount equals what ``decimal`` with ROUND_HALF_UP
(half away from zero) computes from the same inputs. Amounts are integer minor units; the
reference computes in Decimal with ample precision and rounds once.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from transforms import money
from transforms.totals import cash_rounding

SETTINGS = settings(deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

INT64_MAX = 2**63 - 1


def d_round(x: Decimal) -> int:
    """Round half away from zero to an integer, as an accountant does (ROUND_HALF_UP)."""
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def ref_mul_div(a: int, b: int, d: int) -> int:
    with localcontext() as ctx:
        ctx.prec = 200
        return d_round(Decimal(a) * Decimal(b) / Decimal(d))


def arr(values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# mul_div_round
# ---------------------------------------------------------------------------------------------

def test_half_away_from_zero_in_the_designs_own_example():
    # 2.675 -> 2.68 and -2.675 -> -2.68 (DESIGN.md §5): 2675 thousandths to hundredths
    assert money.mul_div_round(arr([2675, -2675, 2674, -2674]), 1, 10).tolist() == \
        [268, -268, 267, -267]


def test_every_exact_half_goes_away_from_zero():
    odd = np.arange(-9, 10, 2)  # -9, -7, ..., 9 halves
    got = money.mul_div_round(odd, 1, 2)
    assert got.tolist() == [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]


small = st.integers(-10**9, 10**9)


@SETTINGS
@given(st.lists(st.tuples(small, small, st.integers(1, 10**9)), min_size=1, max_size=20))
def test_mul_div_round_matches_decimal_in_int64(triples):
    a, b, d = (arr(x) for x in zip(*triples))
    got = money.mul_div_round(a, b, d)
    assert got.dtype == np.int64
    assert got.tolist() == [ref_mul_div(*t) for t in triples]


big = st.integers(-(2**62), 2**62)


@SETTINGS
@given(st.lists(st.tuples(big, big, st.integers(1, 2**62)), min_size=1, max_size=8))
def test_mul_div_round_huge_values_take_the_python_int_path(triples):
    """Products far beyond int64 are computed exactly; a result beyond int64 is an error."""
    a, b, d = (arr(x) for x in zip(*triples))
    expected = [ref_mul_div(*t) for t in triples]
    if any(abs(e) >= 2**63 for e in expected):
        with pytest.raises(OverflowError):
            money.mul_div_round(a, b, d)
    else:
        got = money.mul_div_round(a, b, d)
        assert got.dtype == np.int64
        assert got.tolist() == expected


@SETTINGS
@given(st.integers(2**53, 2**62), st.booleans(), st.integers(2**10, 2**20), st.integers(1, 1000),
       st.integers(0, 2**9))
def test_product_beyond_int64_with_result_inside(mag, negative, b, k, r):
    """a × b wraps in int64, a × b / d does not: the exact result, not a wrapped one."""
    a = -mag if negative else mag
    d = b * k + r
    assert abs(a) * b >= 2**63
    got = money.mul_div_round(arr([a]), arr([b]), arr([d]))
    assert got.tolist() == [ref_mul_div(a, b, d)]


def test_jpy_amount_times_large_rate_does_not_wrap():
    # JPY 9 000 000 000 000 000 at 1000.000000 (scaled 10**9) would wrap a naive int64 product
    a, b, d = 9 * 10**15, 10**9, 10**6
    assert money.mul_div_round(arr([a]), arr([b]), arr([d])).tolist() == [ref_mul_div(a, b, d)]


def test_result_beyond_int64_raises_overflow():
    with pytest.raises(OverflowError):
        money.mul_div_round(arr([2**62]), arr([4]), arr([1]))
    with pytest.raises(OverflowError):
        money.mul_div_round(arr([-(2**62)]), arr([4]), arr([1]))


@SETTINGS
@given(st.integers(-(2**80), 2**80), st.integers(-(2**40), 2**40), st.integers(1, 2**70))
@example(a=2**63, b=1, d=2)  # numpy reads this list as uint64
@example(a=2**64 - 1, b=-1, d=4)
def test_python_ints_beyond_int64_are_never_wrapped(a, b, d):
    """Inputs given as Python ints (object arrays or lists) keep their exact value."""
    expected = ref_mul_div(a, b, d)
    for a_in, b_in, d_in in (([a], [b], [d]),
                             (np.array([a], dtype=object), np.array([b], dtype=object),
                              np.array([d], dtype=object))):
        if abs(expected) >= 2**63:
            with pytest.raises(OverflowError):
                money.mul_div_round(a_in, b_in, d_in)
        else:
            assert money.mul_div_round(a_in, b_in, d_in).tolist() == [expected]


def test_mul_div_round_rejects_floats_and_non_positive_divisors():
    with pytest.raises(TypeError):
        money.mul_div_round(np.array([1.5]), 1, 1)
    with pytest.raises(ValueError):
        money.mul_div_round(arr([1]), 1, 0)
    with pytest.raises(ValueError):
        money.mul_div_round(arr([1]), 1, -3)


def test_mul_div_round_broadcasts_scalars():
    assert money.mul_div_round(arr([105, 205, -105]), 81000, 1_000_000).tolist() == \
        [ref_mul_div(105, 81000, 10**6), ref_mul_div(205, 81000, 10**6),
         ref_mul_div(-105, 81000, 10**6)]


# ---------------------------------------------------------------------------------------------
# to_minor / parse_scaled / format_minor
# ---------------------------------------------------------------------------------------------

def decimals_fitting(exp: int):
    """Decimals with at most ``exp`` decimals and at most 15 integer digits."""
    return st.integers(-(10**15 - 1), 10**15 - 1).flatmap(
        lambda i: st.integers(0, 10**exp - 1).map(
            lambda f: (Decimal(i) + (Decimal(f).scaleb(-exp) if i >= 0 else -Decimal(f).scaleb(-exp)))))


@SETTINGS
@given(st.sampled_from([0, 2, 3]).flatmap(lambda e: st.tuples(st.just(e), decimals_fitting(e))),
       st.integers(0, 3))
def test_to_minor_round_trips_decimal_text(exp_value, extra_zeros):
    exp, value = exp_value
    assume(abs(value) * 10**exp < 10**18)
    text = format(value, "f")
    if extra_zeros:
        text = text + ("." if "." not in text else "") + "0" * extra_zeros
    minor, ok = money.to_minor([text], [exp])
    assert ok.tolist() == [True]
    assert minor.tolist() == [int(value.scaleb(exp))]
    back = money.format_minor(minor, [exp])[0]
    assert Decimal(back) == value
    assert money.to_decimal(int(minor[0]), exp) == value


@SETTINGS
@given(st.sampled_from([0, 2, 3]), st.integers(0, 10**9), st.integers(1, 4),
       st.data(), st.booleans())
def test_too_many_decimals_is_rejected_never_rounded(exp, whole, extra, data, negative):
    """One to four more decimals than the currency has, the last one not zero."""
    frac = data.draw(st.text("0123456789", min_size=exp + extra - 1, max_size=exp + extra - 1))
    frac += data.draw(st.sampled_from("123456789"))
    text = f"{'-' if negative else ''}{whole}.{frac}"
    minor, ok = money.to_minor([text], [exp])
    assert ok.tolist() == [False]
    assert minor.tolist() == [0]


@pytest.mark.parametrize("text,exp,expected", [
    ("1250.00", 2, 125000), ("1250.5", 2, 125050), ("-0.05", 2, -5), ("7", 0, 7),
    ("150000", 0, 150000), ("1.234", 3, 1234), ("  12.30  ", 2, 1230), ("12.300000", 2, 1230),
])
def test_to_minor_examples(text, exp, expected):
    minor, ok = money.to_minor([text], [exp])
    assert (minor.tolist(), ok.tolist()) == ([expected], [True])


@pytest.mark.parametrize("text,exp", [
    ("12.345", 2),  # CHF 12.345 is not rounded to 12.35
    ("0.5", 0),  # half a yen
    ("1,250.00", 2), ("1'250.00", 2), ("1e3", 2), ("", 2), ("abc", 2), ("CHF 12", 2),
    ("+5", 2), ("12.3.4", 2), ("--1", 2), ("1234567890123456", 2),  # 16 integer digits
])
def test_to_minor_rejects(text, exp):
    minor, ok = money.to_minor([text], [exp])
    assert ok.tolist() == [False]
    assert minor.tolist() == [0]


def test_to_minor_reports_each_cell_of_a_column():
    minor, ok = money.to_minor(["1.00", "x", "2.005", "3"], [2, 2, 2, 2])
    assert ok.tolist() == [True, False, False, True]
    assert minor.tolist() == [100, 0, 0, 300]


def test_parse_scaled_percent_and_rate_units():
    pct, ok = money.parse_scaled(["8.1", "7.7", "19", "2.6", "0"], 4)
    assert ok.all()
    assert pct.tolist() == [81000, 77000, 190000, 26000, 0]
    assert pct[0] == 8 * money.PERCENT_SCALE + money.PERCENT_SCALE // 10
    rate, ok = money.parse_scaled(["0.936500", "1", "0.5683"], 6)
    assert ok.all()
    assert rate.tolist() == [936500, money.RATE_SCALE, 568300]
    _, ok = money.parse_scaled(["8.12345", "0.1234567"], 4)
    assert ok.tolist() == [False, False]


@SETTINGS
@given(st.integers(0, 6), st.text("0123456789", min_size=1, max_size=15),
       st.text("0123456789", max_size=8), st.booleans())
def test_parse_scaled_is_exact_or_rejects_never_wraps(digits, int_part, frac_part, negative):
    text = ("-" if negative else "") + int_part + ("." + frac_part if frac_part else "")
    scaled = Decimal(text).scaleb(digits)
    integral = scaled == scaled.to_integral_value()
    got, ok = money.parse_scaled([text], digits)
    # accepted exactly when nothing is lost and the value fits 64-bit minor units (< 10**18)
    assert bool(ok[0]) == (integral and abs(scaled) < 10**18)
    assert int(got[0]) == (int(scaled) if ok[0] else 0)


# ---------------------------------------------------------------------------------------------
# allocate
# ---------------------------------------------------------------------------------------------

group_strategy = st.tuples(
    st.integers(-(10**12), 10**12),  # total
    st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=6),  # weights
)


def _flatten(groups, order):
    rows = [(g, total, w) for g, (total, ws) in enumerate(groups) for w in ws]
    rows = [rows[i] for i in order(len(rows))]
    g, total, w = zip(*rows)
    return np.array(g), arr(total), arr(w)


@SETTINGS
@given(st.lists(group_strategy, min_size=1, max_size=5), st.randoms(use_true_random=False))
@example(groups=[(9_223_372_148, [999999987, -999999988])], rnd=random.Random(0))
@example(groups=[(10**12, [10**9, -(10**9 - 1)])], rnd=random.Random(0))
def test_allocate_parts_sum_to_total_and_stay_within_one_unit(groups, rnd):
    def shuffled(n):
        idx = list(range(n))
        rnd.shuffle(idx)
        return idx

    g, total, w = _flatten(groups, shuffled)
    # with mixed signs a share can exceed its total by far (total × w / Σw with Σw small);
    # a share beyond int64 is an OverflowError, never a wrapped amount
    largest = max(abs(Fraction(tot * wi, sum(ws))) if sum(ws) else abs(Fraction(tot, len(ws)))
                  for tot, ws in groups for wi in ws)
    if largest >= 2**63:
        with pytest.raises(OverflowError):
            money.allocate(total, w, g)
        return
    assume(largest < 2**63 - 2)
    parts = money.allocate(total, w, g)
    assert parts.dtype == np.int64
    for k, (tot, _) in enumerate(groups):
        mine = g == k
        assert int(parts[mine].sum()) == tot
        ws = w[mine].tolist()
        wsum = sum(ws)
        for part, wi in zip(parts[mine].tolist(), ws):
            share = Fraction(tot * wi, wsum) if wsum else Fraction(tot, len(ws))
            assert abs(part - share) < 1, (tot, ws, parts[mine].tolist())


@SETTINGS
@given(st.lists(group_strategy, min_size=1, max_size=5))
def test_allocate_negative_total_is_exact_negation(groups):
    """A credit note's lines are the exact negation of the invoice's (DESIGN.md §9.6)."""
    g, total, w = _flatten(groups, lambda n: range(n))
    assume(all(abs(tot * wi) < (2**63 - 2) * abs(sum(ws)) for tot, ws in groups for wi in ws
               if sum(ws)))
    pos = money.allocate(total, w, g)
    neg = money.allocate(-total, w, g)
    assert neg.tolist() == (-pos).tolist()


@SETTINGS
@given(st.integers(-(10**17), 10**17), st.lists(st.integers(0, 10**9), min_size=1, max_size=6))
def test_allocate_huge_totals(total, ws):
    assume(sum(ws) > 0)
    parts = money.allocate(arr([total] * len(ws)), arr(ws), np.zeros(len(ws), dtype=np.int64))
    assert int(parts.sum()) == total
    for part, wi in zip(parts.tolist(), ws):
        assert abs(part - Fraction(total * wi, sum(ws))) < 1


def test_allocate_largest_remainder_examples():
    # CHF 1.00 over three equal lines: 0.34, 0.33, 0.33 (ties go to the earlier line)
    assert money.allocate(arr([100] * 3), arr([1, 1, 1]), ["a"] * 3).tolist() == [34, 33, 33]
    assert money.allocate(arr([-100] * 3), arr([1, 1, 1]), ["a"] * 3).tolist() == [-34, -33, -33]
    # the largest remainder wins the unit, not the largest weight
    #  total 10 over weights 1, 2, 4: shares 1.43, 2.86, 5.71 -> 1, 3, 6
    assert money.allocate(arr([10] * 3), arr([1, 2, 4]), ["a"] * 3).tolist() == [1, 3, 6]
    # zero-weight group: split evenly
    assert money.allocate(arr([5] * 2), arr([0, 0]), ["z", "z"]).tolist() == [3, 2]
    # a zero-weight line in a weighted group gets nothing
    assert money.allocate(arr([7] * 3), arr([0, 3, 4]), ["a"] * 3).tolist() == [0, 3, 4]
    # mixed signs (a discount line among charges): still proportional and exact
    assert money.allocate(arr([10, 10]), arr([100, -50]), ["a", "a"]).tolist() == [20, -10]


def test_allocate_groups_are_independent_and_empty_input():
    got = money.allocate(arr([10, 20, 10, 20]), arr([1, 1, 1, 3]), ["x", "y", "x", "y"])
    assert got.tolist() == [5, 5, 5, 15]
    assert money.allocate(arr([]), arr([]), []).tolist() == []


# ---------------------------------------------------------------------------------------------
# round_to_increment / cash_rounding
# ---------------------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.integers(-(10**13), 10**13), min_size=1, max_size=10),
       st.one_of(st.sampled_from([1, 5, 10, 25, 50, 100]), st.integers(1, 10**4)))
def test_round_to_increment_matches_decimal(amounts, inc):
    got = money.round_to_increment(arr(amounts), inc)
    expected = [d_round(Decimal(a) / Decimal(inc)) * inc for a in amounts]
    assert got.tolist() == expected
    adj = cash_rounding(arr(amounts), arr([inc] * len(amounts)))
    assert adj.tolist() == [e - a for e, a in zip(expected, amounts)]
    for a, r in zip(amounts, adj.tolist()):
        assert (a + r) % inc == 0
        assert 2 * abs(r) <= inc


@pytest.mark.parametrize("gross,adjustment", [
    # CHF, 5 Rappen:  invoice amount    cash rounding
    ("108.42", "-0.02"),  # 108.40
    ("108.43", "+0.02"),  # 108.45
    ("108.45", "0.00"),
    ("108.47", "-0.02"),  # 108.45
    ("108.48", "+0.02"),  # 108.50
    ("-108.43", "-0.02"),  # credit note: -108.45, mirror image of 108.43
])
def test_chf_cash_rounding_to_five_rappen(gross, adjustment):
    g, _ = money.to_minor([gross.lstrip("+")], [2])
    a, _ = money.to_minor([adjustment.lstrip("+")], [2])
    assert cash_rounding(g, arr([5])).tolist() == a.tolist()


def test_cash_rounding_increment_one_is_off():
    assert cash_rounding(arr([10001, -3, 7]), arr([1, 1, 1])).tolist() == [0, 0, 0]


def test_exact_halves_of_the_increment_round_away_from_zero():
    # 0.025 of a 0.05 step cannot occur in CHF cents; with a 10-unit step 5 is the half
    assert money.round_to_increment(arr([15, -15, 25, -25]), 10).tolist() == [20, -20, 30, -30]


# ---------------------------------------------------------------------------------------------
# Rounding modes: half away from zero (ROUND_HALF_UP) and half to even (ROUND_HALF_EVEN)
# ---------------------------------------------------------------------------------------------

DECIMAL_MODE = {money.HALF_UP: "ROUND_HALF_UP", money.HALF_EVEN: "ROUND_HALF_EVEN"}
modes = st.sampled_from(sorted(DECIMAL_MODE))


def ref_mul_div_mode(a: int, b: int, d: int, mode: str) -> int:
    import decimal
    with localcontext() as ctx:
        ctx.prec = 200
        x = Decimal(a) * Decimal(b) / Decimal(d)
        return int(x.quantize(Decimal(1), rounding=getattr(decimal, DECIMAL_MODE[mode])))


@SETTINGS
@given(st.lists(st.tuples(small, small, st.integers(1, 10**9)), min_size=1, max_size=20), modes)
@example(triples=[(2665, 1, 10), (-2665, 1, 10), (2675, 1, 10), (5, 1, 10), (-15, 1, 10)],
         mode=money.HALF_EVEN)
def test_mul_div_round_matches_decimal_in_both_modes(triples, mode):
    a, b, d = (arr(x) for x in zip(*triples))
    got = money.mul_div_round(a, b, d, mode)
    assert got.dtype == np.int64
    assert got.tolist() == [ref_mul_div_mode(*t, mode) for t in triples]


@SETTINGS
@given(st.lists(st.tuples(big, big, st.integers(1, 2**62)), min_size=1, max_size=8), modes)
def test_mul_div_round_both_modes_on_the_python_int_path(triples, mode):
    a, b, d = (arr(x) for x in zip(*triples))
    expected = [ref_mul_div_mode(*t, mode) for t in triples]
    if any(abs(e) >= 2**63 for e in expected):
        with pytest.raises(OverflowError):
            money.mul_div_round(a, b, d, mode)
    else:
        assert money.mul_div_round(a, b, d, mode).tolist() == expected


@SETTINGS
@given(st.integers(-(10**6), 10**6), st.integers(1, 10**4), modes)
def test_exact_halves_in_both_modes(k, d2, mode):
    """(2k + 1) / 2 is always an exact half: the two modes differ exactly there."""
    got = money.mul_div_round(arr([2 * k + 1]), 1, 2, mode).tolist()[0]
    assert got == ref_mul_div_mode(2 * k + 1, 1, 2, mode)
    if mode == money.HALF_EVEN:
        assert got % 2 == 0
    else:
        assert abs(got) == abs(k) + (1 if k >= 0 else 0)


@SETTINGS
@given(st.lists(st.integers(-(10**13), 10**13), min_size=1, max_size=10),
       st.one_of(st.sampled_from([1, 5, 10, 25, 50, 100]), st.integers(1, 10**4)), modes)
def test_round_to_increment_and_cash_rounding_in_both_modes(amounts, inc, mode):
    got = money.round_to_increment(arr(amounts), inc, mode)
    expected = [ref_mul_div_mode(a, 1, inc, mode) * inc for a in amounts]
    assert got.tolist() == expected
    adj = cash_rounding(arr(amounts), arr([inc] * len(amounts)), mode)
    assert adj.tolist() == [e - a for e, a in zip(expected, amounts)]


def test_half_to_even_cash_rounding_with_a_ten_unit_step():
    assert money.round_to_increment(arr([15, -15, 25, -25]), 10, money.HALF_EVEN).tolist() == \
        [20, -20, 20, -20]


def test_unknown_rounding_mode_is_an_error():
    with pytest.raises(ValueError, match="rounding mode"):
        money.mul_div_round(arr([1]), 1, 2, "half_down")


@pytest.mark.parametrize("text", ["١٢", "12.٥", "１２", "১০০.00"])
def test_digits_other_than_ascii_are_refused_not_read_as_zero(text):
    """A rate or amount written in other scripts' digits (Arabic-Indic, full-width, Bengali)
    is not a number the ERP reads: it is refused, never taken as 0 (a 0 % tax rate)."""
    minor, ok = money.to_minor([text, "12.50"], [2, 2])
    assert ok.tolist() == [False, True]
    assert int(minor[1]) == 1250
