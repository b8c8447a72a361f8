"""The workbooks of the sample, the group and the benchmark sizes stay byte for byte what they
were before the run pipeline was rebuilt (tests/golden.py records and bills the cases)."""

from __future__ import annotations

import pytest

import golden

CASES = [c for c in golden.CASES if c != "bench-1000000"]  # 1M: benchmarks/run.py checks it


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_delivered_files_are_byte_identical(case, tmp_path):
    expected = golden.recorded()[case]
    got = golden.bill_case(case, tmp_path)
    assert sorted(got) == sorted(expected)
    differ = [name for name in expected if got[name] != expected[name]]
    assert not differ, f"{case}: these files changed: {differ}"
