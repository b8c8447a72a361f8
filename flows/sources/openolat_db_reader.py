"""The reading of booking orders from OpenOlat's tables with SQLAlchemy: the tables as the
query sees them, the query, the connection and its errors, and the rows as the text frame.

What the query does and why is told in :mod:`flows.sources.openolat_db`, the source the
registry names; it imports this module only when it reads, so that a run on a file (and the
command line's checks of a URL) never pays for importing SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path

import pandas as pd
from sqlalchemy import (BigInteger, DateTime, Numeric, String, Text, bindparam,
                        column, create_engine, exists, func, inspect, or_, select, table)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from transforms.minor_units import EXPONENTS

from ..errors import SourceUnavailable
from .base import Extract, SourceError
from .db_urls import PASSWORD_VARIABLE, redact_text as _redact_text

INVOICE_METHOD = "invoice.method"
ORDER_TABLE = "o_ac_order"
CONNECT_TIMEOUT_S = 10



# ------------------------------------------------------------------------------------------
# The OpenOlat tables as the query sees them (names and result types only; never created here)
# ------------------------------------------------------------------------------------------


class _ExactAmount(TypeDecorator):
    """An amount column read as Decimal on every dialect, never through a float."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":  # no exact type: amounts are stored as text
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_result_value(self, value, dialect):
        if value is None or isinstance(value, Decimal):
            return value
        if isinstance(value, float):
            raise _FloatAmount(value)
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise _BadAmount(value) from None


