"""The billing job's stages as plain functions, which the run pipeline (flows/pipeline.py) calls.

Keeping them free of Prefect lets every entry point run them in-process, and keeps the Prefect
flow a thin wrapper that runs them as tasks. A run's id is a hash of its inputs and parameters, so the same
inputs give the same run id, file name and bytes, and delivering them again is a no-op.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from xlsxwriter.exceptions import FileCreateError

from schemas.problems import concat
from schemas.settings import RunParameters
from schemas.workbook import label_values, workbook_sheets
from transforms.steps import Billing, Context
from transforms.parse import parse_booking_orders
from transforms.partition import split_companies
from transforms.billing import bill, output_tables  # noqa: F401 - bill: the stages' own
from transforms.reconcile import (address_parties, billed_rows, currency_totals,
                                  reconciliation, row_buckets, warnings)
from transforms.validate import validate_booking_orders

from . import qrbills
from .config import Config, ConfigError, Group
from .errors import OutboxUnwritable, from_os_error, os_error_of
from .outbox import Delivery, deliver
from .sources import registry as sources
from .sources.base import Extract, SourceError
from . import xlsx_cells
from .workbook import EXCEL_MAX_ROWS, EXCEL_MAX_TEXT, over_limit, write_workbook

def use_jemalloc() -> None:
    """Arrow's allocator for every column of a run (pandas' text columns live in Arrow): set
    for the process when a run is planned (flows.pipeline.plan), not when this module is
    imported. With pyarrow's default, mimalloc, 100k orders took 3.8 s and 760 MB; with
    jemalloc 3.2 s and 680 MB, most of the difference in rendering (benchmarks/run.py)."""
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow build without jemalloc (Windows): keep the default
        pass


def check_validation_enabled() -> None:
    """pandera turns every validation into a no-op when this variable says so; refuse to bill
    unvalidated data."""
    value = os.environ.get("PANDERA_VALIDATION_ENABLED", "").strip().lower()
    if value in ("0", "false", "no", "off"):
        from .errors import ConfigurationError
        raise ConfigurationError("PANDERA_VALIDATION_ENABLED is off: booking orders would not be "
                           "validated. Unset it to run billing.")


def source_kind(location: str) -> str:
    """``database`` for a SQLAlchemy URL, ``xlsx`` for an Excel file, else ``csv``."""
    return sources.kind_of(location)


def extract(location: str, since: dt.datetime | None = None, recheck=(),
            recheck_statuses=()) -> Extract:
    """Read one source; the kind follows from the location. ``since`` (databases only) reads
    only orders created or modified after it, and the booking numbers in ``recheck`` and
    the orders in ``recheck_statuses`` whatever their dates (flows/incremental.py)."""
    read_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    ex = sources.read(str(location), since=since, recheck=recheck,
                      recheck_statuses=recheck_statuses)
    return dataclasses.replace(ex, location=public_location(str(location)), read_at=read_at)


def public_location(location: str) -> str:
    """A source location fit to log and store: an absolute path, or a URL without password."""
    if "://" in location:
        from sqlalchemy.engine import make_url
        try:
            return make_url(location).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - a location we cannot parse is not shown
            return "<database>"
    return str(Path(location).resolve())


def price_format(ex: Extract, configs: list[Config]) -> str:
    """How the source writes amounts: the companies' ``price_format`` setting (one export
    has one format, so a group's companies must agree). The database source writes plain
    decimals whatever the installation shows."""
    fixed = sources.source(source_kind(ex.location)).PRICE_FORMAT if ex.location else None
    if fixed:
        return fixed
    chosen = {c.settings.price_format for c in configs}
    if len(chosen) > 1:
        codes = ", ".join(f"{c.settings.code}: {c.settings.price_format}" for c in configs)
        raise ConfigError(f"price_format: the companies of this group read the same source but "
                          f"set different amount formats ({codes}); set the same one")
    return chosen.pop() if chosen else "detect"


def validate(ex: Extract, price_format: str = "detect") -> tuple[pd.DataFrame, pd.DataFrame]:
    parsed, parse_problems = parse_booking_orders(ex.frame, price_format)
    valid, check_problems = validate_booking_orders(parsed)
    return valid, concat([parse_problems, check_problems])


def facts(ex: Extract) -> Extract:
    """The extract without its text frame, for what comes after validation (the run id and
    the reconciliation need its name, checksum and row count): the validated orders carry
    the rows on, and the raw text (700 MB at a million rows) is let go."""
    return dataclasses.replace(ex, frame=pd.DataFrame())


def run_id(ex: Extract, config: Config, params: RunParameters, scope: str = "") -> str:
    """``scope`` says which rows of the source a company of a group bills (its product
    organisations); empty for a single company, which bills them all."""
    h = hashlib.sha256()
    for part in (ex.checksum, config.checksum, params.invoice_date.isoformat(),
                 params.cutoff_date.isoformat(), params.language,
                 str(params.exchange_rate_date), str(params.draft)) + ((scope,) if scope else ()):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:8].upper()


@dataclass
class CompanyRun:
    """One company's part of a run: its rows of the source, configuration and run id."""
    ex: Extract
    orders: pd.DataFrame
    problems: pd.DataFrame
    config: Config
    params: RunParameters
    rid: str
    credit: object | None = None  # a credit on demand (flows.pipeline.Credit): no split
    group: str | None = None  # the group.toml this company was billed from, if any
    #: a draft with no invoice and no credit note: "deliver" it (an empty workbook), "refuse"
    #: (NothingToBill: re-dating), or "skip" it when every row read was billed already (inbox)
    if_empty: str = "deliver"


