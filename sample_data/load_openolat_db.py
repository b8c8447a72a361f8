"""Load the sample booking orders into OpenOlat's own tables, for the database source.

    python sample_data/load_openolat_db.py URL [--csv FILE] [--replace]
    python sample_data/load_openolat_db.py --ddl-only

URL is a SQLAlchemy URL, e.g. ``sqlite:///openolat.db``,
``postgresql+psycopg://postgres@127.0.0.1:5432/openolat`` or
``mysql+pymysql://root@127.0.0.1:3306/openolat``. A missing PostgreSQL/MariaDB database is
created (UTF-8); the tables of ``openolat_schema/tables.py`` are created in it and filled from
``booking_orders.csv`` (German or English headers). A database that already holds booking orders
is refused unless ``--replace`` is given; a database holding these tables among others (a real
OpenOlat installation) is always refused. Each run also refreshes the readable
``openolat_schema/{postgresql,mysql,sqlite}.sql``.

How the export's rows become OpenOlat rows:

* every distinct organisation (product's and billing address's Org ID), curriculum (= product,
  by its Kennzeichen), element type (Durchführungstyp), educational type (Durchführungsformat),
  curriculum element (= implementation, with ``c_begin``,
  ``c_end``, ``c_location`` and raw status ``finished``/``active``/… for the German label) and
  its ``o_olatresource``, cost center (name + account), billing address (by its identifier) and
  orderer (``o_user.u_nickname`` = the export's user name, ``o_bs_identity.name`` a login of
  its own, ``o_user`` names, e-mail and institutional identifier) is one row; curricula and
  curriculum elements get the NOT NULL ``fk_group`` OpenOlat gives them;
* an offer per implementation, offer label, currency and cost center, linked through
  ``o_ac_offer_access`` to every ``o_ac_method`` its orders were paid with: ``invoice.method``
  (Rechnung / Invoice), ``checkout.method`` (Kreditkarte / Credit card: PayPal Checkout),
  ``paypal.method`` (PayPal). An offer whose orders were paid both ways is a two-method offer,
  as in OpenOlat (the sample's card orders share their offers with invoice orders);
* each booking order is one ``o_ac_order`` (``order_id`` = Buchungsnummer, ``creationdate`` =
  Auftragsdatum at a time of day derived from the number, ``lastmodified`` two days later unless
  the status is NEW, status label mapped back to NEW / PREPAYMENT / PAYED / CANCELED /
  WRITTEN_OFF / ERROR, price into ``total_amount`` and ``total_lines_amount``, fee into
  ``cancellation_fee_amount``) with one ``o_ac_order_part``, one ``o_ac_order_line`` and one
  ``o_ac_transaction`` (the payment: ``fk_method_id`` = the row's payment method, amount = the
  price, status SUCCESS, or CANCELED for a cancelled order), as ``ACOrderDAO`` and
  ``ACTransactionDAO.createTransaction(order, part, method)`` write them.

The CSV's deliberately faulty rows, in the nearest form a database can hold:

* a decimal-comma price (``CHF 1250,00``): a numeric column cannot hold a comma, so the amount
  is loaded as the number meant (1250.00) — in the database this order is not faulty;
* an empty order date: an OpenOlat order always has its creation date, so the row is skipped
  (and printed);
* a billing address in ``Frankreich``: free text in ``a_country``, loaded as it is (billing
  reports the missing tax rule, as for the CSV).

Amounts never pass through a float: they are Decimals from the text.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(HERE), str(ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

from sqlalchemy import create_engine, func, inspect, select, text  # noqa: E402
from sqlalchemy.engine import URL, make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from openolat_schema import tables as T  # noqa: E402
from schemas.booking_order import STATUS_LABELS  # noqa: E402
from transforms.headers import map_headers  # noqa: E402

CSV_DEFAULT = HERE / "booking_orders.csv"
SCHEMA_DIR = HERE / "openolat_schema"
DIALECTS = ("postgresql", "mysql", "sqlite")
EPOCH = dt.datetime(2020, 1, 1, 0, 0, 0)  # creation time of the reference rows

#: the export's "Angebotstyp" → ``o_ac_method.access_method``, OpenOlat's handler types
#: (``InvoiceAccessHandler``, ``PaypalAccessHandler.METHOD_TYPE = "paypal.method"``,
#: ``PaypalCheckoutAccessHandler.METHOD_TYPE = "checkout.method"``). OpenOlat has no credit card
#: method of its own: a card is paid through PayPal Checkout.
METHODS = {
    "rechnung": "invoice.method", "invoice": "invoice.method", "invoice.method": "invoice.method",
    "paypal": "paypal.method", "paypal.method": "paypal.method",
    "kreditkarte": "checkout.method", "credit card": "checkout.method",
    "paypal checkout": "checkout.method", "checkout.method": "checkout.method",
}
ELEMENT_STATUS = {
    "vorbereitung": "preparation", "provisorisch": "provisional", "bestätigt": "confirmed",
    "aktiv": "active", "abgebrochen": "cancelled", "beendet": "finished",
    "gelöscht": "deleted",
    **{s: s for s in ("preparation", "provisional", "confirmed", "active", "cancelled",
                      "finished", "deleted")},
}
_MONEY = re.compile(r"^\s*([A-Za-z]{3})[\s\u00a0]*(-?\d+)(?:([.,])(\d+))?\s*$")


@dataclass
class LoadReport:
    url: str
    orders: int = 0
    skipped: list[str] = field(default_factory=list)   # "row N (booking X): why"
    notes: list[str] = field(default_factory=list)     # loaded, but changed or worth knowing
    counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"loaded {self.orders} booking orders into {self.url}"]
        out += [f"  {t}: {n} rows" for t, n in self.counts.items()]
        out += [f"  skipped {s}" for s in self.skipped]
        out += [f"  note: {n}" for n in self.notes]
        return out


# --------------------------------------------------------------------------------------------
# Reading the CSV
# --------------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """``(line number, {canonical id: text})`` per data row, headers found by their text."""
    data = path.read_text(encoding="utf-8-sig")
    first = data.splitlines()[0]
    delim = ";" if first.count(";") > first.count(",") else ","
    records = list(csv.reader(data.splitlines(keepends=True), delimiter=delim))
    hmap = map_headers(records[0])
    if hmap.missing:
        raise SystemExit(f"{path}: required column(s) missing: {', '.join(hmap.missing)}")
    rows = []
    for n, rec in enumerate(records[1:], start=2):
        if not any(c.strip() for c in rec):
            continue
        rows.append((n, {cid: (rec[i].strip() if i < len(rec) else "")
                         for i, cid in hmap.columns.items()}))
    return rows


def parse_amount(text: str) -> tuple[Decimal | None, str | None, bool]:
    """``CHF 1250.00`` → (Decimal, currency, had a decimal comma); blank → (None, None, False)."""
    if not text.strip():
        return None, None, False
    m = _MONEY.match(text)
    if not m:
        raise ValueError(f"not an amount: {text!r}")
    cur, whole, sep, frac = m.groups()
    number = whole + (f".{frac}" if frac is not None else "")
    return Decimal(number), cur.upper(), sep == ","


def parse_day(text: str) -> dt.datetime | None:
    text = text.strip()
    if not text or text.lower() == "null":
        return None
    if re.match(r"^\d{1,2}\.\d{1,2}\.\d{4}$", text):
        return dt.datetime.strptime(text, "%d.%m.%Y")
    return dt.datetime.strptime(text[:10], "%Y-%m-%d")


def _none(text: str) -> str | None:
    return text if text.strip() else None


# --------------------------------------------------------------------------------------------
# CSV rows → OpenOlat rows
# --------------------------------------------------------------------------------------------


class _Keyed:
    """Rows of one table, one per key, with ids from a start value."""

    def __init__(self, start: int):
        self.next_id, self.ids, self.rows = start, {}, []

    def get(self, key, make) -> int:
        if key not in self.ids:
            self.ids[key] = self.next_id
            self.rows.append(make(self.next_id))
            self.next_id += 1
        return self.ids[key]


def build(rows, report: LoadReport) -> dict[str, list[dict]]:
    orgs, idents, users = _Keyed(100), _Keyed(1000), []
    types, curricula, elements, resources = _Keyed(10), _Keyed(200), _Keyed(300), []
    formats = _Keyed(40)
    centers, methods, offers, accesses = _Keyed(20), _Keyed(1), _Keyed(500), []
    addresses = _Keyed(700)
    orders, parts, lines, transactions = [], [], [], []
    offer_methods: set[tuple[int, int]] = set()
    seen_orders: set[int] = set()
    ts = dict(creationdate=EPOCH, lastmodified=EPOCH)

    def org(ident: str, name: str) -> int | None:
        if not ident:
            return None
        return orgs.get(ident, lambda i: dict(id=i, o_identifier=ident,
                                              o_displayname=name or ident, **ts))

    for line_no, r in rows:
        where = f"row {line_no} (booking {r.get('booking_number') or '?'})"
        try:
            order_id = int(r["booking_number"])
        except ValueError:
            report.skipped.append(f"{where}: the booking number is not an order_id")
            continue
        if order_id in seen_orders:
            report.skipped.append(f"{where}: booking number already loaded")
            continue
        try:
            created = parse_day(r.get("order_date", ""))
        except ValueError:
            created = None
        if created is None:
            report.skipped.append(f"{where}: no order date; an OpenOlat order always has "
                                  "its creationdate")
            continue
        status = STATUS_LABELS.get(r.get("booking_status", "").strip())
        if status is None:
            report.skipped.append(f"{where}: unknown booking status "
                                  f"{r.get('booking_status')!r}")
            continue
        method_name = METHODS.get(r.get("payment_method", "").strip().lower())
        if method_name is None:
            report.skipped.append(f"{where}: unknown payment method {r.get('payment_method')!r}")
            continue
        try:
            price, price_cur, comma = parse_amount(r.get("price", ""))
            fee, fee_cur, fee_comma = parse_amount(r.get("cancellation_fee", ""))
        except ValueError as err:
            report.skipped.append(f"{where}: {err}")
            continue
        if comma or fee_comma:
            report.notes.append(f"{where}: decimal comma in {r.get('price')!r} loaded as the "
                                f"number {price} (a numeric column holds no comma)")

        p_org = org(r.get("product_org_id", ""), r.get("product_org_name", ""))
        b_org = org(r.get("billing_org_id", ""), r.get("billing_org_name", ""))

        user_name = r.get("orderer_username", "") or f"order-{order_id}"

        def make_identity(i, r=r, user_name=user_name):
            users.append(dict(user_id=i, version=0, creationdate=EPOCH,
                              u_firstname=_none(r.get("orderer_first_name", "")),
                              u_lastname=_none(r.get("orderer_last_name", "")),
                              u_email=_none(r.get("orderer_email", "")),
                              u_nickname=_none(r.get("orderer_username", "")),
                              u_institutionaluseridentifier=_none(
                                  r.get("orderer_institutional_id", "")),
                              fk_identity=i))
            return dict(id=i, version=0, creationdate=EPOCH, lastlogin=None, name=f"ident-{i}",
                        external_id=None, status=2)
        identity = idents.get(user_name, make_identity)

        type_text = r.get("implementation_type", "")
        type_id = types.get(type_text, lambda i: dict(
            id=i, c_identifier=_none(type_text), c_displayname=type_text or "-", **ts)
        ) if type_text else None
        fmt_text = r.get("implementation_format", "")
        fmt_id = formats.get(fmt_text, lambda i: dict(
            id=i, r_identifier=fmt_text, r_predefined=False, r_css_class=None, **ts)
        ) if fmt_text else None
        prod_ref = r.get("product_ref", "")
        curriculum = curricula.get(prod_ref, lambda i: dict(
            id=i, c_identifier=_none(prod_ref), c_displayname=r.get("product", "") or prod_ref,
            c_status="active", fk_group=i + 20_000, fk_organisation=p_org, **ts))
        impl_ref = r.get("implementation_ref", "")
        impl_status = r.get("implementation_status", "").strip()

        def make_element(i, r=r):
            begin, end = parse_day(r.get("service_begin", "")), parse_day(r.get("service_end", ""))
            resources.append(dict(resource_id=i + 10_000, version=0, creationdate=EPOCH,
                                  resname="CurriculumElement", resid=i))
            return dict(id=i, c_identifier=_none(impl_ref),
                        c_displayname=r.get("implementation", "") or impl_ref,
                        c_status=ELEMENT_STATUS.get(impl_status.lower(), _none(impl_status)),
                        c_begin=begin, c_end=end, c_location=_none(r.get("location", "")),
                        fk_group=i + 30_000, fk_curriculum=curriculum, fk_parent=None,
                        fk_type=type_id,
                        fk_resource=i + 10_000, fk_educational_type=fmt_id, **ts)
        element = elements.get(impl_ref, make_element)
        resource = element + 10_000

        cc_key = (r.get("cost_center", ""), r.get("account", ""))
        center = centers.get(cc_key, lambda i: dict(
            id=i, a_name=_none(cc_key[0]), a_account=_none(cc_key[1]), a_enabled=True, **ts)
        ) if any(cc_key) else None
        method = methods.get(method_name, lambda i: dict(
            method_id=i, access_method=method_name, version=0, creationdate=EPOCH,
            lastmodified=EPOCH, is_valid=True, is_enabled=True, validfrom=None, validto=None))
        label = r.get("offer", "")

        def make_offer(i, r=r):
            return dict(offer_id=i, creationdate=EPOCH, lastmodified=EPOCH, is_valid=True,
                        validfrom=None, validto=None, version=0, resourceid=element,
                        resourcetypename="CurriculumElement",
                        resourcedisplayname=r.get("implementation", "") or None,
                        offer_label=_none(label), price_amount=price,
                        price_currency_code=price_cur, cancelling_fee_amount=None,
                        cancelling_fee_currency_code=None, cancelling_fee_deadline_days=None,
                        fk_resource_id=resource, fk_cost_center=center)
        offer = offers.get((impl_ref, label, price_cur, cc_key), make_offer)
        if (offer, method) not in offer_methods:
            offer_methods.add((offer, method))
            accesses.append(dict(offer_method_id=len(accesses) + 600, version=0,
                                 creationdate=EPOCH, is_valid=True, validfrom=None,
                                 validto=None, fk_offer_id=offer, fk_method_id=method))

        ba_ident = r.get("billing_address_id", "")

        def make_address(i, r=r):
            return dict(id=i, a_identifier=ba_ident, a_name_line_1=_none(r.get("name", "")),
                        a_name_line_2=_none(r.get("addition", "")),
                        **{f"a_address_line_{k}": _none(r.get(f"address_line_{k}", ""))
                           for k in range(1, 5)},
                        a_pobox=_none(r.get("po_box", "")), a_region=_none(r.get("region", "")),
                        a_zip=_none(r.get("zip", "")), a_city=_none(r.get("city", "")),
                        a_country=_none(r.get("country", "")), a_enabled=True,
                        fk_organisation=b_org, fk_identity=None if b_org else identity, **ts)
        address = addresses.get(ba_ident, make_address) if ba_ident else None

        created = created + dt.timedelta(hours=8, minutes=order_id % 600)
        modified = created if status == "NEW" else created + dt.timedelta(days=2)
        orders.append(dict(
            order_id=order_id, version=0, creationdate=created, lastmodified=modified,
            is_valid=True, total_lines_amount=price, total_lines_currency_code=price_cur,
            total_amount=price, total_currency_code=price_cur, discount_amount=None,
            discount_currency_code=None, order_status=status, fk_delivery_id=identity,
            purchase_order_number=_none(r.get("po_number", "")),
            order_comment=_none(r.get("order_comment", "")), fk_billing_address=address,
            cancellation_fee_amount=fee, cancellation_fee_currency_code=fee_cur,
            cancellation_fee_lines_amount=fee, cancellation_fee_lines_currency_code=fee_cur))
        parts.append(dict(order_part_id=order_id, version=0, pos=0, creationdate=created,
                          total_lines_amount=price, total_lines_currency_code=price_cur,
                          total_amount=price, total_currency_code=price_cur,
                          fk_order_id=order_id))
        lines.append(dict(order_item_id=order_id, version=0, pos=0, creationdate=created,
                          unit_price_amount=price, unit_price_currency_code=price_cur,
                          total_amount=price, total_currency_code=price_cur,
                          fk_order_part_id=order_id, fk_offer_id=offer,
                          cancellation_fee_amount=fee, cancellation_currency_code=fee_cur))
        transactions.append(dict(
            transaction_id=order_id, version=0, creationdate=created,
            trx_status="CANCELED" if status == "CANCELED" else "SUCCESS",
            amount_amount=price, amount_currency_code=price_cur, fk_order_part_id=order_id,
            fk_order_id=order_id, fk_method_id=method))
        seen_orders.add(order_id)
        if method_name != "invoice.method":
            report.notes.append(f"{where}: paid by {method_name} (read, not billable)")
    report.orders = len(orders)
    return {
        "o_org_organisation": orgs.rows, "o_bs_identity": idents.rows, "o_user": users,
        "o_cur_element_type": types.rows, "o_re_educational_type": formats.rows,
        "o_cur_curriculum": curricula.rows,
        "o_olatresource": resources, "o_cur_curriculum_element": elements.rows,
        "o_ac_cost_center": centers.rows, "o_ac_method": methods.rows, "o_ac_offer": offers.rows,
        "o_ac_offer_access": accesses, "o_ac_billing_address": addresses.rows,
        "o_ac_order": orders, "o_ac_order_part": parts, "o_ac_order_line": lines,
        "o_ac_transaction": transactions,
    }


# --------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------


def _url(url) -> URL:
    url = make_url(str(url))
    if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


def _server_engine(url: URL):
    """An autocommit engine on the server's maintenance database (no database for MariaDB)."""
    backend = url.get_backend_name()
    # URL.set(database=None) would keep the database: replace the field itself
    server = url._replace(database="postgres" if backend == "postgresql" else None)
    return create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def database_exists(url) -> bool:
    url = _url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return not url.database or url.database == ":memory:" or Path(url.database).exists()
    engine = _server_engine(url)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                q = text("SELECT 1 FROM pg_database WHERE datname = :n")
            else:
                q = text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :n")
            return conn.execute(q, {"n": url.database}).first() is not None
    finally:
        engine.dispose()


