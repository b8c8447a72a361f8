"""Time billing-export stage by stage against a pandas+openpyxl baseline and an xlsx floor.

Every measurement runs in a fresh subprocess, so peak memory is that process's
``getrusage(RUSAGE_SELF).ru_maxrss`` (tracemalloc would slow a million rows down too much):

* ``pipeline`` -- the real run, as ``billing-export run`` makes it (a draft against a fresh
  SQLite state store), through the functions the flow's tasks call: load config, extract,
  validate, state (lock, what is billed already, recording the run), bill, render (tables +
  workbook), deliver. Each stage timed; "whole" is all of it.
* ``baseline`` -- what a user would write today: ``pd.read_csv``, prices as float, a float tax
  rate, ``round(…, 2)``, invoice numbers by groupby, and a comparable 32-column invoice-lines
  table written with ``DataFrame.to_excel(engine="openpyxl")``.
* ``floor`` -- only the Lines sheet of the pipeline's own run (read back from Parquet, not
  timed), written by the fastest xlsx writer installed (rustpy-xlsxwriter, else XlsxWriter).

Run by hand (not part of ``make test``)::

    .venv/bin/python benchmarks/run.py                       # 10k, 100k, 1M; baseline ≤ 100k
    .venv/bin/python benchmarks/run.py --sizes 10000 100000 --baseline-max 100000
    .venv/bin/python benchmarks/run.py --sizes 100000 --profile   # + pyinstrument profile
    .venv/bin/python benchmarks/run.py --boundary             # the 1,048,576-row limit for real

CSVs and results go to out/bench/ (results.json, profile_<rows>.txt).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from generate import OUT, csv_path, generate  # noqa: E402

INVOICE_DATE = dt.date(2026, 10, 30)
STAGES = ("config", "extract", "validate", "state", "bill", "render", "deliver")


def bench_config() -> Path:
    """The sample configuration with QR-bills off: they are one SVG per invoice (about 30 ms
    each), measured on their own, not part of the workbook comparison."""
    folder = OUT / "config"
    folder.mkdir(parents=True, exist_ok=True)
    src = ROOT / "sample_data"
    for f in src.glob("*.csv"):
        if not f.name.startswith("booking_orders"):
            shutil.copy2(f, folder / f.name)
    toml = (src / "company.toml").read_text(encoding="utf-8")
    toml = re.sub(r"(?m)^qr_bill\s*=\s*true", "qr_bill = false", toml)
    (folder / "company.toml").write_text(toml, encoding="utf-8")
    return folder


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- the three measurements (each in its own process) ------------------------------------------

def measure_pipeline(csv: Path, out: Path, config: Path, lines_parquet: Path | None,
                     checks: bool = False) -> dict:
    """The run ``billing-export run`` makes (a draft against a fresh SQLite state store):
    ``flows.pipeline.run`` with its timing executor, stage by stage, no Prefect."""
    from flows import pipeline

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    timed = pipeline.Timed()
    start = time.perf_counter()
    done = pipeline.run(pipeline.Request(source=str(csv), config=str(config), outbox=out,
                                         invoice_date=INVOICE_DATE,
                                         state=str(out.parent / "billing-state.sqlite")),
                        timed)
    whole = time.perf_counter() - start
    s = timed.seconds
    t = {"config": s["plan"], "extract": s["extract"], "validate": s["validate"],
         "bill": s["bill_part"], "render": s["render"],
         # the lock step but its billing and rendering: what is billed, numbers, recording
         "state": s["commit"] - s["bill_part"] - s["render"],
         "deliver": s["deliver"], "whole": whole}
    result_, company = done.result, done.companies[0]
    billing, rendered, delivery = result_.billing, result_.rendered, result_.delivery
    result = {"seconds": t, "peak_mb": _peak_mb(), "rows": company.ex.rows,
              "lines": int(len(billing.lines)), "invoices": int(len(billing.invoices)),
              "sheets": rendered.manifest["sheets"], "workbook": str(delivery.workbook),
              "workbook_mb": delivery.workbook.stat().st_size / 2**20}
    if lines_parquet is not None:  # after the peak was taken
        rendered.tables["lines"].to_parquet(lines_parquet)
    if checks:  # after the timing and the peak: DESIGN §9 at this size
        result["checks"] = check_run(billing, company, delivery.workbook, out.parent / "again")
    return result


def check_run(billing, company, workbook: Path, again: Path) -> dict:
    """The money invariants on this run's tables, and determinism: billing the same orders
    again through the pipeline's bill stage, this time in hash partitions of a quarter of
    the rows each, must give the same workbook bytes (a draft of a fresh store bills every
    valid order, so the company's orders are what was billed)."""
    import hashlib

    from flows import stages, pipeline
    from invariants import check

    ex = company.ex
    fails = check(billing, ex.rows, company.config.settings)
    ctx = stages.context(company.config, company.params, company.rid)
    partition_rows = max(1, len(company.orders) // 4)
    second = pipeline.bill(pipeline.LOCAL, [(company.orders, company.problems, ctx)],
                           partition_rows)[0]
    shutil.rmtree(again, ignore_errors=True)
    rendered = pipeline.render(second, ex, company.config, company.params, company.rid, again)

    def sha(path):
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    same = sha(rendered.path) == sha(workbook)
    shutil.rmtree(again, ignore_errors=True)
    # the bytes recorded before the run pipeline was rebuilt (tests/golden.py), for the sizes
    # recorded: None where no digest is on record
    sys.path.insert(0, str(ROOT / "tests"))
    import golden
    recorded = golden.recorded().get(f"bench-{ex.rows}", {}).get(Path(workbook).name)
    return {"invariant_failures": fails, "partition_rows": partition_rows,
            "same_bytes_partitioned": same,
            "same_bytes_as_recorded": None if recorded is None else recorded == sha(workbook)}


def measure_baseline(csv: Path, out: Path) -> dict:
    """The float pandas + openpyxl script a user would write for the same lines."""
    import numpy as np
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df = df[df["Angebotstyp"] == "Rechnung"]
    billable = df["Buchungsstatus"].isin(["Neu", "Offen", "Bezahlt", "Storniert mit Gebühr"])
    df = df[billable].copy()
    fee = df["Buchungsstatus"] == "Storniert mit Gebühr"
    text = df["Preis"].where(~fee, df["Stornogebühr"])
    parts = text.str.extract(r"(?P<cur>[A-Z]{3})\s*(?P<num>[-0-9.]+)")
    df["currency"] = parts["cur"]
    df["amount"] = pd.to_numeric(parts["num"], errors="coerce")  # float
    df = df[df["amount"] > 0]
    rate = np.where(df["Land"].isin(["Schweiz", "CH", "Suisse"]), 8.1,
                    np.where(df["Land"].isin(["Japan"]), 0.0, 19.0))
    df["tax_rate"] = rate
    df["tax_amount"] = (df["amount"] * rate / 100).round(2)
    df["line_amount"] = df["amount"] + df["tax_amount"]
    fx = {"CHF": 1.0, "EUR": 0.9365, "USD": 0.8012, "JPY": 0.00568}
    for k, f in enumerate((1.0, 1.07, 1.25), start=1):
        df[f"net_hc_{k}"] = (df["amount"] * df["currency"].map(fx) * f).round(2)
        df[f"hc_{k}"] = ("CHF", "EUR", "USD")[k - 1]
    df = df.sort_values(["Rechnungsadresse", "currency", "PO Nummer", "Buchungsnummer"])
    key = df["Rechnungsadresse"] + "|" + df["currency"] + "|" + df["PO Nummer"]
    df["invoice"] = "P-" + (key.rank(method="dense").astype(int)).astype(str).str.zfill(6)
    df["line"] = df.groupby(key).cumcount() + 1
    for c in ("Auftragsdatum", "Durchführung von", "Durchführung bis"):
        df[c] = pd.to_datetime(df[c], errors="coerce")
    lines = pd.DataFrame({
        "Rechnungsnummer": df["invoice"], "Position": df["line"],
        "Buchungsnummer": df["Buchungsnummer"], "Verrechnungsart": np.where(fee.loc[df.index],
                                                                          "Stornogebühr",
                                                                          "Preis"),
        "Auftragsdatum": df["Auftragsdatum"], "Buchungsstatus": df["Buchungsstatus"],
        "Produkt": df["Produkt"], "Kennzeichen Produkt": df["Kennzeichen "],
        "Durchführung": df["Durchführung"], "Kennzeichen Durchführung": df["Kennzeichen"],
        "Durchführung von": df["Durchführung von"], "Durchführung bis": df["Durchführung bis"],
        "Angebot": df["Angebot"], "Kostenstelle": df["Kostenstelle"], "Konto": df["Konto"],
        "Besteller": df["Vorname"] + " " + df["Nachname"], "Menge": 1,
        "Preis": df["amount"], "Nettobetrag": df["amount"], "USt-Code": "X",
        "USt-Satz": df["tax_rate"], "USt-Betrag": df["tax_amount"],
        "Betrag": df["line_amount"], "Währung": df["currency"],
        **{f"Nettobetrag HW {k}": df[f"net_hc_{k}"] for k in (1, 2, 3)},
        **{f"Hauswährung {k}": df[f"hc_{k}"] for k in (1, 2, 3)},
        "Quelle": csv.name, "Quellzeile": df.index + 2,
    })
    compute = time.perf_counter() - start
    path = out / "baseline.xlsx"
    lines.to_excel(path, sheet_name="Positionen", index=False, engine="openpyxl")
    whole = time.perf_counter() - start
    return {"seconds": {"compute": compute, "write": whole - compute, "whole": whole},
            "peak_mb": _peak_mb(), "lines": int(len(lines)), "columns": lines.shape[1],
            "workbook_mb": path.stat().st_size / 2**20}


def measure_floor(lines_parquet: Path, out: Path) -> dict:
    """Only the Lines sheet, by the fastest xlsx writer installed (amounts as float: it is a
    speed floor, not an output anyone receives)."""
    import pandas as pd

    from schemas.workbook import LINES

    out.mkdir(parents=True, exist_ok=True)
    frame = pd.read_parquet(lines_parquet)
    for c in LINES.cols:
        if c.kind == "amount":
            frame[c.id] = frame[c.id].astype("float64") / 100
        elif c.kind in ("int", "percent"):
            frame[c.id] = frame[c.id].astype("float64")
    path = out / "floor.xlsx"
    try:
        import rustpy_xlsxwriter as rx
        writer = "rustpy-xlsxwriter " + rx.__version__
        start = time.perf_counter()
        rx.write_worksheet(frame, str(path), sheet_name="Positionen", freeze_row=1,
                           autofilter=True)
    except ImportError:
        import xlsxwriter
        writer = "xlsxwriter " + xlsxwriter.__version__ + " constant_memory write_row"
        start = time.perf_counter()
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        ws = wb.add_worksheet("Positionen")
        ws.write_row(0, 0, list(frame.columns))
        for i, row in enumerate(frame.itertuples(index=False), start=1):
            ws.write_row(i, 0, [None if v is None or v != v else v for v in row])
        wb.close()
    return {"seconds": {"whole": time.perf_counter() - start}, "peak_mb": _peak_mb(),
            "writer": writer, "lines": int(len(frame)),
            "workbook_mb": path.stat().st_size / 2**20}


# --- driver ------------------------------------------------------------------------------------

def sub(kind: str, *args: str, timeout: float = 3600) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", kind, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def sheet_dimensions(path: Path) -> dict[str, str]:
    """Sheet name → <dimension ref>, read from the first bytes of each sheet's XML."""
    with zipfile.ZipFile(path) as z:
        names = re.findall(r'<sheet name="([^"]+)" sheetId="\d+" r:id="rId(\d+)"',
                           z.read("xl/workbook.xml").decode())
        dims = {}
        for name, rid in names:
            with z.open(f"xl/worksheets/sheet{rid}.xml") as f:
                head = f.read(4096).decode("utf-8", "ignore")
            dims[name] = re.search(r'<dimension ref="([^"]+)"', head).group(1)
    return dims


def fmt_row(cells, widths):
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))


