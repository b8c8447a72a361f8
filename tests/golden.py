"""The workbooks the refactor must not change: how each case is billed and its recorded digests.

``tests/golden_workbooks.json`` holds the sha256 of every file a case delivers (workbook, and
the QR-bill SVGs of the sample), recorded before the run pipeline was rebuilt. A test
(``tests/test_byte_identity.py``) and the benchmark (``benchmarks/run.py``) bill the cases
again and compare. Re-record only for a change that is meant to change the bytes::

    .venv/bin/python tests/golden.py --record [--with-1m]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
GOLDEN = Path(__file__).with_name("golden_workbooks.json")
INVOICE_DATE = dt.date(2026, 10, 30)

#: case -> (source, config, final); "bench:N" is the benchmark's export of N rows
CASES = {
    "sample-draft": ("sample_data/booking_orders.csv", "sample_data", False),
    "sample-final": ("sample_data/booking_orders.csv", "sample_data", True),
    "sample-en-draft": ("sample_data/booking_orders_en.csv", "sample_data", False),
    "xlsx-draft": ("sample_data/Orders_Herbst_2026_newest.xlsx", "sample_data", False),
    "group-final": ("sample_data/booking_orders.csv", "sample_data/group.toml", True),
    "bench-10000": ("bench:10000", "bench", False),
    "bench-100000": ("bench:100000", "bench", False),
    "bench-1000000": ("bench:1000000", "bench", False),
}


def _resolve(source: str, config: str) -> tuple[str, str]:
    if source.startswith("bench:") or config == "bench":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from generate import csv_path, generate  # noqa: E402
        from run import bench_config  # noqa: E402
        if source.startswith("bench:"):
            rows = int(source.split(":")[1])
            path = csv_path(rows)
            if not path.exists():
                generate(rows, path)
            source = str(path)
        if config == "bench":
            config = str(bench_config())
    return (str(ROOT / source) if not Path(source).is_absolute() else source,
            str(ROOT / config) if not Path(config).is_absolute() else config)


def digests(outbox: Path) -> dict[str, str]:
    """sha256 of every delivered file below ``outbox`` but the manifests (they carry the
    outbox's absolute path), by path relative to it."""
    out = {}
    for path in sorted(outbox.rglob("*")):
        if path.is_file() and not path.name.endswith(".manifest.json") \
                and not path.name.startswith("."):
            out[path.relative_to(outbox).as_posix()] = hashlib.sha256(
                path.read_bytes()).hexdigest()
    return out


def bill_case(case: str, work: Path) -> dict[str, str]:
    """Bill one case into ``work/outbox`` with a fresh state store, as ``billing-export run``
    does (``--final`` where the case says so); the digests of what was delivered."""
    source, config, final = CASES[case]
    source, config = _resolve(source, config)
    outbox = work / "outbox"
    from flows import pipeline
    done = pipeline.run(pipeline.Request(
        source=source, config=config, outbox=outbox, invoice_date=INVOICE_DATE, draft=not final,
        state=str(work / "billing-state.sqlite")))
    done.store.engine.dispose()
    return digests(outbox)


def recorded() -> dict[str, dict[str, str]]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    if "--record" not in argv:
        print(__doc__)
        return 2
    sys.path.insert(0, str(ROOT))
    cases = [c for c in CASES if c != "bench-1000000" or "--with-1m" in argv]
    out = recorded() if GOLDEN.exists() else {}
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            out[case] = bill_case(case, Path(tmp))
        print(case, len(out[case]), "files", file=sys.stderr)
    GOLDEN.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