def company_runs(ex: Extract, valid: pd.DataFrame, problems: pd.DataFrame, group: Group,
                 params_of: Callable[[Config], RunParameters]) -> list[CompanyRun]:
    """The source split among the companies of ``group`` (one run each, in group order).
    The runs carry the extract's facts only (:func:`facts`): its text is not needed after the
    split, and at a million rows it is most of the memory."""
    if group.single:
        m = group.members[0]
        params = params_of(m.config)
        return [CompanyRun(facts(ex), valid, problems, m.config, params,
                           run_id(ex, m.config, params))]
    if "product_org_id" not in ex.frame:
        raise SourceError(ex.name, "the column 'Org ID (Produkt)' is missing; a group "
                          "configuration gives each row to the company that bills its "
                          "product's organisation", row=1)
    codes = [m.config.settings.code for m in group.members]
    shares = split_companies(ex.frame, valid, problems, group.org_companies, codes)
    runs = []
    for i, m in enumerate(group.members):
        mask, mine, mine_problems = shares[m.config.settings.code]
        sub = dataclasses.replace(facts(ex), rows=int(mask.sum()))
        params = params_of(m.config)
        scope = "group:" + ",".join(sorted(m.product_orgs)) + (":lead" if i == 0 else "")
        runs.append(CompanyRun(sub, mine, mine_problems, m.config, params,
                               run_id(sub, m.config, params, scope),
                               group=str(group.toml.resolve())))
    return runs


#: a company above this many orders is billed in hash partitions of its invoice-to parties
DEFAULT_PARTITION_ROWS = 250_000

@dataclass
class Rendered:
    path: Path
    name: str
    manifest: dict
    tables: dict[str, pd.DataFrame]
    cut_cells: list = field(default_factory=list)
    qr_staged: Path | None = None  # folder of QR-bill SVGs to deliver beside the workbook


def parameters_table(params: RunParameters, config: Config, rid: str) -> dict[str, str]:
    return {
        "run": rid,
        "invoice_date": params.invoice_date.isoformat(),
        "cutoff_date": params.cutoff_date.isoformat(),
        "exchange_rate_date": (params.exchange_rate_date or params.invoice_date).isoformat(),
        "mode": "draft" if params.draft else "final",
        "language": params.language,
        "financial_company": config.settings.code,
        "tax_rounding": config.settings.tax_rounding,
        "tax_rate_date": config.settings.tax_rate_date,
        "tax_period_date": config.settings.tax_period_date,
        "rounding": config.settings.rounding,
        "prices_include_tax": str(config.settings.prices_include_tax).lower(),
        "config_sha256": config.checksum,
    }


def manifest(billing: Billing, tables, name: str, rid: str, params: RunParameters,
             rows_read: int) -> dict:
    inv = billing.invoices
    totals = currency_totals(inv)
    buckets = row_buckets(billing.problems)
    return {
        "run": rid,
        "invoice_date": params.invoice_date.isoformat(),
        "mode": "draft" if params.draft else "final",
        "rows_read": rows_read,
        "rows_billed": int(len(billed_rows(billing.lines))),
        "rows_rejected": int((buckets["bucket"] == "rejected").sum()),
        "rows_not_billable": int((buckets["bucket"] == "not_billable").sum()),
        "rows_already_billed": int((buckets["bucket"] == "already_billed").sum()),
        "invoices": int((inv["document_type"] != "credit_note").sum()),
        "credit_notes": int((inv["document_type"] == "credit_note").sum()),
        "lines": int(len(billing.lines)),
        "invoice_to_address_ids": len(address_parties(inv)),
        "totals": totals,
    }


def file_name(config: Config, params: RunParameters, rid: str) -> str:
    return f"{config.settings.code}_{params.invoice_date.isoformat()}_{rid}.xlsx"