def print_table(results: list[dict]) -> None:
    head = ["rows", *STAGES, "whole s", "peak MB", "KB/row", "baseline s", "floor s",
            "base/whole", "whole/floor"]
    widths = [9, 6, 7, 8, 5, 6, 6, 7, 8, 8, 6, 10, 7, 10, 11]
    print(fmt_row(head, widths))
    for r in results:
        p = r["pipeline"]
        s = p["seconds"]
        base = r.get("baseline")
        floor = r.get("floor")
        print(fmt_row([
            f"{r['rows']:,}", *(f"{s[k]:.2f}" for k in STAGES), f"{s['whole']:.2f}",
            f"{p['peak_mb']:.0f}", f"{p['peak_mb'] * 1024 / r['rows']:.2f}",
            f"{base['seconds']['whole']:.1f}" if base else "-",
            f"{floor['seconds']['whole']:.2f}" if floor else "-",
            f"{base['seconds']['whole'] / s['whole']:.1f}x" if base else "-",
            f"{s['whole'] / floor['seconds']['whole']:.2f}x" if floor else "-",
        ], widths))
    for r in results:
        extra = []
        if r.get("baseline"):
            b = r["baseline"]
            extra.append(f"baseline peak {b['peak_mb']:.0f} MB, write {b['seconds']['write']:.1f} s")
        if r.get("floor"):
            extra.append(f"floor {r['floor']['writer']}, peak {r['floor']['peak_mb']:.0f} MB")
        print(f"{r['rows']:>9,}: lines {r['pipeline']['lines']:,}, invoices "
              f"{r['pipeline']['invoices']:,}, workbook {r['pipeline']['workbook_mb']:.0f} MB; "
              + "; ".join(extra))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--baseline-max", type=int, default=100_000,
                    help="time the openpyxl baseline up to this many rows (it is slow)")
    ap.add_argument("--no-floor", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="also profile the pipeline with pyinstrument (out/bench/profile_N.txt)")
    ap.add_argument("--boundary", action="store_true",
                    help="bill 1,048,600 billable rows: Lines must continue on a second sheet")
    ap.add_argument("--measure", choices=["pipeline", "baseline", "floor"], help=argparse.SUPPRESS)
    ap.add_argument("--checks", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.measure == "pipeline":
        print(json.dumps(measure_pipeline(args.csv, args.out, args.config, args.parquet,
                                          args.checks)))
        return
    if args.measure == "baseline":
        print(json.dumps(measure_baseline(args.csv, args.out)))
        return
    if args.measure == "floor":
        print(json.dumps(measure_floor(args.parquet, args.out)))
        return

    config = bench_config()
    results = []
    runs = [(n, False) for n in args.sizes] + ([(1_048_600, True)] if args.boundary else [])
    for n, billable in runs:
        csv = csv_path(n, billable)
        if not csv.exists():
            generate(n, csv, billable)
        out = OUT / f"run_{n}{'_billable' if billable else ''}"
        parquet = OUT / f"lines_{n}.parquet"
        print(f"-- {n:,} rows{' (all billable)' if billable else ''}", file=sys.stderr,
              flush=True)
        r = {"rows": n, "all_billable": billable}
        r["pipeline"] = sub("pipeline", "--csv", str(csv), "--out", str(out / "outbox"),
                            "--config", str(config), "--parquet", str(parquet), "--checks")
        print(f"   pipeline {r['pipeline']['seconds']['whole']:.1f} s", file=sys.stderr,
              flush=True)
        if not args.no_floor and not billable:
            r["floor"] = sub("floor", "--parquet", str(parquet), "--out", str(out))
            print(f"   floor {r['floor']['seconds']['whole']:.1f} s", file=sys.stderr, flush=True)
        if n <= args.baseline_max and not billable:
            r["baseline"] = sub("baseline", "--csv", str(csv), "--out", str(out))
            print(f"   baseline {r['baseline']['seconds']['whole']:.1f} s", file=sys.stderr,
                  flush=True)
        if billable:
            r["dimensions"] = sheet_dimensions(Path(r["pipeline"]["workbook"]))
            print(f"   sheets {r['dimensions']}", file=sys.stderr, flush=True)
        if args.profile and not billable:
            prof = OUT / f"profile_{n}.txt"
            subprocess.run([sys.executable, "-m", "pyinstrument", "-o", str(prof),
                            str(Path(__file__).resolve()), "--measure", "pipeline", "--csv",
                            str(csv), "--out", str(out / "outbox"), "--config", str(config)],
                           check=True, cwd=ROOT, capture_output=True)
            print(f"   profile {prof}", file=sys.stderr, flush=True)
        parquet.unlink(missing_ok=True)
        results.append(r)
        (OUT / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nbilling-export benchmark, {os.cpu_count()} cores, "
          f"{dt.datetime.now().isoformat(timespec='minutes')}")
    print_table([r for r in results if not r["all_billable"]])
    for r in results:
        c = r["pipeline"].get("checks")
        if c is None:
            continue
        fails = c["invariant_failures"]
        print(f"{r['rows']:>9,}: DESIGN §9 invariants "
              f"{'hold' if not fails else 'BROKEN: ' + '; '.join(fails)}; billed again in "
              f"partitions of {c['partition_rows']:,} rows: "
              f"{'same bytes' if c['same_bytes_partitioned'] else 'DIFFERENT BYTES'}; "
              f"against tests/golden_workbooks.json: "
              f"{ {None: 'no digest recorded', True: 'same bytes', False: 'DIFFERENT BYTES'}[c.get('same_bytes_as_recorded')] }")
    for r in results:
        if r["all_billable"]:
            ok = len(r["dimensions"]) and list(r["dimensions"])[1:3] == ["Positionen",
                                                                         "Positionen (2)"]
            print(f"Excel row limit: {r['pipeline']['lines']:,} lines -> {r['dimensions']} "
                  f"({'continues on Positionen (2)' if ok else 'CHECK'}); whole "
                  f"{r['pipeline']['seconds']['whole']:.1f} s, peak "
                  f"{r['pipeline']['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
