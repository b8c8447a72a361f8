"""The billing stage: an ordered list of steps with one signature, run by a small runner.

Each step takes the :class:`Billing` so far and the :class:`Context` (settings, run parameters,
reference tables) and returns a new Billing; none mutates its input. Rows a step cannot bill
leave ``lines`` for ``problems`` with a reason, so the reconciliation always adds up
(DESIGN.md §5, §9.1). The runner times each step so a long run shows where time goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

import pandas as pd

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
        mask = pd.Series(mask, index=self.lines.index).astype(bool)
        if not mask.any():
            return self
        rows = self.lines.loc[mask, [c for c in PROBLEM_COLUMNS if c in self.lines]]
        const = {"reason": reason}
        for key, val in (("column", column), ("detail", detail), ("value", value)):
            if val is not None:
                const[key] = (val[mask].astype("object").to_numpy()
                              if isinstance(val, pd.Series) else val)
        moved = problems(rows, **const)
        return replace(self, lines=self.lines.loc[~mask].reset_index(drop=True),
                       problems=concat([self.problems, moved]))

    def note(self, *items: tuple[str, str, str | None, str]) -> "Billing":
        return replace(self, notes=self.notes + tuple(items))


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
