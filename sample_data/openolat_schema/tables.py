"""The OpenOlat 20.x tables that billing-export reads, as SQLAlchemy Core ``Table`` objects.

Only the tables and columns the booking-order query touches (shared/openolat-booking-orders.md
§2, plus ``o_re_educational_type``: the implementation format, "Durchführungsformat", which
OpenOlat's export reads through ``o_cur_curriculum_element.fk_educational_type``, and
``o_ac_transaction``: how an order was paid, one row per payment, as
``ACTransactionDAO.createTransaction(order, part, method)`` writes it), with
OpenOlat's column names, so one definition creates the same schema on PostgreSQL,
MariaDB/MySQL and SQLite. The generated ``postgresql.sql``, ``mysql.sql`` and ``sqlite.sql``
next to this file are for people to read; ``load_openolat_db.py --ddl`` rewrites them.

Amounts follow OpenOlat: ``numeric`` without scale on PostgreSQL, ``decimal(12,4)`` on
MariaDB/MySQL. The NOT NULL keys are OpenOlat's (``setupDatabase.sql``):
``o_cur_curriculum.fk_group``, ``o_cur_curriculum_element.fk_group`` and ``fk_curriculum``
(the groups themselves, ``o_bs_group``, are not read, so not created). SQLite has no exact decimal type, so amounts are stored as TEXT there and come
back as :class:`decimal.Decimal` (never through a float).

>>> sorted(metadata.tables)[:3]
['o_ac_billing_address', 'o_ac_cost_center', 'o_ac_method']
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Integer, MetaData, Numeric,
                        String, Table, Text)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator


class Amount(TypeDecorator):
    """OpenOlat's money columns: exact on every dialect."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DECIMAL(12, 4, asdecimal=True))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("amounts are Decimal or text, never float")
        value = Decimal(value)
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None or isinstance(value, Decimal):
            return value
        if isinstance(value, float):
            raise TypeError("an amount came back as a float")
        return Decimal(str(value))


def _id(name: str = "id") -> Column:
    return Column(name, BigInteger, primary_key=True, autoincrement=False)


def _fk(name: str) -> Column:
    return Column(name, BigInteger)


metadata = MetaData()


def _table(name: str, *columns: Column) -> Table:
    # MariaDB/MySQL: InnoDB and 4-byte UTF-8 whatever the server's defaults are
    return Table(name, metadata, *columns, mysql_engine="InnoDB",
                 mysql_default_charset="utf8mb4", mysql_collate="utf8mb4_unicode_ci")

o_org_organisation = _table(
    "o_org_organisation",
    _id(),
    Column("creationdate", DateTime, nullable=False),
    Column("lastmodified", DateTime, nullable=False),
    Column("o_identifier", String(64)),
    Column("o_displayname", String(255), nullable=False),
)

o_olatresource = _table(
    "o_olatresource",
    _id("resource_id"),
    Column("version", Integer, nullable=False),
    Column("creationdate", DateTime),
    Column("resname", String(50), nullable=False),
    Column("resid", BigInteger, nullable=False),
)

o_bs_identity = _table(
    "o_bs_identity",
    _id(),
    Column("version", Integer, nullable=False),
    Column("creationdate", DateTime),
    Column("lastlogin", DateTime),
    Column("name", String(128), nullable=False, unique=True),
    Column("external_id", String(64)),
    Column("status", Integer),
)

o_user = _table(
    "o_user",
    _id("user_id"),
    Column("version", Integer, nullable=False),
    Column("creationdate", DateTime),
    Column("u_firstname", String(255)),
    Column("u_lastname", String(255)),
    Column("u_email", String(255)),
    Column("u_nickname", String(255)),
    Column("u_institutionaluseridentifier", String(255)),
    _fk("fk_identity"),
)

o_cur_element_type = _table(
    "o_cur_element_type",
    _id(),
    Column("creationdate", DateTime, nullable=False),
    Column("lastmodified", DateTime, nullable=False),
    Column("c_identifier", String(64)),
    Column("c_displayname", String(256), nullable=False),
)

o_cur_curriculum = _table(
    "o_cur_curriculum",
    _id(),
    Column("creationdate", DateTime, nullable=False),
    Column("lastmodified", DateTime, nullable=False),
    Column("c_identifier", String(64)),
    Column("c_displayname", String(256), nullable=False),
    Column("c_status", String(32)),
    Column("fk_group", BigInteger, nullable=False),
    _fk("fk_organisation"),
)

o_cur_curriculum_element = _table(
    "o_cur_curriculum_element",
    _id(),
    Column("creationdate", DateTime, nullable=False),
    Column("lastmodified", DateTime, nullable=False),
    Column("c_identifier", String(64)),
    Column("c_displayname", String(256), nullable=False),
    Column("c_status", String(32)),
    Column("c_begin", DateTime),
    Column("c_end", DateTime),
    Column("c_location", String(255)),
    Column("fk_group", BigInteger, nullable=False),
    _fk("fk_parent"),
    Column("fk_curriculum", BigInteger, nullable=False),
    _fk("fk_type"),
    _fk("fk_resource"),
    _fk("fk_educational_type"),
)

o_re_educational_type = _table(
    "o_re_educational_type",
    _id(),
    Column("creationdate", DateTime, nullable=False),
    Column("lastmodified", DateTime, nullable=False),
    Column("r_identifier", String(128), nullable=False),
    Column("r_predefined", Boolean, nullable=False, default=False),
    Column("r_css_class", String(128)),
)

o_ac_cost_center = _table(
    "o_ac_cost_center",
    _id(),
    Column("creationdate", DateTime, nullable=False),
    Column("lastmodified", DateTime, nullable=False),
    Column("a_name", String(255)),
    Column("a_account", String(255)),
    Column("a_enabled", Boolean, nullable=False),
)