def render(billing: Billing, ex: Extract, config: Config, params: RunParameters, rid: str,
           staging: Path, max_rows: int = EXCEL_MAX_ROWS,
           max_text: int = EXCEL_MAX_TEXT, staged: Path | None = None) -> Rendered:
    """Write the workbook to ``staged`` (default: a temporary name in ``staging``)."""
    lang = params.language
    coded = output_tables(billing, lang, config.settings)
    tables = {k: label_values(v, lang) for k, v in coded.items()}
    name = file_name(config, params, rid)
    staging.mkdir(parents=True, exist_ok=True)
    path = staged or staging / f".{name}.{os.getpid()}.part"
    # the QR-bills read the invoices with their codes, not the sheet's labels
    invoices = coded["invoices"] if config.settings.qr_bill else None
    del coded
    planned = None
    if invoices is not None:  # a billing address a QR-bill cannot carry is a flag, not a stop
        planned = qrbills.plan(invoices)
        skipped = planned[1]
        billing = billing.note(*(("flags", "qr_bill_skipped", None, f"{n}: {r}")
                                 for n, r in qrbills.data_skips(skipped).items()))
    recon = reconciliation(billing, ex.rows, [(ex.name, ex.checksum, ex.rows)],
                           parameters_table(params, config, rid), lang)
    tables["reconciliation"] = recon
    # text cut at Excel's limit is only known while writing; a first pass counts the cells
    cells = _text_cells(tables)
    cut, control = _count_cut(cells, max_text), _count_control(cells)
    del cells
    if cut or control:
        if cut:
            billing = billing.note(("flags", "text_cut", None, str(cut)))
        if control:
            billing = billing.note(("flags", "control_characters", None, str(control)))
        tables["reconciliation"] = reconciliation(
            billing, ex.rows, [(ex.name, ex.checksum, ex.rows)],
            parameters_table(params, config, rid), lang)
    failed, hook = None, sys.unraisablehook
    try:
        report = write_workbook(path, tables, workbook_sheets(tables), lang,
                                params.invoice_date,
                                f"{config.settings.name} {params.invoice_date}", max_rows,
                                max_text, run_id=rid)
        man = manifest(billing, tables, name, rid, params, ex.rows)
        man["sheets"] = report.sheets
        man["source_sha256"] = ex.checksum  # what an approval checks the source against
        man["warnings"] = warnings(billing, lang, report.cut_cells)
        qr_staged = None
        if config.settings.qr_bill:
            qr_staged = qr_staged_path(path, name)
            if qr_staged.exists():
                shutil.rmtree(qr_staged)
            man["qr_bills"] = {"folder": qrbills.folder_name(name), **qrbills.write_qr_bills(
                qr_staged, invoices, config.settings, lang, planned)}
    except (OSError, FileCreateError) as err:  # a full disk, a read-only share: not a crash
        cause = os_error_of(err)
        failed = (from_os_error(cause, staging, f"the workbook {name} cannot be written beside "
                                "the outbox; nothing was billed", OutboxUnwritable)
                  if cause is not None else
                  OutboxUnwritable(f"{staging}: the workbook {name} cannot be written beside "
                                   f"the outbox: {err}; nothing was billed"))
        del cause  # its traceback holds XlsxWriter's frames
        # XlsxWriter leaves its zip file open when it fails; it is closed (and fails again,
        # to no purpose) when collected below: that second failure is not reported
        sys.unraisablehook = lambda _: None
    if failed:
        try:
            gc.collect()
        finally:
            sys.unraisablehook = hook
        raise failed
    return Rendered(path, name, man, tables, report.cut_cells, qr_staged)


def qr_staged_path(path: Path, name: str) -> Path:
    """The staged QR-bill folder beside the staged workbook ``path`` of ``name``: the same
    writer's tag, so two runs of the same inputs never share it."""
    prefix = f".{name}"
    tail = path.name[len(prefix):] if path.name.startswith(prefix) else path.suffix
    return path.with_name(f".{qrbills.folder_name(name)}{tail}")


def _text_cells(tables, sheets=None) -> pa.ChunkedArray:
    """Every text and variant cell of the workbook's sheets as the writer reads them, in one
    array: a check over all of them is one call, not one per column (a small run has a
    hundred text columns)."""
    return pa.chunked_array([xlsx_cells.text_array(tables[sheet.id][c.id])
                             for sheet in sheets or workbook_sheets(tables)
                             for c in sheet.cols
                             if c.kind in ("text", "variant")], type=pa.large_string())


def _count_cut(cells: pa.ChunkedArray, max_text) -> int:
    return int(over_limit(cells, max_text).sum())  # as the writer cuts


#: characters XML cannot hold; the writer stores them as Excel's _xHHHH_ escapes (RE2)
_XML_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]"


def _count_control(cells: pa.ChunkedArray) -> int:
    """Text cells holding a character that XML cannot carry: the writer escapes them
    (``_x0001_``), and the Reconciliation sheet says how many cells were so written."""
    return int(pc.sum(pc.match_substring_regex(cells, _XML_ILLEGAL)).as_py() or 0)


def deliver_rendered(rendered: Rendered, outbox: Path) -> Delivery:
    """QR-bills first, then the workbook, then its manifest: the manifest's arrival means all
    of the delivery is there."""
    if rendered.qr_staged is not None and rendered.qr_staged.exists():
        qrbills.place_folder(rendered.qr_staged, outbox / qrbills.folder_name(rendered.name))
    return deliver(rendered.path, outbox, rendered.name, rendered.manifest)


def context(config: Config, params: RunParameters, rid: str) -> Context:
    return Context(config.settings, params, config.tables, rid)


def default_params(invoice_date: dt.date | None, cutoff: dt.date | None, language: str | None,
                   config: Config, draft: bool = True) -> RunParameters:
    inv = invoice_date or dt.date.today()
    return RunParameters(invoice_date=inv, cutoff_date=cutoff or inv,
                         language=language or config.settings.language, draft=draft)
