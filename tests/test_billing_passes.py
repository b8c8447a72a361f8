"""The one-pass forms of the billing steps give what the step-by-step forms gave.

``Billing.reject_first`` must leave the same lines and the same problems, in the same order,
as one ``reject`` after the other; compose's integer sort keys must order lines as the text
keys do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.problems import Reason
from transforms.steps import Billing, Rejection, sort_codes
from transforms.compose import booking_rank, booking_sort_key

REASONS = [Reason.NOT_INVOICE_METHOD, Reason.AFTER_CUTOFF, Reason.CANCELED_NO_FEE,
           Reason.ZERO_AMOUNT]


def _lines(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "booking_number": pd.Series([str(1000 + i) for i in range(n)], dtype="str"),
        "source": "orders.csv",
        "source_row": np.arange(2, n + 2, dtype=np.int64),
        "payment_method": pd.Series(rng.choice(["Rechnung", "Kreditkarte", None], n),
                                    dtype="str"),
        "amount": rng.integers(-2, 5, n),
    })


@settings(max_examples=settings().max_examples * 3 // 10, deadline=None)
@given(st.integers(0, 40), st.integers(0, 2**32 - 1),
       st.lists(st.lists(st.booleans(), min_size=40, max_size=40), min_size=1, max_size=4))
def test_reject_first_is_one_reject_after_the_other(n, seed, masks):
    lines = _lines(n, seed)
    masks = [np.array(m[:n], dtype=bool) for m in masks]
    detail = pd.Series([f"d{i}" for i in range(n)], dtype="str")

    stepwise = Billing(lines)
    for k, m in enumerate(masks):
        # a later step sees the lines the earlier ones left, as the steps did
        left = stepwise.lines["source_row"].to_numpy() - 2
        cut = detail.iloc[left].reset_index(drop=True)
        stepwise = stepwise.reject(m[left], REASONS[k].name, "payment_method",
                                   detail=cut if k % 2 else None,
                                   value=stepwise.lines["payment_method"])
    once = Billing(lines).reject_first([
        Rejection(m, REASONS[k].name, "payment_method", detail=detail if k % 2 else None,
                  value=(lambda rows: rows["payment_method"]) if k == 1
                  else lines["payment_method"])
        for k, m in enumerate(masks)])
    pd.testing.assert_frame_equal(once.lines, stepwise.lines)
    pd.testing.assert_frame_equal(once.problems, stepwise.problems)


def test_reject_first_without_rejected_lines_is_the_same_billing():
    b = Billing(_lines(5, 1))
    assert b.reject_first([Rejection(np.zeros(5, bool), "ZERO_AMOUNT")]) is b


@settings(max_examples=settings().max_examples // 2, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 10**18 - 1).map(str),
                          st.from_regex(r"0{0,3}[0-9]{1,25}", fullmatch=True),
                          st.text(min_size=1, max_size=6)), min_size=1, max_size=30))
def test_booking_rank_orders_as_the_sort_key(numbers):
    bn = pd.Series(numbers, dtype="str")
    by_text = np.argsort(booking_sort_key(bn).to_numpy(dtype=object), kind="stable")
    by_rank = np.argsort(booking_rank(bn), kind="stable")
    assert by_text.tolist() == by_rank.tolist()


def test_sort_codes_order_as_text_and_put_missing_last():
    values = pd.Series(["b", None, "a", "ä", "B", "a"], dtype="str")
    assert sort_codes(values).tolist() == [2, 4, 1, 3, 0, 1]


@settings(max_examples=settings().max_examples // 2, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=30))
def test_sort_codes_order_as_sort_values(texts):
    values = pd.Series(texts, dtype="str")
    expected = values.sort_values(kind="stable").index.tolist()
    assert np.argsort(sort_codes(values), kind="stable").tolist() == expected


def _allocate_by_hand(total, weights, groups):
    """Largest remainder in plain Python fractions: truncated shares, then one unit each to
    the largest remainders (ties: the earlier row)."""
    from fractions import Fraction
    out = [0] * len(weights)
    for g in dict.fromkeys(groups):
        rows = [i for i, x in enumerate(groups) if x == g]
        tot = total[rows[0]]
        ws = [weights[i] for i in rows]
        wsum = sum(ws)
        shares = [Fraction(abs(tot) * (w if wsum > 0 else -w), abs(wsum)) if wsum
                  else Fraction(abs(tot), len(rows)) for w in ws]
        base = [s.numerator // s.denominator for s in shares]
        left = abs(tot) - sum(base)
        by_rem = sorted(range(len(rows)), key=lambda j: (-(shares[j] - base[j]), j))
        for rank, j in enumerate(by_rem):
            part = base[j] + (1 if rank < left else 0)
            out[rows[j]] = -part if tot < 0 else part
    return out


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(-10**6, 10**6),
                          st.lists(st.integers(-1000, 1000), min_size=1, max_size=6)),
                min_size=1, max_size=6), st.randoms(use_true_random=False),
       st.sampled_from(["int", "text"]))
def test_allocate_matches_largest_remainder_by_hand(groups, rnd, labels):
    from transforms import money
    rows = [(g, tot, w) for g, (tot, ws) in enumerate(groups) for w in ws]
    rnd.shuffle(rows)
    g = [r[0] if labels == "int" else f"inv-{r[0]}" for r in rows]
    total = [r[1] for r in rows]
    w = [r[2] for r in rows]
    got = money.allocate(np.array(total, np.int64), np.array(w, np.int64),
                         np.array(g) if labels == "int" else g)
    assert got.tolist() == _allocate_by_hand(total, w, g)


@settings(max_examples=settings().max_examples // 2, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2**62)), min_size=1, max_size=30))
def test_group_ranks_with_one_key_or_two(rows):
    """Ranks within groups: the one-integer-key sort (small values) and the two-key sort
    (values too large to combine with the group) agree with ranking by hand."""
    from transforms import money
    labels = np.array([g for g, _ in rows])
    values = np.array([v for _, v in rows], dtype=np.int64)
    for vals in (values, values % 1000):
        got = money.Groups(labels).rank_descending(vals)
        expected = [sum(1 for j, (h, w) in enumerate(zip(labels, vals))
                        if h == g and (w > v or (w == v and j < i)))
                    for i, (g, v) in enumerate(zip(labels, vals))]
        assert got.tolist() == expected


@settings(max_examples=settings().max_examples // 4, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=0, max_size=12), st.randoms(use_true_random=False),
       st.integers(99_990, 100_010))
def test_lines_in_number_order_as_sorting_by_number_and_line(sizes, rnd, first_number):
    """Lines of invoices numbered across 99,999 → 100,000 (text order differs from numeric),
    in any order: the same frame as sorting by (invoice_number, line_number)."""
    from transforms.numbering import in_number_order
    keys = [f"key {i:03d}" for i in range(len(sizes))]
    inv = pd.DataFrame({"invoice_key": pd.Series(keys, dtype="str"),
                        "invoice_number": [f"P-R-{first_number + i:05d}"
                                           for i in range(len(sizes))]})
    rows = [(k, n) for k, size in zip(keys, sizes) for n in range(1, size + 1)]
    rnd.shuffle(rows)
    lines = pd.DataFrame({"invoice_key": pd.Series([k for k, _ in rows], dtype="str"),
                          "line_number": np.array([n for _, n in rows], dtype=np.int64)})
    number = dict(zip(inv["invoice_key"], inv["invoice_number"]))
    expected = (lines.assign(invoice_number=lines["invoice_key"].map(number))
                .sort_values(["invoice_number", "line_number"], kind="stable")
                .reset_index(drop=True))
    pd.testing.assert_frame_equal(in_number_order(lines, inv), expected)


@settings(deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", None]), max_size=12),
       st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True))
def test_positions_equal_an_index_lookup(keys, of):
    from transforms.steps import positions
    keys, of = pd.Series(keys, dtype="str"), pd.Series(of, dtype="str")
    assert positions(keys, of).tolist() == pd.Index(of).get_indexer(keys).tolist()


def test_positions_of_keys_in_runs():
    from transforms.steps import positions
    of = pd.Series(["k1", "k2", "k3"], dtype="str")
    keys = pd.Series(["k1", "k1", "k2", "k3", "k3", "k3"], dtype="str")
    assert positions(keys, of).tolist() == [0, 0, 1, 2, 2, 2]


def test_fields_the_lines_leave_behind_are_read_by_no_sheet():
    """classify drops order fields nothing after it reads; a sheet that starts to show one
    must take it off that list."""
    from schemas.problems import PROBLEM_COLUMNS
    from schemas.workbook import INVOICES, LINES, TAXES
    from transforms.billability import NOT_CARRIED
    from transforms.compose import INVOICE_FIELDS
    read = (set(LINES.ids) | set(INVOICES.ids) | set(TAXES.ids) | set(PROBLEM_COLUMNS)
            | set(INVOICE_FIELDS.values()) | {"content_hash", "booking_row"})
    assert not read & set(NOT_CARRIED)


@settings(max_examples=settings().max_examples // 2, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.sampled_from([1, 2, 3])),
                max_size=20))
def test_distinct_rows_number_equal_rows_in_order_of_appearance(rows):
    from transforms.steps import distinct_rows, first_rows
    frame = pd.DataFrame({"t": pd.Series([t for t, _ in rows], dtype="str"),
                          "n": np.array([n for _, n in rows], dtype=np.int64)})
    seen: dict = {}
    expected = [seen.setdefault((t, n), len(seen)) for t, n in rows]
    combo = distinct_rows(frame, ["t", "n"])
    assert combo.tolist() == expected
    assert first_rows(combo).tolist() == [expected.index(k) for k in range(len(seen))]
