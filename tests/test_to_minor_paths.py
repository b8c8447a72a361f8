"""transforms.money.to_minor reads ASCII texts with Arrow and the rest with Python's ``re``;
both paths must give what the Python reference gives on every text, in one call or mixed."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import examples
from transforms import money

# a money rule: more examples than the profile's default (ci 300, dev 30)
SETTINGS = settings(deadline=None, max_examples=examples(1.5),
                    suppress_health_check=[HealthCheck.too_slow])
# pieces of amount texts, ASCII and not: digits of other scripts, spaces, signs, separators
PIECES = st.sampled_from(["0", "1", "5", "9", "00", "123456789", ".", ",", "-", "+", " ", "\t",
                          "\u00a0", "\u0661", "\uff11", "e", "x", "null", "\n"])
TEXT = st.one_of(st.none(), st.lists(PIECES, max_size=8).map("".join), st.text(max_size=6))


def reference(texts, exps):
    return money._to_minor_python(pd.Series(list(texts), dtype="str").str.strip(),
                                  np.asarray(exps, dtype=np.int64))


@SETTINGS
@given(st.lists(st.tuples(TEXT, st.sampled_from([0, 2, 3, 4, 6, 18])), max_size=12))
def test_to_minor_matches_reference(cells):
    texts = [t for t, _ in cells]
    exps = [e for _, e in cells]
    minor, ok = money.to_minor(texts, exps)
    want_minor, want_ok = reference(texts, exps)
    assert ok.tolist() == want_ok.tolist()
    assert minor.tolist() == want_minor.tolist()


def test_a_str_series_reads_as_its_list():
    s = pd.Series([" 12.50", None, "x", "-0.5"], dtype="str", index=[7, 3, 9, 1])
    for a, b in zip(money.to_minor(s, [2] * 4), money.to_minor(list(s), [2] * 4)):
        assert a.tolist() == b.tolist()
    assert money.to_minor(s, [2] * 4)[0].tolist() == [1250, 0, 0, -50]
