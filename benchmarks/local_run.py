"""``billing-export run`` without a Prefect server against the status-quo script, side by side.

Both are timed from the outside as a user waits for them: a fresh subprocess each, wall time
from start to exit (interpreter start and imports included), on the same 240 clean rows —
``benchmarks/generate.py`` with ``all_billable`` (every row a paid invoice order, no
rejected row). The two alternate, N repetitions each, so a machine that gets busier mid-way
slows both alike.

* ``billing-export run`` -- a draft, no ``PREFECT_API_URL`` (and a ``PREFECT_HOME`` of its
  own: no profile points it at a server), a fresh outbox and state store each time; the
  configuration of benchmarks/run.py (the sample's, QR-bills off), or ``--qr-bills`` for the
  sample's own configuration with one QR-bill SVG per invoice.
* ``status quo`` -- ``measure_baseline`` of benchmarks/run.py: pandas, float amounts and
  openpyxl, as a subprocess.

Run by hand (not part of ``make test``)::

    .venv/bin/python benchmarks/local_run.py                 # 5 repetitions
    .venv/bin/python benchmarks/local_run.py --repeat 9 --qr-bills

Prints the median wall seconds of each and their ratio (target: at most 1.5).

Wall time on a shared machine varies by a tenth from run to run; ``--instructions`` also
counts the instructions each executes, once, under valgrind's callgrind (user space only, the
same count within half a percent from run to run, whatever else the machine does)::

    .venv/bin/python benchmarks/local_run.py --repeat 9 --instructions
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from generate import csv_path, generate  # noqa: E402
from run import INVOICE_DATE, bench_config  # noqa: E402

ROWS = 240
TARGET = 1.5


def billing_export() -> str:
    """The ``billing-export`` of this interpreter's environment."""
    return str(Path(sys.executable).with_name("billing-export"))


def _wall(cmd: list[str], env: dict, cwd: Path) -> float:
    # as an installation runs: with its bytecode cached (a shell that sets
    # PYTHONDONTWRITEBYTECODE would otherwise compile every changed module on every run)
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{cmd[0]} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds


def _instructions(cmd: list[str], env: dict, cwd: Path) -> int:
    """The instructions ``cmd`` executes, counted by callgrind."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *cmd], capture_output=True, text=True, env=env, cwd=cwd)
    if done.returncode:
        raise RuntimeError(f"{cmd[0]} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def cli_command(csv: Path, config: Path, work: Path) -> tuple[list[str], dict]:
    """``billing-export run``: a draft into a fresh outbox and state store."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(work / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return [billing_export(), "run", "--source", str(csv), "--config", str(config),
            "--outbox", str(work / "outbox"), "--state", str(work / "state.sqlite"),
            "--invoice-date", INVOICE_DATE.isoformat(), "--quiet"], env


def status_quo_command(csv: Path, work: Path) -> tuple[list[str], dict]:
    """The status-quo script (benchmarks/run.py ``measure_baseline``)."""
    shutil.rmtree(work, ignore_errors=True)
    return [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--measure", "baseline",
            "--csv", str(csv), "--out", str(work)], dict(os.environ)


def time_cli(csv: Path, config: Path, work: Path) -> float:
    return _wall(*cli_command(csv, config, work), ROOT)


def time_status_quo(csv: Path, work: Path) -> float:
    return _wall(*status_quo_command(csv, work), ROOT)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="repetitions of each (default 5)")
    ap.add_argument("--qr-bills", action="store_true",
                    help="the sample's configuration: one QR-bill SVG per invoice")
    ap.add_argument("--instructions", action="store_true",
                    help="also count each one's instructions once (valgrind's callgrind)")
    args = ap.parse_args(argv)
    csv = csv_path(ROWS, True)
    if not csv.exists():
        generate(ROWS, csv, True)
    config = ROOT / "sample_data" if args.qr_bills else bench_config()
    cli, quo = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            cli.append(time_cli(csv, config, Path(tmp) / f"cli{i}"))
            quo.append(time_status_quo(csv, Path(tmp) / f"quo{i}"))
            print(f"  {i + 1}/{args.repeat}: billing-export run {cli[-1]:.2f} s, status quo "
                  f"{quo[-1]:.2f} s", file=sys.stderr, flush=True)
    a, b = statistics.median(cli), statistics.median(quo)
    print(f"{ROWS} clean rows ({csv.name}), config {config}, {args.repeat} repetitions "
          f"alternating, median wall seconds:")
    print(f"  billing-export run (no Prefect server): {a:.2f} s")
    print(f"  status-quo pandas + openpyxl script:    {b:.2f} s")
    print(f"  ratio: {a / b:.2f}x (target at most {TARGET}x)")
    if args.instructions:
        with tempfile.TemporaryDirectory() as tmp:
            ci = _instructions(*cli_command(csv, config, Path(tmp) / "cli"), ROOT)
            qi = _instructions(*status_quo_command(csv, Path(tmp) / "quo"), ROOT)
        print(f"instructions (callgrind, once each): billing-export run {ci / 1e9:.2f} G, "
              f"status-quo script {qi / 1e9:.2f} G, ratio {ci / qi:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
