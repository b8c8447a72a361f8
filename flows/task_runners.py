"""Where the partitions of a run are billed: threads of this process, or a Dask cluster.

``threads`` (the default) needs nothing. ``dask`` starts a local Dask cluster for the run, or,
given a scheduler address (``tcp://host:8786``), sends the partitions to an existing cluster
whose workers have billing-export installed. A deployment chooses with the environment of its
work pool (``BILLING_TASK_RUNNER``, ``BILLING_DASK_ADDRESS``); the CLI with ``--task-runner``
and ``--dask-address``.
"""

from __future__ import annotations

import os

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from .errors import InputError

KINDS = ("threads", "dask")


class TaskRunnerError(InputError):
    """The task runner asked for cannot be used."""


def task_runner(kind: str | None = None, address: str | None = None,
                workers: int | None = None):
    """A Prefect task runner; a Dask address implies ``dask``."""
    kind = (kind or ("dask" if address else "threads")).strip().lower()
    if kind not in KINDS:
        raise TaskRunnerError(f"task runner {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "threads":
        if address:
            raise TaskRunnerError("a Dask scheduler address needs the dask task runner")
        return ThreadPoolTaskRunner(max_workers=workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:  # pragma: no cover - prefect-dask is a dependency
        raise TaskRunnerError("the dask task runner needs prefect-dask (pip install "
                              "prefect-dask)") from None
    if address:
        return DaskTaskRunner(address=address)
    # a local cluster of processes; no dashboard (nothing may listen on a fixed port)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers or os.cpu_count() or 1,
                                          "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})


def from_environment():
    """The task runner of deployed runs: ``BILLING_TASK_RUNNER`` / ``BILLING_DASK_ADDRESS``."""
    return task_runner(os.environ.get("BILLING_TASK_RUNNER") or None,
                       os.environ.get("BILLING_DASK_ADDRESS") or None)


class AtRunStart(TaskRunner):
    """The flow's task runner, chosen when a run starts (:func:`from_environment`), not when
    the flow's module is imported: a worker's environment, or a variable set after import,
    decides for the run it starts."""

    def __init__(self):
        super().__init__()
        self._inner = None

    @property
    def name(self) -> str:
        return "at-run-start"

    def duplicate(self):
        return type(self)()

    def __enter__(self):
        self._inner = from_environment()
        self._inner.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            self._inner.__exit__(*exc)
        finally:
            self._inner = None
            super().__exit__(*exc)

    def submit(self, task, parameters, wait_for=None, dependencies=None):
        return self._inner.submit(task, parameters, wait_for, dependencies)

    def map(self, task, parameters, wait_for=None):
        return self._inner.map(task, parameters, wait_for)
