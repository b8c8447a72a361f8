"""The billing stages on the 240 sample orders without Prefect, against the status-quo script.

Issue 13, point 2: a small local run may take at most 1.5 times the wall time of the
pandas + openpyxl script (``measure_baseline`` of benchmarks/run.py) on the same rows. Both
run as fresh processes, timed from the outside (interpreter start, imports and exit
included), alternating, so a machine that gets busier mid-way slows both alike. The stages
are ``flows.job.run_local`` on ``sample_data/booking_orders.csv`` with the sample's
configuration (QR-bills on), invoice date 2026-10-30: the run below ``billing-export run``,
without its command line (benchmarks/local_run.py times that one).

Run by hand (not part of ``make test``)::

    .venv/bin/python benchmarks/small_run.py              # 5 repetitions
    .venv/bin/python benchmarks/small_run.py --repeat 9
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "sample_data" / "booking_orders.csv"
CONFIG = ROOT / "sample_data" / "company.toml"
INVOICE_DATE = dt.date(2026, 10, 30)


def stages(outbox: Path) -> None:
    """One run of the stages, as the timed child process does it."""
    from flows import job
    from flows.config import load_config

    config = load_config(CONFIG)
    params = job.default_params(INVOICE_DATE, None, None, config)
    job.run_local(str(CSV), config, params, outbox)


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    return time.perf_counter() - start


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--stages", type=Path, help=argparse.SUPPRESS)  # the child: one run
    a = ap.parse_args(argv)
    if a.stages:
        stages(a.stages)
        return
    times: dict[str, list[float]] = {"status quo": [], "stages": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeat):
            times["status quo"].append(wall([
                sys.executable, str(ROOT / "benchmarks" / "run.py"), "--measure", "baseline",
                "--csv", str(CSV), "--out", str(Path(tmp) / f"baseline{i}")]))
            times["stages"].append(wall([sys.executable, __file__, "--stages",
                                         str(Path(tmp) / f"outbox{i}")]))
    for name, t in times.items():
        print(f"{name:10}  median {statistics.median(t):.2f} s   "
              + " ".join(f"{x:.2f}" for x in t))
    ratio = statistics.median(times["stages"]) / statistics.median(times["status quo"])
    print(f"ratio {ratio:.2f} (target: at most 1.5); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
