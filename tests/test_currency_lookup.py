"""transforms.minor_units.exponents looks codes up two ways (few rows, many rows): both must
give what a pandas map over the ISO table gives, -1 for anything that is not a known code."""

import numpy as np
import pandas as pd
import pytest

from transforms import minor_units

ODD = ["CHF", "EUR", "JPY", "BHD", "CLF", None, np.nan, "", "chf", " CHF", "XYZ", 5, "KWD"]


def reference(codes: pd.Series) -> list[int]:
    return codes.map(minor_units.EXPONENTS).fillna(-1).astype(np.int64).tolist()


@pytest.mark.parametrize("repeat", [1, 2, 3, 10])
@pytest.mark.parametrize("dtype", ["object", "str"])
def test_exponents_as_a_map_gives(repeat, dtype):
    values = ODD * repeat if dtype == "object" else [v for v in ODD * repeat if v != 5]
    codes = pd.Series(values, dtype=dtype, index=np.arange(len(values))[::-1])
    assert minor_units.exponents(codes).tolist() == reference(codes)