o_ac_method = _table(
    "o_ac_method",
    _id("method_id"),
    Column("access_method", String(32)),
    Column("version", Integer, nullable=False),
    Column("creationdate", DateTime),
    Column("lastmodified", DateTime),
    Column("is_valid", Boolean, default=True),
    Column("is_enabled", Boolean, default=True),
    Column("validfrom", DateTime),
    Column("validto", DateTime),
)

o_ac_offer = _table(
    "o_ac_offer",
    _id("offer_id"),
    Column("creationdate", DateTime),
    Column("lastmodified", DateTime),
    Column("is_valid", Boolean, default=True),
    Column("validfrom", DateTime),
    Column("validto", DateTime),
    Column("version", Integer, nullable=False),
    Column("resourceid", BigInteger),
    Column("resourcetypename", String(255)),
    Column("resourcedisplayname", String(255)),
    Column("offer_label", String(128)),
    Column("price_amount", Amount),
    Column("price_currency_code", String(3)),
    Column("cancelling_fee_amount", Amount),
    Column("cancelling_fee_currency_code", String(3)),
    Column("cancelling_fee_deadline_days", Integer),
    _fk("fk_resource_id"),
    _fk("fk_cost_center"),
)

o_ac_offer_access = _table(
    "o_ac_offer_access",
    _id("offer_method_id"),
    Column("version", Integer, nullable=False),
    Column("creationdate", DateTime),
    Column("is_valid", Boolean, default=True),
    Column("validfrom", DateTime),
    Column("validto", DateTime),
    _fk("fk_offer_id"),
    _fk("fk_method_id"),
)

o_ac_billing_address = _table(
    "o_ac_billing_address",
    _id(),
    Column("creationdate", DateTime, nullable=False),
    Column("lastmodified", DateTime, nullable=False),
    Column("a_identifier", String(255)),
    Column("a_name_line_1", String(255)),
    Column("a_name_line_2", String(255)),
    Column("a_address_line_1", String(255)),
    Column("a_address_line_2", String(255)),
    Column("a_address_line_3", String(255)),
    Column("a_address_line_4", String(255)),
    Column("a_pobox", String(255)),
    Column("a_region", String(255)),
    Column("a_zip", String(255)),
    Column("a_city", String(255)),
    Column("a_country", String(255)),
    Column("a_enabled", Boolean, nullable=False),
    _fk("fk_organisation"),
    _fk("fk_identity"),
)

o_ac_order = _table(
    "o_ac_order",
    _id("order_id"),
    Column("version", Integer, nullable=False),
    Column("creationdate", DateTime),
    Column("lastmodified", DateTime),
    Column("is_valid", Boolean, default=True),
    Column("total_lines_amount", Amount),
    Column("total_lines_currency_code", String(3)),
    Column("total_amount", Amount),
    Column("total_currency_code", String(3)),
    Column("discount_amount", Amount),
    Column("discount_currency_code", String(3)),
    Column("order_status", String(32), server_default="NEW"),
    _fk("fk_delivery_id"),
    Column("purchase_order_number", String(100)),
    Column("order_comment", Text),
    _fk("fk_billing_address"),
    Column("cancellation_fee_amount", Amount),
    Column("cancellation_fee_currency_code", String(3)),
    Column("cancellation_fee_lines_amount", Amount),
    Column("cancellation_fee_lines_currency_code", String(3)),
)

o_ac_order_part = _table(
    "o_ac_order_part",
    _id("order_part_id"),
    Column("version", Integer, nullable=False),
    Column("pos", Integer),
    Column("creationdate", DateTime),
    Column("total_lines_amount", Amount),
    Column("total_lines_currency_code", String(3)),
    Column("total_amount", Amount),
    Column("total_currency_code", String(3)),
    _fk("fk_order_id"),
)

o_ac_order_line = _table(
    "o_ac_order_line",
    _id("order_item_id"),
    Column("version", Integer, nullable=False),
    Column("pos", Integer),
    Column("creationdate", DateTime),
    Column("unit_price_amount", Amount),
    Column("unit_price_currency_code", String(3)),
    Column("total_amount", Amount),
    Column("total_currency_code", String(3)),
    _fk("fk_order_part_id"),
    _fk("fk_offer_id"),
    Column("cancellation_fee_amount", Amount),
    Column("cancellation_currency_code", String(3)),
)

o_ac_transaction = _table(
    "o_ac_transaction",
    _id("transaction_id"),
    Column("version", Integer, nullable=False),
    Column("creationdate", DateTime),
    Column("trx_status", String(32), server_default="NEW"),
    Column("amount_amount", Amount),
    Column("amount_currency_code", String(3)),
    _fk("fk_order_part_id"),
    _fk("fk_order_id"),
    _fk("fk_method_id"),
)

#: creation order (alphabetical: like OpenOlat's scripts, no foreign keys inside CREATE TABLE)
TABLES = tuple(metadata.sorted_tables)


def ddl(dialect_name: str) -> str:
    """``CREATE TABLE`` statements for one dialect (``postgresql``, ``mysql``, ``sqlite``)."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateTable

    dialect = {"postgresql": postgresql.dialect(), "mysql": mysql.dialect(),
               "sqlite": sqlite.dialect()}[dialect_name]
    parts = [f"-- OpenOlat tables read by billing-export ({dialect_name}); generated from "
             "sample_data/openolat_schema/tables.py\n"]
    for t in TABLES:
        parts.append(str(CreateTable(t).compile(dialect=dialect)).strip() + ";\n")
    return "\n".join(parts)