class _StoredDate(TypeDecorator):
    """A date column read as stored: SQLite keeps any value in any column, and SQLAlchemy's
    own DateTime conversion raises on a text that is not ISO (or on a number), which would
    stop the whole read for one cell. The text goes on instead, and the row is rejected by
    the date check with the cell named, like a bad date in a file."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value, dialect):
        if dialect.name == "sqlite" and value is not None:
            # in SQLAlchemy's own storage format, as the comparison there is one of texts
            return sqlite.DATETIME().bind_processor(dialect)(value)
        return value

    def process_result_value(self, value, dialect):
        if dialect.name != "sqlite" or value is None or isinstance(value, dt.date):
            return value
        try:
            return dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)


class _FloatAmount(Exception):
    pass


class _BadAmount(Exception):
    pass


def _t(name: str, *cols) -> object:
    return table(name, *[column(c, ty) for c, ty in cols])


_ID, _S, _D, _A = BigInteger, String, _StoredDate, _ExactAmount

o_ac_order = _t("o_ac_order", ("order_id", _ID), ("creationdate", _D), ("lastmodified", _D),
                ("total_amount", _A), ("total_currency_code", _S), ("order_status", _S),
                ("fk_delivery_id", _ID), ("purchase_order_number", _S), ("order_comment", _S),
                ("fk_billing_address", _ID), ("cancellation_fee_amount", _A),
                ("cancellation_fee_currency_code", _S))
o_ac_order_part = _t("o_ac_order_part", ("order_part_id", _ID), ("fk_order_id", _ID))
o_ac_order_line = _t("o_ac_order_line", ("order_item_id", _ID), ("fk_order_part_id", _ID),
                     ("fk_offer_id", _ID))
o_ac_offer = _t("o_ac_offer", ("offer_id", _ID), ("offer_label", _S), ("fk_resource_id", _ID),
                ("fk_cost_center", _ID))
o_ac_offer_access = _t("o_ac_offer_access", ("fk_offer_id", _ID), ("fk_method_id", _ID))
o_ac_method = _t("o_ac_method", ("method_id", _ID), ("access_method", _S))
o_ac_transaction = _t("o_ac_transaction", ("transaction_id", _ID), ("fk_order_id", _ID),
                      ("fk_method_id", _ID))
o_ac_cost_center = _t("o_ac_cost_center", ("id", _ID), ("a_name", _S), ("a_account", _S))
o_ac_billing_address = _t(
    "o_ac_billing_address", ("id", _ID), ("a_identifier", _S), ("a_name_line_1", _S),
    ("a_name_line_2", _S), ("a_address_line_1", _S), ("a_address_line_2", _S),
    ("a_address_line_3", _S), ("a_address_line_4", _S), ("a_pobox", _S), ("a_region", _S),
    ("a_zip", _S), ("a_city", _S), ("a_country", _S), ("fk_organisation", _ID))
o_cur_curriculum = _t("o_cur_curriculum", ("id", _ID), ("c_identifier", _S),
                      ("c_displayname", _S), ("fk_organisation", _ID))
o_cur_curriculum_element = _t(
    "o_cur_curriculum_element", ("id", _ID), ("c_identifier", _S), ("c_displayname", _S),
    ("c_status", _S), ("c_begin", _D), ("c_end", _D), ("c_location", _S),
    ("fk_curriculum", _ID), ("fk_type", _ID), ("fk_resource", _ID),
    ("fk_educational_type", _ID))
o_re_educational_type = _t("o_re_educational_type", ("id", _ID), ("r_identifier", _S))
o_cur_element_type = _t("o_cur_element_type", ("id", _ID), ("c_identifier", _S))
o_org_organisation = _t("o_org_organisation", ("id", _ID), ("o_identifier", _S),
                        ("o_displayname", _S))
o_bs_identity = _t("o_bs_identity", ("id", _ID), ("name", _S))
o_user = _t("o_user", ("user_id", _ID), ("fk_identity", _ID), ("u_firstname", _S),
            ("u_lastname", _S), ("u_email", _S), ("u_nickname", _S),
            ("u_institutionaluseridentifier", _S))

#: every table the query reads; a database lacking one is not (this version of) OpenOlat
TABLES = (ORDER_TABLE, "o_ac_order_part", "o_ac_order_line", "o_ac_offer", "o_ac_offer_access",
          "o_ac_method", "o_ac_transaction", "o_ac_cost_center", "o_ac_billing_address",
          "o_cur_curriculum",
          "o_cur_curriculum_element", "o_cur_element_type", "o_re_educational_type",
          "o_org_organisation",
          "o_bs_identity", "o_user")

#: canonical column ids of the frame, in the CSV source's order
COLUMNS = (
    "orderer_username", "orderer_first_name", "orderer_last_name", "orderer_email",
    "orderer_institutional_id", "product", "product_ref", "product_org_id", "product_org_name",
    "implementation", "implementation_ref", "implementation_type", "implementation_status",
    "implementation_format", "service_begin", "service_end", "location", "booking_number", "booking_status", "offer",
    "payment_method", "cost_center", "account", "po_number", "order_comment", "order_date",
    "price", "cancellation_fee", "billing_address_id", "name", "addition", "address_line_1",
    "address_line_2", "address_line_3", "address_line_4", "po_box", "region", "zip", "city",
    "country", "billing_org_id", "billing_org_name",
)
DATE_COLUMNS = ("service_begin", "service_end", "order_date")


def _joined():
    """The orders with their first line's offer and everything after it outer-joined, and
    the three expressions that decide what is read: ``paid_by`` (the method of the order's
    latest transaction), that transaction's id and ``offers_invoice`` (the offer offers the
    invoice method)."""
    o, part, line, offer = o_ac_order, o_ac_order_part, o_ac_order_line, o_ac_offer
    ce, cur, et, cc = (o_cur_curriculum_element, o_cur_curriculum, o_cur_element_type,
                       o_ac_cost_center)
    ba, ident, usr = o_ac_billing_address, o_bs_identity, o_user
    org_p = o_org_organisation.alias("product_org")
    access, method, edu = o_ac_offer_access, o_ac_method, o_re_educational_type

    first_line = (
        select(part.c.fk_order_id.label("order_id"),
               func.min(line.c.order_item_id).label("order_item_id"))
        .select_from(part.join(line, line.c.fk_order_part_id == part.c.order_part_id))
        .group_by(part.c.fk_order_id)
        .subquery("first_line"))
    trx = o_ac_transaction
    last_trx = (
        select(trx.c.fk_order_id.label("order_id"),
               func.max(trx.c.transaction_id).label("transaction_id"))
        .group_by(trx.c.fk_order_id)
        .subquery("last_trx"))
    trx_method = method.alias("trx_method")
    offers_invoice = exists().where(
        access.c.fk_offer_id == offer.c.offer_id,
        method.c.method_id == access.c.fk_method_id,
        method.c.access_method == bindparam("access_method", INVOICE_METHOD))

    joined = (
        o.join(first_line, first_line.c.order_id == o.c.order_id)
        .join(line, line.c.order_item_id == first_line.c.order_item_id)
        .join(offer, offer.c.offer_id == line.c.fk_offer_id)
        .outerjoin(cc, cc.c.id == offer.c.fk_cost_center)
        .outerjoin(ce, ce.c.fk_resource == offer.c.fk_resource_id)
        .outerjoin(et, et.c.id == ce.c.fk_type)
        .outerjoin(edu, edu.c.id == ce.c.fk_educational_type)
        .outerjoin(cur, cur.c.id == ce.c.fk_curriculum)
        .outerjoin(org_p, org_p.c.id == cur.c.fk_organisation)
        .outerjoin(ba, ba.c.id == o.c.fk_billing_address)
        .outerjoin(ident, ident.c.id == o.c.fk_delivery_id)
        .outerjoin(usr, usr.c.fk_identity == ident.c.id)
        .outerjoin(last_trx, last_trx.c.order_id == o.c.order_id)
        .outerjoin(trx, trx.c.transaction_id == last_trx.c.transaction_id)
        .outerjoin(trx_method, trx_method.c.method_id == trx.c.fk_method_id)
    )
    return joined, trx_method.c.access_method, last_trx.c.transaction_id, offers_invoice, dict(
        ba=ba, org_p=org_p, usr=usr)


def _read_population(paid_by, offers_invoice):
    """Orders that are, or could be taken for, invoice orders: their offer offers the
    invoice method, or their transaction used it."""
    return or_(offers_invoice, paid_by == bindparam("paid_by", INVOICE_METHOD))


def booking_orders_query(since: dt.datetime | None = None, recheck=(), recheck_statuses=()):
    """The one SELECT: one row per booking order of an invoice-method offer (or paid by
    invoice), ordered by ``order_id``."""
    o, offer = o_ac_order, o_ac_offer
    ce, cur, et, cc = (o_cur_curriculum_element, o_cur_curriculum, o_cur_element_type,
                       o_ac_cost_center)
    edu = o_re_educational_type
    joined, paid_by, trx_id, offers_invoice, t = _joined()
    ba, org_p, usr = t["ba"], t["org_p"], t["usr"]
    org_b = o_org_organisation.alias("billing_org")
    joined = joined.outerjoin(org_b, org_b.c.id == ba.c.fk_organisation)
    stmt = (
        select(
            paid_by.label("paid_by"),
            trx_id.label("transaction_id"),
            offers_invoice.label("offers_invoice"),
            usr.c.user_id.label("user_id"),
            usr.c.u_nickname.label("orderer_username"),
            usr.c.u_firstname.label("orderer_first_name"),
            usr.c.u_lastname.label("orderer_last_name"),
            usr.c.u_email.label("orderer_email"),
            usr.c.u_institutionaluseridentifier.label("orderer_institutional_id"),
            cur.c.c_displayname.label("product"),
            cur.c.c_identifier.label("product_ref"),
            org_p.c.o_identifier.label("product_org_id"),
            org_p.c.o_displayname.label("product_org_name"),
            ce.c.c_displayname.label("implementation"),
            ce.c.c_identifier.label("implementation_ref"),
            et.c.c_identifier.label("implementation_type"),
            ce.c.c_status.label("implementation_status"),
            edu.c.r_identifier.label("implementation_format"),
            ce.c.c_begin.label("service_begin"),
            ce.c.c_end.label("service_end"),
            ce.c.c_location.label("location"),
            o.c.order_id.label("booking_number"),
            o.c.order_status.label("booking_status"),
            offer.c.offer_label.label("offer"),
            cc.c.a_name.label("cost_center"),
            cc.c.a_account.label("account"),
            o.c.purchase_order_number.label("po_number"),
            o.c.order_comment.label("order_comment"),
            o.c.creationdate.label("order_date"),
            o.c.total_amount.label("price_amount"),
            o.c.total_currency_code.label("price_currency"),
            o.c.cancellation_fee_amount.label("fee_amount"),
            o.c.cancellation_fee_currency_code.label("fee_currency"),
            ba.c.a_identifier.label("billing_address_id"),
            ba.c.a_name_line_1.label("name"),
            ba.c.a_name_line_2.label("addition"),
            ba.c.a_address_line_1.label("address_line_1"),
            ba.c.a_address_line_2.label("address_line_2"),
            ba.c.a_address_line_3.label("address_line_3"),
            ba.c.a_address_line_4.label("address_line_4"),
            ba.c.a_pobox.label("po_box"),
            ba.c.a_region.label("region"),
            ba.c.a_zip.label("zip"),
            ba.c.a_city.label("city"),
            ba.c.a_country.label("country"),
            org_b.c.o_identifier.label("billing_org_id"),
            org_b.c.o_displayname.label("billing_org_name"),
        )
        .select_from(joined)
        .where(_read_population(paid_by, offers_invoice))
        .order_by(o.c.order_id)
    )
    if since is not None:
        after = bindparam("since", since, type_=_StoredDate)
        changed = [o.c.creationdate > after, o.c.lastmodified > after]
        ids = sorted({int(n) for n in recheck if str(n).strip().isdigit()})
        if ids:  # inline integers: no limit on the number of bound parameters
            changed.append(o.c.order_id.in_(
                bindparam("recheck", ids, expanding=True, literal_execute=True)))
        if recheck_statuses:
            changed.append(o.c.order_status.in_(
                bindparam("recheck_statuses", list(recheck_statuses), expanding=True)))
        stmt = stmt.where(or_(*changed))
    return stmt


def left_out_query():
    """How many orders OpenOlat's export lists that the source does not read: orders with a
    billing address, a curriculum element of a curriculum with an organisation and an
    orderer user, outside :func:`_read_population` (offers without the invoice method, paid
    otherwise)."""
    o = o_ac_order
    joined, paid_by, _, offers_invoice, t = _joined()
    return (select(func.count(func.distinct(o.c.order_id)))
            .select_from(joined)
            .where(t["ba"].c.id.is_not(None), t["org_p"].c.id.is_not(None),
                   t["usr"].c.user_id.is_not(None),
                   ~_read_population(paid_by, offers_invoice)))


def payment_method(row) -> str:
    """The order's own payment method: its transaction's; an order without a transaction
    is an invoice order when its offer offers the invoice method. A transaction whose method
    row is missing gives a text that is no invoice method, so it is never invoiced."""
    if row["transaction_id"] is not None:
        return row["paid_by"] or f"unknown method (transaction {row['transaction_id']})"
    return INVOICE_METHOD if row["offers_invoice"] else ""


def population_notes(rows, left_out: int) -> tuple[str, ...]:
    """The difference to OpenOlat's own export, as counts (shown in the run log)."""
    notes = []
    if left_out:
        notes.append(f"{left_out} booking orders of offers without the invoice method, paid "
                     "otherwise, not read (OpenOlat's export lists them)")
    missing = {"a billing address": sum(r["billing_address_id"] is None for r in rows),
               "a curriculum element with an organisation":
                   sum(r["product_org_id"] is None for r in rows),
               "an orderer user": sum(r["user_id"] is None for r in rows)}
    for what, n in missing.items():
        if n:
            notes.append(f"{n} booking orders read without {what}, which OpenOlat's export "
                         "leaves out")
    return tuple(notes)