def create_database(url) -> None:
    """Create the URL's database (UTF-8) on PostgreSQL or MariaDB/MySQL; SQLite needs nothing."""
    url = _url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    engine = _server_engine(url)
    try:
        name = engine.dialect.identifier_preparer.quote(url.database)
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"))
            else:
                conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 "
                                  "COLLATE utf8mb4_unicode_ci"))
    finally:
        engine.dispose()


def drop_database(url) -> None:
    """Drop the URL's database (tests' throw-away databases); deletes a SQLite file."""
    url = _url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).unlink(missing_ok=True)
        return
    engine = _server_engine(url)
    try:
        name = engine.dialect.identifier_preparer.quote(url.database)
        with engine.connect() as conn:
            force = " WITH (FORCE)" if backend == "postgresql" else ""
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
    finally:
        engine.dispose()


def write_ddl(folder: Path = SCHEMA_DIR) -> list[Path]:
    """The readable ``<dialect>.sql`` files; rewritten only when their text changes."""
    changed = []
    for d in DIALECTS:
        path = folder / f"{d}.sql"
        new = T.ddl(d)
        if not path.exists() or path.read_text(encoding="utf-8") != new:
            path.write_text(new, encoding="utf-8", newline="\n")
            changed.append(path)
    return changed


def load(url, csv_path: Path = CSV_DEFAULT, replace: bool = False) -> LoadReport:
    """Create the OpenOlat tables at ``url`` (and the database if missing) and fill them."""
    url = _url(url)
    report = LoadReport(url.render_as_string(hide_password=True))
    if not database_exists(url):
        create_database(url)
        report.notes.append("created the database")
    data = build(read_rows(Path(csv_path)), report)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            present = set(inspect(conn).get_table_names())
            ours = set(T.metadata.tables)
            if present & ours and present - ours:
                raise SystemExit(f"{report.url} has other tables too "
                                 f"({', '.join(sorted(present - ours)[:3])}, …): refusing to "
                                 "replace tables in what looks like a real OpenOlat database")
            if "o_ac_order" in present and not replace:
                n = conn.execute(select(func.count()).select_from(T.o_ac_order)).scalar()
                if n:
                    raise SystemExit(f"{report.url} already holds {n} booking orders; "
                                     "use --replace to load them again")
            T.metadata.drop_all(conn, checkfirst=True)
            T.metadata.create_all(conn)
            for t in T.TABLES:
                rows = data[t.name]
                if rows:
                    conn.execute(t.insert(), rows)
                report.counts[t.name] = len(rows)
    finally:
        engine.dispose()
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", nargs="?", help="SQLAlchemy URL of the database to fill")
    ap.add_argument("--csv", type=Path, default=CSV_DEFAULT, help="booking-order export (CSV)")
    ap.add_argument("--replace", action="store_true",
                    help="drop and reload the tables if they already hold orders")
    ap.add_argument("--ddl-only", action="store_true",
                    help="only (re)write openolat_schema/<dialect>.sql")
    args = ap.parse_args(argv)
    for path in write_ddl():
        print(f"wrote {path.relative_to(ROOT)}")
    if args.ddl_only:
        return 0
    if not args.url:
        ap.error("URL is required (or --ddl-only)")
    report = load(args.url, args.csv, args.replace)
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
