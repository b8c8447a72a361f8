"""The contracts' pandera dtypes, resolved once; text checked by pandera's rule, once a column.

pandera resolves a dtype given by name on every column it builds (0.2 ms each, 30 ms for the
output sheets' and booking orders' columns on a cold start): the names are resolved here once.

pandera 0.35 answers a text column's dtype check with one ``True`` per cell, and for such an
answer builds a failure-case frame and its printed form even when every cell passes: a few
milliseconds per column, most of a small run's validation (issue 13). :data:`TEXT` gives the
same verdict as pandera's ``"str"``, as a single ``True`` when every cell passes, and
pandera's own per-cell answer otherwise, so a failure reads exactly as before.

>>> import pandas as pd
>>> TEXT.check(TEXT, pd.Series(["a", None], dtype="str"))
True
>>> str(TEXT) == str(pandas_engine.Engine.dtype("str")), str(NULLABLE_INT64)
(True, 'Int64')
"""

from __future__ import annotations

import numpy as np
from pandera.engines import pandas_engine


class _Text(pandas_engine.STRING):
    def check(self, pandera_dtype, data_container=None):
        verdict = super().check(pandera_dtype, data_container)
        if isinstance(verdict, np.ndarray) and bool(verdict.all()):
            return True
        return verdict


#: pandera's ``"str"`` (pandas' default string dtype), checked once per column
TEXT = _Text()
INT64 = pandas_engine.Engine.dtype("int64")
#: pandas' nullable integer
NULLABLE_INT64 = pandas_engine.Engine.dtype("Int64")
DATETIME = pandas_engine.Engine.dtype("datetime64[ns]")