# ------------------------------------------------------------------------------------------
# Cells as text
# ------------------------------------------------------------------------------------------


def amount_text(amount, currency) -> str:
    """``CUR\u00a0amount`` from an exact Decimal: trailing zeros trimmed to the currency's minor
    unit (two decimals for a code that is not ISO 4217), no digit ever dropped.

    >>> amount_text(Decimal("531.0000"), "EUR"), amount_text(Decimal("150000.0000"), "JPY")
    ('EUR\\xa0531.00', 'JPY\\xa0150000')
    >>> amount_text(Decimal("12.3456"), "CHF"), amount_text(None, "CHF")
    ('CHF\\xa012.3456', '')
    """
    if amount is None:
        return ""
    cur = (currency or "").strip()
    if not amount.is_finite():
        text = str(amount)
    else:
        with localcontext() as ctx:
            ctx.prec = max(ctx.prec, len(amount.as_tuple().digits) + 40)
            exp = amount.normalize().as_tuple().exponent
            decimals = max(EXPONENTS.get(cur.upper(), 2), -exp if exp < 0 else 0)
            text = format(amount.quantize(Decimal(1).scaleb(-decimals)), "f")
    return f"{cur}\u00a0{text}" if cur else text


def _date_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _text(value) -> str:
    return "" if value is None else str(value)


