"""Two small flows the end-to-end test deploys through the API next to prefect.yaml's: one that
ends at once (for a schedule that must really start a run) and one that works for as long as
asked (for a worker killed in the middle of a run). Not collected by pytest (no ``test_``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prefect import flow


@flow(name="e2e-tick")
def tick() -> str:
    """A run that completes."""
    return "tick"


@flow(name="e2e-busy")
def busy(seconds: int = 600, pid_file: str = "") -> None:
    """Keeps its process busy; writes the process id first, so that the test can find, stop
    or kill exactly this flow-run process."""
    if pid_file:
        part = Path(pid_file).with_suffix(".part")
        part.write_text(str(os.getpid()), encoding="ascii")
        os.replace(part, pid_file)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
