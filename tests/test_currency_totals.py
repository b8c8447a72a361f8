"""The per-currency totals the Reconciliation sheet and the manifest show
(transforms.reconcile.currency_totals), against Python's decimal."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.minor_units import exponent
from transforms.reconcile import TOTALS, currency_totals

_AMOUNT = st.one_of(st.none(), st.integers(-10**15, 10**15))


@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["CHF", "JPY", "BHD", "EUR"]),
                          st.tuples(*[_AMOUNT] * len(TOTALS))), max_size=30))
def test_each_currency_totals_its_invoices_exactly(invoices):
    frame = pd.DataFrame({"currency": pd.Series([c for c, _ in invoices], dtype="str"),
                          **{m: pd.Series([a[i] for _, a in invoices], dtype="Int64")
                             for i, m in enumerate(TOTALS)}})
    expected = {}
    for cur, amounts in invoices:
        e = expected.setdefault(cur, {m: Decimal(0) for m in TOTALS} | {"invoices": 0})
        for m, a in zip(TOTALS, amounts):
            e[m] += Decimal(a or 0).scaleb(-exponent(cur))
        e["invoices"] += 1
    got = currency_totals(frame)
    assert list(got) == sorted(expected)
    for cur, e in expected.items():
        assert got[cur]["invoices"] == e["invoices"]
        for m in TOTALS:
            assert Decimal(got[cur][m]) == e[m], (cur, m)
            assert got[cur][m] == str(e[m].quantize(Decimal(1).scaleb(-exponent(cur))))