def _frame(rows, source: str) -> pd.DataFrame:
    cols: dict[str, list[str]] = {c: [] for c in COLUMNS}
    for r in rows:
        for c in COLUMNS:
            if c == "price":
                cols[c].append(amount_text(r["price_amount"], r["price_currency"]))
            elif c == "cancellation_fee":
                cols[c].append(amount_text(r["fee_amount"], r["fee_currency"]))
            elif c == "payment_method":
                cols[c].append(payment_method(r))
            elif c in DATE_COLUMNS:
                cols[c].append(_date_text(r[c]))
            else:
                cols[c].append(_text(r[c]))
    frame = pd.DataFrame(cols, dtype="str")
    frame["source"] = pd.Series([source] * len(frame), dtype="str")
    frame["source_row"] = pd.Series(range(1, len(frame) + 1), dtype="int64")
    return frame


def checksum(frame: pd.DataFrame) -> str:
    """sha256 of the rows' text (header line, then one JSON array per row); the location
    (``source``) is left out, so the same orders give the same checksum wherever they live."""
    cols = [c for c in frame.columns if c != "source"]
    h = hashlib.sha256()
    h.update(json.dumps(cols, ensure_ascii=False).encode("utf-8") + b"\n")
    for row in frame[cols].itertuples(index=False, name=None):
        h.update(json.dumps([str(v) for v in row], ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


# ------------------------------------------------------------------------------------------
# URLs, engines and errors
# ------------------------------------------------------------------------------------------

_SECRET_KEYS = re.compile(r"pass|secret|token|key", re.I)


def safe_url(url: URL) -> str:
    """The URL as text with the password (and password-like query values) hidden."""
    query = {k: ("***" if _SECRET_KEYS.search(k) else v) for k, v in url.query.items()}
    return url.set(query=query).render_as_string(hide_password=True)


def with_password(url: URL) -> URL:
    """``url`` with the password of :data:`PASSWORD_VARIABLE` when it has none."""
    password = os.environ.get(PASSWORD_VARIABLE)
    if url.password is None and password and url.get_backend_name() != "sqlite":
        return url.set(password=password)
    return url


def _scrub(text: str, url: URL | None) -> str:
    text = re.sub(r"\s+", " ", str(text)).strip()
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return text


def _detail(err: BaseException, url: URL) -> str:
    orig = getattr(err, "orig", None) or err
    return _scrub(str(orig), url) or type(orig).__name__


_AUTH = re.compile(r"password authentication failed|authentication failed|access denied|"
                   r"no pg_hba\.conf entry|role \S+ does not exist|no password supplied|"
                   r"password .*required", re.I)
_NO_DB = re.compile(r"database \S+ does not exist|unknown database|unable to open database",
                    re.I)


def _connect_error(err: BaseException, url: URL, source: str) -> SourceError:
    detail = _detail(err, url)
    where = url.host or url.database or "the database"
    if url.port:
        where = f"{where}:{url.port}"
    orig = getattr(err, "orig", None)
    args = getattr(orig, "args", None) or (None,)
    code = args[0] if isinstance(args[0], int) else None
    sqlstate = getattr(orig, "sqlstate", None)
    if code in (1044, 1045, 1698) or sqlstate in ("28000", "28P01") or _AUTH.search(detail):
        return SourceError(source, f"cannot connect to {where}: the login was refused "
                           f"(check user and password): {detail}")
    if code == 1049 or sqlstate == "3D000" or _NO_DB.search(detail):
        return SourceError(source, f"cannot connect to {where}: no such database: {detail}")
    return SourceUnavailable(source, f"cannot connect to {where}: {detail}")


def _engine(url: URL, source: str):
    backend = url.get_backend_name()
    connect_args: dict = {}
    creator = None
    if backend == "postgresql" and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    elif backend in ("mysql", "mariadb"):
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    elif backend == "sqlite":
        db = url.database
        if db and db != ":memory:" and not db.startswith("file:"):
            path = Path(db)
            if not path.is_file():
                raise SourceError(source, "no such database file" if not path.exists()
                                  else "not a database file")
            if url.get_driver_name() == "pysqlite" and not url.query:
                uri = path.resolve().as_uri() + "?mode=ro"  # reading never writes
                creator = lambda: sqlite3.connect(uri, uri=True)  # noqa: E731
    kw = {"poolclass": NullPool, "connect_args": connect_args}
    if creator is not None:
        kw["creator"] = creator
    try:
        engine = create_engine(url, **kw)
    except sa_exc.NoSuchModuleError:
        raise SourceError(source, f"unknown database type '{url.drivername}': use e.g. "
                          "postgresql+psycopg://, mysql+pymysql:// or sqlite:///") from None
    except ImportError as err:
        raise SourceError(source, f"the driver for '{url.drivername}' is not installed "
                          f"({_scrub(err, url)}): use postgresql+psycopg:// or "
                          "mysql+pymysql://") from None
    except (sa_exc.ArgumentError, TypeError, ValueError) as err:
        raise SourceError(source, f"not a usable database URL: {_scrub(err, url)}") from None
    if getattr(engine.dialect, "is_async", False):
        engine.dispose()
        raise SourceError(source, f"'{url.drivername}' is an asynchronous driver: use "
                          "postgresql+psycopg:// or mysql+pymysql://")
    return engine


def _since_param(since) -> dt.datetime | None:
    if since is None:
        return None
    if isinstance(since, str):
        since = dt.datetime.fromisoformat(since)
    if not isinstance(since, dt.datetime):  # a date: from its start
        since = dt.datetime.combine(since, dt.time())
    if since.tzinfo is not None:
        since = since.astimezone().replace(tzinfo=None)
    return since


# ------------------------------------------------------------------------------------------
# The source
# ------------------------------------------------------------------------------------------


def read(location: str, since: dt.datetime | None = None, recheck=(),
         recheck_statuses=()) -> Extract:
    """The source's :func:`~flows.sources.openolat_db.read`, with SQLAlchemy."""
    try:
        url = make_url(str(location))
    except (sa_exc.ArgumentError, ValueError, TypeError):
        # the parser's message repeats the whole URL, password included: not shown
        raise SourceError(_redact_text(str(location)), "not a database URL; expected e.g. "
                          "postgresql+psycopg://user@host:5432/openolat") from None
    shown = safe_url(url)
    source = f"{shown} {ORDER_TABLE}"
    url = with_password(url)
    engine = _engine(url, shown)
    try:
        try:
            conn = engine.connect()
        except sa_exc.DBAPIError as err:
            raise _connect_error(err, url, shown) from None
        except (OSError, sa_exc.SQLAlchemyError) as err:
            raise SourceUnavailable(shown, f"cannot connect: {_detail(err, url)}") from None
        with conn:
            try:
                present = {t.lower() for t in inspect(conn).get_table_names()}
                missing = [t for t in TABLES if t not in present]
                if ORDER_TABLE in missing:
                    raise SourceError(shown, f"the database has no table {ORDER_TABLE}: is this "
                                      "an OpenOlat database?")
                if missing:
                    raise SourceError(shown, f"the database has no table {', '.join(missing)}: "
                                      "is this an OpenOlat 20 database with booking orders?")
                stmt = booking_orders_query(_since_param(since), recheck, recheck_statuses)
                rows = conn.execute(stmt).mappings().all()
                left_out = conn.execute(left_out_query()).scalar() or 0
            except sa_exc.DBAPIError as err:
                if err.connection_invalidated:
                    raise SourceUnavailable(shown, "lost the connection while reading: "
                                            f"{_detail(err, url)}") from None
                raise SourceError(shown, "the booking-order query failed (OpenOlat 20.x "
                                  f"expected): {_detail(err, url)}") from None
            except _FloatAmount as err:
                raise SourceError(shown, f"an amount is stored as a binary float ({err}); "
                                  "amounts must be exact decimals") from None
            except _BadAmount as err:
                raise SourceError(shown, f"an amount is not a number: {err}") from None
    finally:
        engine.dispose()
    frame = _frame(rows, source)
    return Extract(frame, source, checksum(frame), len(frame),
                   notes=population_notes(rows, int(left_out)))
