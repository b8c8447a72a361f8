"""The benchmark's invariant check (benchmarks/invariants.py) holds on a real run and catches
each kind of break — else a clean result at 1M rows would prove nothing."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from conftest import INVOICE_DATE, ROOT, SAMPLE_ORDERS

sys.path.insert(0, str(ROOT / "benchmarks"))
from invariants import check  # noqa: E402


@pytest.fixture(scope="module")
def billed(sample_config):
    from flows import stages
    ex = stages.extract(str(SAMPLE_ORDERS))
    valid, problems = stages.validate(ex)
    params = stages.default_params(INVOICE_DATE, None, None, sample_config)
    billing, _ = stages.bill(valid, problems, stages.context(sample_config, params, "8B64FD36"))
    return billing, ex.rows


def test_a_real_run_keeps_every_invariant(billed, sample_config):
    billing, rows = billed
    assert check(billing, rows, sample_config.settings) == []


@pytest.mark.parametrize("table, column, row, expect", [
    ("invoices", "net_amount", 0, "Σ line net differs on 1 invoices"),
    ("invoices", "cash_rounding_amount", 2, "net + tax + rounding != invoice amount"),
    ("invoices", "invoice_amount_hc_2", 5, "home currency 2 does not add up"),
    ("taxes", "tax_amount", 3, "§9.3 tax of"),
    ("lines", "net_amount", 7, "Σ line net differs on 1 invoices"),
])
def test_each_break_is_reported(billed, sample_config, table, column, row, expect):
    billing, rows = billed
    frame = getattr(billing, table).copy()
    frame.loc[row, column] += 1
    fails = check(dataclasses.replace(billing, **{table: frame}), rows, sample_config.settings)
    assert any(expect in f for f in fails), fails


def test_a_lost_row_is_reported(billed, sample_config):
    billing, rows = billed
    fails = check(billing, rows + 1, sample_config.settings)
    assert fails == [f"§9.1 rows read {rows + 1} != billed + problems {rows}"]


def test_the_check_follows_the_companys_rounding_mode(sample_config):
    from flows import stages
    config = dataclasses.replace(sample_config, settings=dataclasses.replace(
        sample_config.settings, rounding="half_even"))
    ex = stages.extract(str(SAMPLE_ORDERS))
    valid, problems = stages.validate(ex)
    params = stages.default_params(INVOICE_DATE, None, None, config)
    billing, _ = stages.bill(valid, problems, stages.context(config, params, "8B64FD36"))
    assert check(billing, ex.rows, config.settings) == []
    # the sample has exact half cents: read as half away from zero, they are a cent off
    fails = check(billing, ex.rows, sample_config.settings)
    assert fails and all(f.startswith("§9.3") for f in fails)
