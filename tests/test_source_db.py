"""The OpenOlat database source (flows/sources/openolat_db.py) on SQLite, PostgreSQL and MariaDB.

Each server test creates a fresh, uniquely named database, loads sample_data/booking_orders.csv
into OpenOlat's tables with sample_data/load_openolat_db.py and drops the database afterwards.
A server that cannot be reached skips its tests, unless ``CI`` is set or
``BILLING_REQUIRE_DB_SERVERS=1``: then they fail, so CI proves they ran. Server URLs:
``BILLING_TEST_PG_URL`` / ``BILLING_TEST_MARIADB_URL`` (without a database name).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import sqlite3
import sys
import uuid
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from conftest import SAMPLE, SAMPLE_ORDERS
from flows import stages
from flows.sources import csv_file, openolat_db, openolat_db_reader
from flows.sources.base import SourceError
from flows.sources.openolat_db import SourceUnavailable
from schemas.booking_order import INVOICE_METHODS
from transforms.parse import parse_booking_orders


def _import_loader():
    spec = importlib.util.spec_from_file_location("load_openolat_db",
                                                  SAMPLE / "load_openolat_db.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


loader = _import_loader()
T = loader.T  # the OpenOlat tables (sample_data/openolat_schema/tables.py)

REQUIRE_SERVERS = bool(os.environ.get("CI")) or os.environ.get("BILLING_REQUIRE_DB_SERVERS") == "1"
SERVERS = {
    "postgresql": os.environ.get("BILLING_TEST_PG_URL",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432"),
    "mariadb": os.environ.get("BILLING_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306"),
}
# the CSV rows that cannot be, or are not, invoice orders in the database; the card orders
# share their offers with invoice orders: two-method offers, each order paid its own way
CSV = csv_file.read(str(SAMPLE_ORDERS)).frame
CREDIT_CARD = set(CSV.loc[CSV["payment_method"] == "Kreditkarte", "booking_number"])
NO_ORDER_DATE = set(CSV.loc[CSV["order_date"].str.strip() == "", "booking_number"])
DECIMAL_COMMA = set(CSV.loc[CSV["price"].str.contains(",", regex=False), "booking_number"])
ELEMENT_STATUS = {"Provisorisch": "provisional", "Bestätigt": "confirmed", "Aktiv": "active",
                  "Beendet": "finished"}


def _server_reachable(kind: str):
    url = make_url(SERVERS[kind])
    maintenance = url._replace(database="postgres" if kind == "postgresql" else None)
    engine = create_engine(maintenance, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:  # noqa: BLE001 - any failure means: not usable here
        reason = (f"{kind} server not reachable at "
                  f"{url.render_as_string(hide_password=True)}: {str(err).splitlines()[0]}")
        if REQUIRE_SERVERS:
            pytest.fail(f"{reason} (CI / BILLING_REQUIRE_DB_SERVERS=1 require it)")
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('openolat') / 'openolat.db'}"
    report = loader.load(url)
    assert report.orders == 239 and len(report.skipped) == 1
    return url


def _server_db(kind):
    server = _server_reachable(kind)
    url = server.set(database=f"billing_test_{uuid.uuid4().hex[:12]}")
    text_url = url.render_as_string(hide_password=False)
    loader.create_database(text_url)
    try:
        loader.load(text_url)
        yield text_url
    finally:
        loader.drop_database(text_url)


@pytest.fixture(scope="module")
def postgresql_url():
    yield from _server_db("postgresql")


@pytest.fixture(scope="module")
def mariadb_url():
    yield from _server_db("mariadb")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request):
    return request.getfixturevalue(f"{request.param}_url")


def _engine(url):
    return create_engine(url, poolclass=NullPool)


# ------------------------------------------------------------------------------------------
# Same frame everywhere
# ------------------------------------------------------------------------------------------


def test_sqlite_extract_is_the_csv_text_frame(sqlite_url):
    ex = openolat_db.read(sqlite_url)
    f = ex.frame
    assert ex.rows == len(f) == 240 - len(NO_ORDER_DATE) == 239 and len(CREDIT_CARD) == 3
    assert set(f.columns) - {"orderer_institutional_id"} <= set(CSV.columns)
    assert (f.dtypes.drop("source_row") == "str").all() and f["source_row"].dtype == "int64"
    assert f["source_row"].tolist() == list(range(1, 240))
    assert f["booking_number"].astype(int).is_monotonic_increasing
    assert f["source"].unique().tolist() == [ex.name] and ex.name.endswith(" o_ac_order")
    row = f.set_index("booking_number").loc["104212"]
    assert row["price"] == "EUR\u00a0531.00" and row["order_date"] == "2020-06-08"
    assert row["booking_status"] == "PREPAYMENT" and row["payment_method"] == "invoice.method"
    assert row["service_begin"] == "2020-09-14" and row["implementation_status"] == "finished"
    assert f["price"].str.match(r"^(CHF|EUR|USD|JPY)\u00a0\d+(\.\d\d)?$").all()
    assert f.loc[f["price"].str.startswith("JPY"), "price"].str.match(r"^JPY\u00a0\d+$").all()
    fees = f.loc[f["cancellation_fee"] != "", "cancellation_fee"]
    assert len(fees) > 0 and fees.str.match(r"^[A-Z]{3}\u00a0\d+(\.\d+)?$").all()
    assert openolat_db.read(sqlite_url).checksum == ex.checksum  # deterministic


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_servers_extract_the_same_frame_cell_for_cell(kind, sqlite_url, request):
    url = request.getfixturevalue(f"{kind}_url")
    base, other = openolat_db.read(sqlite_url), openolat_db.read(url)
    assert "s3cret" not in other.name and other.name.startswith(make_url(url).drivername)
    cols = [c for c in base.frame.columns if c != "source"]
    pd.testing.assert_frame_equal(other.frame[cols], base.frame[cols])
    assert other.checksum == base.checksum  # the location is not part of the checksum


def test_parsed_extract_matches_the_parsed_csv(db_url):
    db, db_problems = parse_booking_orders(openolat_db.read(db_url).frame)
    csv, _ = parse_booking_orders(CSV)
    assert db_problems.empty  # the database cannot hold the CSV's bad amount or empty date
    db, csv = db.set_index("booking_number"), csv.set_index("booking_number")
    assert set(db.index) == set(CSV["booking_number"]) - NO_ORDER_DATE
    common = db.index.intersection(csv.index)
    assert set(db.index) - set(common) == DECIMAL_COMMA  # loaded as 1250.00, a good row
    assert db.loc[list(DECIMAL_COMMA), "price"].tolist() == [125000]
    skip = {"source", "source_row", "payment_method", "implementation_status"}
    fields = [c for c in csv.columns if c not in skip]
    assert {"price", "price_currency", "cancellation_fee", "booking_status", "order_date",
            "service_begin", "country_code", "billing_address_id", "zip"} <= set(fields)
    pd.testing.assert_frame_equal(db.loc[common, fields], csv.loc[common, fields])
    card = db.index.isin(list(CREDIT_CARD))
    assert db.loc[~card, "payment_method"].str.lower().isin(INVOICE_METHODS).all()
    assert (db.loc[card, "payment_method"] == "checkout.method").all() and card.sum() == 3
    assert (db.loc[common, "implementation_status"]
            == csv.loc[common, "implementation_status"].map(ELEMENT_STATUS)).all()


# ------------------------------------------------------------------------------------------
# Selection: the order's own payment method, incremental reads
# ------------------------------------------------------------------------------------------


def test_orders_paid_otherwise_on_two_method_offers_are_read_as_not_invoice(db_url):
    """The sample's card orders sit on offers that offer invoice and PayPal Checkout; the
    transaction, not the offer, says how each was paid."""
    o, line, acc, m, trx = (T.o_ac_order, T.o_ac_order_line, T.o_ac_offer_access, T.o_ac_method,
                            T.o_ac_transaction)
    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            stored = {str(n) for n in conn.execute(select(o.c.order_id)).scalars()}
            methods = set(conn.execute(select(m.c.access_method)).scalars())
            card_offers = set(conn.execute(select(line.c.fk_offer_id).where(
                line.c.fk_order_part_id.in_([int(n) for n in CREDIT_CARD]))).scalars())
            offer_methods = set(conn.execute(
                select(m.c.access_method).join(acc, acc.c.fk_method_id == m.c.method_id)
                .where(acc.c.fk_offer_id.in_(card_offers))).scalars())
            invoice_on_card_offers = conn.execute(select(func.count()).select_from(
                line.join(trx, trx.c.fk_order_part_id == line.c.fk_order_part_id)
                .join(m, m.c.method_id == trx.c.fk_method_id))
                .where(line.c.fk_offer_id.in_(card_offers),
                       m.c.access_method == "invoice.method")).scalar()
    finally:
        engine.dispose()
    assert CREDIT_CARD <= stored and methods == {"invoice.method", "checkout.method"}
    assert offer_methods == methods and invoice_on_card_offers > 0  # paid both ways
    f = openolat_db.read(db_url).frame.set_index("booking_number")
    assert set(f.index) == stored
    assert (f.loc[sorted(CREDIT_CARD), "payment_method"] == "checkout.method").all()
    others = f.drop(index=sorted(CREDIT_CARD))
    assert (others["payment_method"] == "invoice.method").all()


def _add_order(conn, order_id, offer_id, method_id, identity, address, created, status="PAYED",
               price=Decimal("100.00")):
    """One booking order as OpenOlat writes it: ``ACOrderDAO.createOrder`` (creationdate =
    lastmodified = now, the orderer), one part and one line at pos 0 with the offer's price
    (``addOrderPart``, ``addOrderLine``), and — unless ``method_id`` is None — the payment's
    ``ACTransactionDAO.createTransaction(order, part, method)``."""
    conn.execute(T.o_ac_order.insert().values(
        order_id=order_id, version=0, creationdate=created, lastmodified=created, is_valid=True,
        total_lines_amount=price, total_lines_currency_code="CHF", total_amount=price,
        total_currency_code="CHF", order_status=status, fk_delivery_id=identity,
        fk_billing_address=address))
    conn.execute(T.o_ac_order_part.insert().values(
        order_part_id=order_id, version=0, pos=0, creationdate=created, total_lines_amount=price,
        total_lines_currency_code="CHF", total_amount=price, total_currency_code="CHF",
        fk_order_id=order_id))
    conn.execute(T.o_ac_order_line.insert().values(
        order_item_id=order_id, version=0, pos=0, creationdate=created, unit_price_amount=price,
        unit_price_currency_code="CHF", total_amount=price, total_currency_code="CHF",
        fk_order_part_id=order_id, fk_offer_id=offer_id))
    if method_id is not None:
        conn.execute(T.o_ac_transaction.insert().values(
            transaction_id=order_id, version=0, creationdate=created, trx_status="SUCCESS",
            amount_amount=price, amount_currency_code="CHF", fk_order_part_id=order_id,
            fk_order_id=order_id, fk_method_id=method_id))


def test_payment_method_is_the_transactions_and_the_offer_only_without_one(db_url):
    """A PayPal-only offer's order is not read but counted; an order of an invoice offer
    without a transaction is an invoice order; a transaction whose method is unknown is
    never taken for an invoice."""
    o, line, acc, m = T.o_ac_order, T.o_ac_order_line, T.o_ac_offer_access, T.o_ac_method
    engine = _engine(db_url)
    ids = [990001, 990002, 990003]
    try:
        with engine.begin() as conn:
            first = conn.execute(select(o.c.order_id, o.c.fk_delivery_id, o.c.fk_billing_address,
                                        line.c.fk_offer_id)
                                 .join(line, line.c.fk_order_part_id == o.c.order_id)
                                 .order_by(o.c.order_id).limit(1)).one()
            offer = conn.execute(select(T.o_ac_offer).where(
                T.o_ac_offer.c.offer_id == first.fk_offer_id)).mappings().one()
            invoice = conn.execute(select(m.c.method_id).where(
                m.c.access_method == "invoice.method")).scalar()
            conn.execute(m.insert().values(method_id=90, access_method="paypal.method", version=0,
                                           is_valid=True, is_enabled=True))
            conn.execute(T.o_ac_offer.insert().values(
                {**offer, "offer_id": 9901, "offer_label": "PayPal only"}))
            conn.execute(acc.insert().values(offer_method_id=9901, version=0, is_valid=True,
                                             fk_offer_id=9901, fk_method_id=90))
            when = dt.datetime(2026, 10, 2, 9, 30)
            args = (first.fk_delivery_id, first.fk_billing_address, when)
            _add_order(conn, ids[0], 9901, 90, *args)  # PayPal-only offer, paid by PayPal
            _add_order(conn, ids[1], first.fk_offer_id, None, *args)  # no transaction
            _add_order(conn, ids[2], first.fk_offer_id, 12345, *args)  # no such method
        ex = openolat_db.read(db_url)
        f = ex.frame.set_index("booking_number")
        assert str(ids[0]) not in f.index
        assert ex.notes == ("1 booking orders of offers without the invoice method, paid "
                            "otherwise, not read (OpenOlat's export lists them)",)
        assert f.loc[str(ids[1]), "payment_method"] == "invoice.method"
        assert f.loc[str(ids[2]), "payment_method"] == f"unknown method (transaction {ids[2]})"
        parsed, _ = parse_booking_orders(ex.frame)
        assert not parsed.loc[parsed["booking_number"] == str(ids[2]), "payment_method"] \
            .str.lower().isin(INVOICE_METHODS).any()
        assert invoice is not None
    finally:
        with engine.begin() as conn:
            for t, col in ((T.o_ac_transaction, "fk_order_id"), (T.o_ac_order_line,
                           "fk_order_part_id"), (T.o_ac_order_part, "fk_order_id"),
                           (T.o_ac_order, "order_id")):
                conn.execute(t.delete().where(t.c[col].in_(ids)))
            conn.execute(acc.delete().where(acc.c.offer_method_id == 9901))
            conn.execute(T.o_ac_offer.delete().where(T.o_ac_offer.c.offer_id == 9901))
            conn.execute(m.delete().where(m.c.method_id == 90))
        engine.dispose()


def test_orderer_is_the_nickname_and_the_institutional_identifier(sqlite_url):
    """"Benutzername" is ``o_user.u_nickname`` (the login ``o_bs_identity.name`` is not shown
    in OpenOlat's export); the institutional identifier goes to the field the export's
    "Institutionsnummer (Matrikelnummer)" maps to."""
    o, ident, usr = T.o_ac_order, T.o_bs_identity, T.o_user
    engine = _engine(sqlite_url)
    try:
        with engine.connect() as conn:
            order_id, login, nick, user_id, inst = conn.execute(
                select(o.c.order_id, ident.c.name, usr.c.u_nickname, usr.c.user_id,
                       usr.c.u_institutionaluseridentifier)
                .join(ident, ident.c.id == o.c.fk_delivery_id)
                .join(usr, usr.c.fk_identity == ident.c.id)
                .order_by(o.c.order_id).limit(1)).one()
        with engine.begin() as conn:
            conn.execute(update(usr).where(usr.c.user_id == user_id)
                         .values(u_institutionaluseridentifier="S-4711"))
        try:
            row = openolat_db.read(sqlite_url).frame.set_index("booking_number") \
                .loc[str(order_id)]
        finally:
            with engine.begin() as conn:
                conn.execute(update(usr).where(usr.c.user_id == user_id)
                             .values(u_institutionaluseridentifier=inst))
    finally:
        engine.dispose()
    assert login != nick
    assert row["orderer_username"] == nick and row["orderer_institutional_id"] == "S-4711"
    assert row["orderer_username"] == CSV.set_index("booking_number").loc[
        str(order_id), "orderer_username"]


def test_orders_the_export_leaves_out_are_read_and_counted(sqlite_url):
    """OpenOlat's export shows only orders with a billing address, a curriculum element with
    an organisation and an orderer user; the source reads the others too (validation reports
    what is missing) and says how many there are."""
    o = T.o_ac_order
    engine = _engine(sqlite_url)
    try:
        with engine.connect() as conn:
            target, address = conn.execute(select(o.c.order_id, o.c.fk_billing_address)
                                           .order_by(o.c.order_id).limit(1)).one()
        with engine.begin() as conn:
            conn.execute(update(o).where(o.c.order_id == target).values(fk_billing_address=None))
        try:
            ex = openolat_db.read(sqlite_url)
        finally:
            with engine.begin() as conn:
                conn.execute(update(o).where(o.c.order_id == target)
                             .values(fk_billing_address=address))
    finally:
        engine.dispose()
    assert ex.rows == 239 and ex.notes == (
        "1 booking orders read without a billing address, which OpenOlat's export leaves out",)
    _, problems = stages.validate(ex)
    mine = problems.loc[problems["booking_number"] == str(target)]
    assert mine[["column", "reason"]].values.tolist() == [["billing_address_id", "REQUIRED"]]
    assert openolat_db.read(sqlite_url).notes == ()


@pytest.mark.parametrize("junk", ["", "31.02.2026", "kein Datum", 0, 3.5, b"\x00"])
def test_a_junk_date_in_sqlite_is_read_and_its_rows_rejected_with_the_cell_named(
        tmp_path, junk):
    """SQLite keeps any value in a date column; SQLAlchemy's own conversion raised on a text
    that is not ISO (found by tests/test_source_junk.py), which stopped the whole read. The
    cell's text is read instead, and only the rows of that course are rejected, naming it."""
    path = tmp_path / "openolat.db"
    loader.load(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        element = conn.execute("SELECT min(id) FROM o_cur_curriculum_element").fetchone()[0]
        conn.execute("UPDATE o_cur_curriculum_element SET c_begin = ? WHERE id = ?",
                     (junk, element))
    ex = openolat_db.read(f"sqlite:///{path}")
    assert ex.rows == 239
    hit = ex.frame.loc[ex.frame["service_begin"] == str(junk), "booking_number"]
    assert 0 < len(hit) < 239
    _, problems = stages.validate(ex)
    mine = problems.loc[problems["booking_number"].isin(hit)]
    if junk == "":  # an empty text is no date, as NULL is: not a reason to reject
        assert "service_begin" not in set(mine["column"])
    else:
        assert set(mine["booking_number"]) == set(hit)
        assert set(mine["column"]) == {"service_begin"}
    good = ex.frame.loc[~ex.frame["booking_number"].isin(hit), "service_begin"]
    assert good.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()  # the others as before


def test_since_reads_only_new_or_modified_orders(db_url):
    o = T.o_ac_order
    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            latest = conn.execute(select(func.max(o.c.lastmodified))).scalar()
            target, old_modified, created = conn.execute(
                select(o.c.order_id, o.c.lastmodified, o.c.creationdate)
                .order_by(o.c.order_id).limit(1)).one()  # the oldest order
            middle = dt.datetime(2026, 10, 1, 12, 0)
            expected_middle = {str(n) for n, c, m in conn.execute(
                select(o.c.order_id, o.c.creationdate, o.c.lastmodified))
                if c > middle or m > middle}
        assert openolat_db.read(db_url, since=latest).rows == 0
        got = set(openolat_db.read(db_url, since=middle).frame["booking_number"])
        assert got == expected_middle and 0 < len(got) < 239
        with engine.begin() as conn:
            conn.execute(update(o).where(o.c.order_id == target)
                         .values(lastmodified=latest + dt.timedelta(hours=1)))
        try:
            ex = openolat_db.read(db_url, since=latest)
            assert ex.frame["booking_number"].tolist() == [str(target)]
            assert ex.frame["source_row"].tolist() == [1]
            assert ex.frame.loc[0, "order_date"] == created.date().isoformat()  # not lastmodified
            assert stages.extract(db_url, since=latest).frame.equals(ex.frame)  # the job's dispatch
        finally:
            with engine.begin() as conn:
                conn.execute(update(o).where(o.c.order_id == target)
                             .values(lastmodified=old_modified))
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------
# Exact amounts
# ------------------------------------------------------------------------------------------


def test_amount_text_is_exact():
    at = openolat_db_reader.amount_text
    assert at(Decimal("531.0000"), "EUR") == "EUR\u00a0531.00"
    assert at(Decimal("1250"), "CHF") == "CHF\u00a01250.00"
    assert at(Decimal("150000.0000"), "JPY") == "JPY\u00a0150000"
    assert at(Decimal("12.3456"), "CHF") == "CHF\u00a012.3456"  # never rounded away
    assert at(Decimal("0.1") + Decimal("0.2"), "CHF") == "CHF\u00a00.30"
    assert at(Decimal("123456789012345678901234567890.01"), "USD") == \
        "USD\u00a0123456789012345678901234567890.01"
    assert at(Decimal("5.5"), "XTS") == "XTS\u00a05.50" and at(Decimal("7"), None) == "7.00"
    assert at(None, "CHF") == ""


def test_sub_cent_amount_survives_every_dialect(db_url):
    o = T.o_ac_order
    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            target, old = conn.execute(select(o.c.order_id, o.c.total_amount)
                                       .order_by(o.c.order_id.desc()).limit(1)).one()
        assert isinstance(old, Decimal)
        with engine.begin() as conn:
            conn.execute(update(o).where(o.c.order_id == target)
                         .values(total_amount=Decimal("1234.5678")))
        try:
            f = openolat_db.read(db_url).frame.set_index("booking_number")
            assert f.loc[str(target), "price"].endswith("\u00a01234.5678")
            _, problems = parse_booking_orders(f.reset_index())
            assert problems.loc[problems["column"] == "price", "reason"].tolist() == \
                ["TOO_MANY_DECIMALS"]
        finally:
            with engine.begin() as conn:
                conn.execute(update(o).where(o.c.order_id == target).values(total_amount=old))
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["postgresql+psycopg://u:s3cret@127.0.0.1:1/x",
                                 "mysql+pymysql://u:s3cret@127.0.0.1:1/x"])
def test_down_server_is_transient_and_hides_the_password(url):
    with pytest.raises(SourceUnavailable) as info:
        openolat_db.read(url)
    msg = str(info.value)
    assert "s3cret" not in msg and "s3cret" not in repr(info.value.args)
    assert "***" in msg and "cannot connect to 127.0.0.1:1" in msg


@pytest.mark.db  # reaches the MariaDB server by name, no fixture shows it
def test_refused_login_is_not_transient():
    server = _server_reachable("mariadb")
    url = server.set(username="billing_nobody", password="s3cret", database="mysql")
    with pytest.raises(SourceError) as info:
        openolat_db.read(url.render_as_string(hide_password=False))
    assert not isinstance(info.value, SourceUnavailable)
    assert "login was refused" in str(info.value) and "s3cret" not in str(info.value)


def test_database_without_openolat_tables(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table customers (id integer)")
    with pytest.raises(SourceError) as info:
        openolat_db.read(f"sqlite:///{path}")
    assert not isinstance(info.value, SourceUnavailable)
    assert "has no table o_ac_order: is this an OpenOlat database?" in str(info.value)


def test_missing_sqlite_file_is_not_created(tmp_path):
    path = tmp_path / "nothing.db"
    with pytest.raises(SourceError, match="no such database file"):
        openolat_db.read(f"sqlite:///{path}")
    assert not path.exists()


@pytest.mark.parametrize("url, words", [
    ("nosuchdb://u:s3cret@host/x", "unknown database type"),
    ("postgresql+psycopg2://u:s3cret@127.0.0.1/x", "not installed"),
    ("postgresql+asyncpg://u:s3cret@127.0.0.1/x", "asynchronous"),
])
def test_unknown_dialect_or_driver(url, words):
    with pytest.raises(SourceError) as info:
        openolat_db.read(url)
    assert not isinstance(info.value, SourceUnavailable)
    assert words in str(info.value) and "s3cret" not in str(info.value)


# ------------------------------------------------------------------------------------------
# End to end
# ------------------------------------------------------------------------------------------


def test_run_from_database_delivers_a_reconciled_workbook(run, sqlite_url):
    result = run(source=sqlite_url)
    manifest = result.rendered.manifest
    assert result.rows_read == manifest["rows_read"] == 239
    assert manifest["rows_read"] == (manifest["rows_billed"] + manifest["rows_rejected"]
                                     + manifest["rows_not_billable"]
                                     + manifest["rows_already_billed"])
    assert manifest["invoices"] > 0 and manifest["rows_billed"] > 200
    assert result.source.endswith(" o_ac_order")
    assert result.delivery.workbook.is_file() and result.delivery.workbook.suffix == ".xlsx"
    delivered = json.loads(result.delivery.manifest.read_text(encoding="utf-8"))
    assert delivered["rows_read"] == 239 and delivered["run"] == result.run_id
    not_invoice = result.billing.problems.loc[
        result.billing.problems["reason"] == "NOT_INVOICE_METHOD"]
    assert set(not_invoice["booking_number"]) == CREDIT_CARD  # counted, not billed
    assert not set(result.billing.lines["booking_number"]) & CREDIT_CARD


# ------------------------------------------------------------------------------------------
# Incremental runs: edits that leave lastmodified as it was
# ------------------------------------------------------------------------------------------


def test_since_with_recheck_reads_a_silently_edited_order(db_url):
    """OpenOlat's price edit (PriceEditController → acService.updateOrder → DBImpl.updateObject)
    leaves ``lastmodified``: ``since`` alone misses the order, ``recheck`` reads it."""
    o = T.o_ac_order
    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            latest = conn.execute(select(func.max(o.c.lastmodified))).scalar()
            target, old = conn.execute(select(o.c.order_id, o.c.total_amount)
                                       .order_by(o.c.order_id).limit(1)).one()
        with engine.begin() as conn:
            conn.execute(update(o).where(o.c.order_id == target)
                         .values(total_amount=old + Decimal("10")))
        try:
            assert openolat_db.read(db_url, since=latest).rows == 0
            ex = openolat_db.read(db_url, since=latest, recheck=(str(target), "not-a-number"))
            assert ex.frame["booking_number"].tolist() == [str(target)]
            assert ex.frame.loc[0, "price"].endswith(f"\u00a0{old + Decimal('10'):.2f}")
            assert openolat_db.read(db_url, recheck=(str(target),)).rows == 239  # no since: all
        finally:
            with engine.begin() as conn:
                conn.execute(update(o).where(o.c.order_id == target).values(total_amount=old))
    finally:
        engine.dispose()


def test_incremental_final_run_credits_and_reinvoices_a_silent_price_edit(prefect_harness,
                                                                         tmp_path):
    """Two incremental final runs of the flow; between them the price of a billed order is
    changed the way OpenOlat's edit writes it (``UPDATE`` of ``total_amount`` only,
    ``lastmodified`` untouched): the second run credits its invoice and bills it again."""
    from conftest import INVOICE_DATE
    from flows import state_store
    from flows.billing_run import billing_run

    url = f"sqlite:///{tmp_path / 'openolat.db'}"
    loader.load(url)
    state = str(tmp_path / "state.sqlite")
    args = dict(source=url, config=str(SAMPLE), outbox=str(tmp_path / "outbox"), state=state,
                invoice_date=INVOICE_DATE, draft=False, advanced={"incremental": True},
                return_state=True)
    first = billing_run(**args)
    assert first.is_completed(), first.message
    assert first.result()["rows_read"] == 239 and first.result()["credit_notes"] == 0

    store = state_store.open_store(state)
    with store.connect() as conn:
        code = state_store.runs(conn, "final")[0]["financial_company"]
        billed = state_store.active_billed(conn, code)
        read_at = state_store.last_read_at(conn, code, stages.public_location(url))
    price = billed.loc[billed["charge_type"] == "price"].sort_values("booking_number").iloc[0]
    target, old_invoice = int(price["booking_number"]), price["invoice_number"]
    o = T.o_ac_order
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            before = conn.execute(select(o.c.lastmodified, o.c.total_amount)
                                  .where(o.c.order_id == target)).one()
            conn.execute(update(o).where(o.c.order_id == target)
                         .values(total_amount=before.total_amount + Decimal("10")))
            after = conn.execute(select(o.c.lastmodified).where(o.c.order_id == target)).scalar()
    finally:
        engine.dispose()
    assert after == before.lastmodified
    # a cancelled order without a fee gets one (CancellationFeeEditController), silently too
    cancelled = 187837
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            row = conn.execute(select(o.c.order_status, o.c.cancellation_fee_amount,
                                      o.c.total_currency_code, o.c.lastmodified)
                               .where(o.c.order_id == cancelled)).one()
            conn.execute(update(o).where(o.c.order_id == cancelled).values(
                cancellation_fee_amount=Decimal("50.00"),
                cancellation_fee_currency_code=row.total_currency_code))
    finally:
        engine.dispose()
    assert row.order_status == "CANCELED" and row.cancellation_fee_amount is None
    assert str(cancelled) not in set(billed["booking_number"])
    plain = set(openolat_db.read(url, since=read_at).frame["booking_number"])
    assert not {str(target), str(cancelled)} & plain  # lastmodified alone would miss both

    second = billing_run(**args)
    assert second.is_completed(), second.message
    summary = second.result()
    assert summary["credit_notes"] == 1 and summary["invoices"] >= 1
    statuses = set(openolat_db.read(url, recheck_statuses=("CANCELED",)).frame.loc[
        lambda f: f["booking_status"] == "CANCELED", "booking_number"])
    assert summary["rows_read"] == len(plain | set(billed["booking_number"]) | statuses)
    assert summary["rows_read"] == (summary["rows_billed"] + summary["rows_rejected"]
                                    + summary["rows_not_billable"]
                                    + summary["rows_already_billed"])
    with store.connect() as conn:
        now = state_store.active_billed(conn, code).set_index("booking_number")
        status = conn.execute(text("SELECT status FROM invoices WHERE financial_company = :c "
                                   "AND invoice_number = :n"),
                              {"c": code, "n": old_invoice}).scalar()
    assert status == "credited"
    assert now.loc[str(target), "invoice_number"] != old_invoice
    from transforms.minor_units import EXPONENTS
    ten = 10 * 10 ** EXPONENTS[price["currency"]]  # 10 in minor units
    assert now.loc[str(target), "amount"] == price["amount"] + ten
    assert now.loc[str(cancelled), ["charge_type", "amount"]].tolist() == ["fee", 5000]


def test_incremental_window_starts_at_the_earlier_of_read_time_and_cutoff(tmp_path):
    """Orders created after the last run's cutoff were left for a later run: the next read
    starts at the end of the cutoff day when that is earlier than the read time."""
    from flows import incremental, state_store

    store = state_store.open_store(str(tmp_path / "state.sqlite"))
    assert incremental.window(store, ["100"], "sqlite:///x.db") == (None, (), ())
    read_at = dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.timezone.utc)
    with store.connect() as conn:
        for rid, loc, status in (("R1", "sqlite:///x.db", "delivered"),
                                 ("R2", "sqlite:///other.db", "delivered"),
                                 ("R3", "sqlite:///x.db", "pending")):
            state_store.record_run(conn, rid, "100", "final", status, "2026-10-31", {
                "location": loc, "read_at": read_at.isoformat(), "cutoff_date": "2026-10-31"})
        state_store.record_billed(conn, "100", "R1", pd.DataFrame({
            "booking_number": ["104212", "99"], "invoice_number": ["RE-1", "RE-1"],
            "content_hash": ["h", "h"], "charge_type": ["price", "fee"], "amount": [100, 5],
            "currency": ["CHF", "CHF"], "booking_row": ["{}", "{}"]}))
    since, recheck, statuses = incremental.window(store, ["100"], "sqlite:///x.db")
    assert since == dt.datetime(2026, 10, 31, 23, 59, 59, 999999)  # before 2 Nov (local)
    assert recheck == ("104212", "99") and statuses == ("CANCELED",)
    assert incremental.window(store, ["100", "200"], "sqlite:///x.db") == (None, (), ())
    with store.connect() as conn:
        state_store.record_run(conn, "R4", "100", "final", "delivered", "2026-12-31", {
            "location": "sqlite:///x.db", "read_at": "2026-12-01T10:00:00+00:00",
            "cutoff_date": "2027-01-31"})
    since, _, _ = incremental.window(store, ["100"], "sqlite:///x.db")
    local = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc).astimezone()
    assert since == local.replace(tzinfo=None)  # the read time, earlier than that cutoff
