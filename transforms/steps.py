"""The billing stage: an ordered list of steps with one signature, run by a small runner.

Each step takes the :class:`Billing` so far and the :class:`Context` (settings, run parameters,
reference tables) and returns a new Billing; none mutates its input. Rows a step cannot bill
leave ``lines`` for ``problems`` with a reason, so the reconciliation always adds up
(DESIGN.md §5, §9.1). The runner times each step so a long run shows where time goes.

The lines are the large frame (a million orders: about a gigabyte), so the steps copy them as
seldom as they can: a step's reasons move the rejected lines out in one pass
(:meth:`Billing.reject_first`), and a rule that looks at a few fields is worked out once per
distinct combination of them (:func:`distinct_rows`) and taken back to the lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.problems import PROBLEM_COLUMNS, concat, empty_problems, problems
from schemas.settings import RunParameters, Settings


@dataclass(frozen=True)
class Context:
    settings: Settings
    params: RunParameters
    tables: dict[str, pd.DataFrame]
    run_id: str = ""


@dataclass(frozen=True)
class Billing:
    lines: pd.DataFrame
    problems: pd.DataFrame = field(default_factory=empty_problems)
    invoices: pd.DataFrame | None = None
    taxes: pd.DataFrame | None = None
    #: notes for the Reconciliation sheet: (section, metric, currency, value)
    notes: tuple[tuple[str, str, str | None, str], ...] = ()

    def reject(self, mask, reason: str, column=None, detail=None, value=None) -> "Billing":
        """Move the masked lines to problems with one reason; ``column``, ``detail`` and
        ``value`` may be constants or Series aligned with ``lines``."""
        return self.reject_first([Rejection(mask, reason, column, detail, value)])

    def reject_first(self, rejections: list["Rejection"]) -> "Billing":
        """Move the lines any rejection masks to problems in one pass: a line gets the reason
        of the first rejection that masks it. The problems come rejection by rejection, each in
        line order, as the same ``reject`` calls one after the other would give them; the
        lines are copied once, not once per reason."""
        lines = self.lines
        n = len(lines)
        first = np.full(n, -1, dtype=np.int64)
        for k, r in enumerate(rejections):
            mask = r.mask_of(lines)
            first[mask & (first < 0)] = k
        if not (first >= 0).any():
            return self
        moved = []
        for k, r in enumerate(rejections):
            pos = np.flatnonzero(first == k)
            if len(pos):
                moved.append(r.problems(lines, pos))
        keep = first < 0
        return replace(self, lines=lines.loc[keep].reset_index(drop=True),
                       problems=concat([self.problems, *moved]))

    def note(self, *items: tuple[str, str, str | None, str]) -> "Billing":
        return replace(self, notes=self.notes + tuple(items))


@dataclass(frozen=True)
class Rejection:
    """Lines a step cannot bill, and why. ``mask`` is aligned with the lines; ``column``,
    ``detail`` and ``value`` are constants, Series aligned with the lines, or callables that
    are given the rejected rows (a frame) and return their values — so that a value costly to
    compute (a date as text, a joined key) is computed for the rejected rows only."""
    mask: object
    reason: str
    column: object = None
    detail: object = None
    value: object = None

    def mask_of(self, lines: pd.DataFrame) -> np.ndarray:
        return pd.Series(self.mask, index=lines.index).astype(bool).to_numpy()

    def problems(self, lines: pd.DataFrame, pos: np.ndarray) -> pd.DataFrame:
        """Problem rows for the lines at positions ``pos``."""
        rows = lines.iloc[pos, [lines.columns.get_loc(c) for c in PROBLEM_COLUMNS if c in lines]]
        const = {"reason": self.reason}
        for key, val in (("column", self.column), ("detail", self.detail),
                         ("value", self.value)):
            if callable(val):
                const[key] = pd.Series(val(lines.iloc[pos])).astype("object").to_numpy()
            elif isinstance(val, pd.Series):
                const[key] = val.iloc[pos].astype("object").to_numpy()
            elif val is not None:
                const[key] = val
        return problems(rows, **const)


def distinct_rows(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """An integer per row, the same for rows equal in ``columns`` (a missing value equal to a
    missing value), numbered in order of first appearance."""
    combo = np.zeros(len(frame), dtype=np.int64)
    for c in columns:
        codes, uniques = pd.factorize(frame[c], use_na_sentinel=False)
        combo, _ = pd.factorize(combo * len(uniques) + codes)
    return combo.astype(np.int64)


def first_rows(codes: np.ndarray) -> np.ndarray:
    """The position of each code's first row, for codes numbered in order of first
    appearance (as :func:`distinct_rows` numbers them): one row standing for each."""
    return pd.Series(codes).drop_duplicates().index.to_numpy()


def sort_codes(values: pd.Series) -> np.ndarray:
    """Integers that sort as ``values`` sort (a missing value last)."""
    codes, uniques = pd.factorize(values, sort=True)
    return np.where(codes < 0, len(uniques), codes).astype(np.int64)


def positions(keys: pd.Series, of: pd.Series) -> np.ndarray:
    """The position in ``of`` (unique keys) of each of ``keys``, -1 where it is not there.
    Keys that come in runs in the order of ``of`` (lines after compose, against their
    invoices) are matched run by run, without hashing every key."""
    n, m = len(keys), len(of)
    k = pa.array(keys.array) if n and m else None
    if k is not None and not k.null_count:
        change = pc.not_equal(k[1:], k[:-1]).to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(np.r_[True, change])
        if len(starts) == m and pc.all(pc.equal(k.take(pa.array(starts)),
                                                pa.array(of.array))).as_py():
            return np.repeat(np.arange(m, dtype=np.int64), np.diff(np.r_[starts, n]))
    return pd.Index(of).get_indexer(keys).astype(np.int64)


class Step(Protocol):
    def __call__(self, billing: Billing, ctx: Context) -> Billing: ...


@dataclass(frozen=True)
class Timing:
    step: str
    seconds: float
    lines: int


def run_steps(billing: Billing, ctx: Context, steps: list[Callable],
              progress: Callable[[Timing], None] | None = None) -> tuple[Billing, list[Timing]]:
    timings = []
    for step in steps:
        start = time.perf_counter()
        billing = step(billing, ctx)
        t = Timing(step.__name__, time.perf_counter() - start, len(billing.lines))
        timings.append(t)
        if progress:
            progress(t)
    return billing, timings
