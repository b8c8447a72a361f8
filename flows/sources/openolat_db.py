"""Booking orders straight from OpenOlat's database (PostgreSQL, MariaDB/MySQL; SQLite in tests).

``read(url, since=None, recheck=())`` runs ONE query (and a count) over OpenOlat's own tables
(shared/openolat-booking-orders.md §2) and returns the same text frame as the CSV source: the
canonical column ids, every cell text, ``source`` and ``source_row``. Parsing and validation
are then the same for every source.

What the query does, and why:

* one row per ``o_ac_order`` (the booking number), in ``order_id`` order; ``source_row`` is the
  1-based position in that order, ``source`` the URL without its password plus the table;
* how an order was paid is the method of its own transaction (``o_ac_transaction.fk_method_id``,
  the latest one if there are several), as OpenOlat's accounting query
  (``CurriculumAccountingDAO.bookingOrders``) takes it; only an order without a transaction
  falls back to its offer: ``invoice.method`` when the offer is linked (``o_ac_offer_access``)
  to the invoice method. ``payment_method`` is that method's ``access_method``
  (``invoice.method``, ``paypal.method``, ``checkout.method``, …), so an order paid by PayPal
  or card on a two-method offer is read and billing reports it as not billable ("not paid by
  invoice") — it is counted, never invoiced;
* which orders are read: those whose offer offers the invoice method or whose transaction used
  it — an ``EXISTS`` test, so an offer with several accesses never doubles a row. Orders of
  offers without the invoice method, paid otherwise, are not billing's business; OpenOlat's
  export lists them, so their number is reported (:attr:`Extract.notes`), as is the number of
  orders read that the export leaves out (it shows only orders with a billing address, a
  curriculum element whose curriculum has an organisation, and an orderer user);
* the order's first line (lowest ``order_item_id``; OpenOlat writes one part with one line)
  gives the offer, its cost center and — through ``o_cur_curriculum_element.fk_resource =
  o_ac_offer.fk_resource_id``, as OpenOlat's own export joins — the implementation and product;
* everything after the offer is an outer join: an invoice order whose billing address, orderer
  or curriculum is missing still comes out, with empty cells, and validation reports it instead
  of the row silently vanishing;
* price = ``o_ac_order.total_amount`` / ``total_currency_code`` (the price charged, possibly
  edited), fee = ``cancellation_fee_amount`` / ``cancellation_fee_currency_code``. Amounts are
  read as :class:`~decimal.Decimal` (PostgreSQL ``numeric``, MariaDB ``decimal(12,4)``, SQLite
  text) and written ``CHF\u00a01250.00``: the exact value with trailing zeros trimmed to the
  currency's minor unit (MariaDB's ``531.0000`` → ``531.00``, ``JPY 150000``); digits beyond the
  minor unit are never dropped, so parsing flags them;
* dates (order date = ``creationdate``, service period = ``c_begin``/``c_end``) as
  ``YYYY-MM-DD``; booking and implementation status as stored (``PAYED``, ``finished``);
* the orderer's user name is ``o_user.u_nickname`` and the institutional identifier
  ``u_institutionaluseridentifier``, the fields OpenOlat's export shows as "Benutzername" and
  "Institutionsnummer (Matrikelnummer)" (``o_bs_identity.name`` is the login, not shown);
* ``since`` (incremental runs): only orders with ``creationdate > since`` or
  ``lastmodified > since``, as a bound parameter, plus every order in ``recheck`` or in a
  status of ``recheck_statuses`` whatever its dates (see :mod:`flows.incremental`:
  ``lastmodified`` does not move on most edits). OpenOlat
  stores local time without a zone; an aware ``since`` is converted to this machine's local
  time first;
* implementation type and format are the identifiers of ``o_cur_element_type`` and
  ``o_re_educational_type`` (``fk_educational_type``), as in OpenOlat's export;
* the checksum is sha256 over the frame's text without ``source``: the same orders give the same
  checksum (and run id) on every database.

Not read: the membership status (group membership history; not needed for billing) — the frame
leaves that column out.

Errors: a server that cannot be reached raises :class:`SourceUnavailable` (transient: the flow
retries); a refused login, an unknown database, an unknown dialect or driver, a database
without OpenOlat's tables or a failing query raise a plain :class:`SourceError`. No message
carries the password.
"""

from __future__ import annotations

from ..errors import SourceUnavailable  # noqa: F401 - flows.errors decides
from .base import Extract

# the members of a source (flows.sources.registry.Source): SQLAlchemy URLs, the incremental
# window of read(), and amounts always written as plain decimals (amount_text), whatever
# format the installation shows
SUFFIXES: tuple[str, ...] = ()
READS_URLS = True
OPTIONS = ("since", "recheck", "recheck_statuses")
PRICE_FORMAT = "plain"


def read(location: str, since=None, recheck=(), recheck_statuses=()) -> Extract:
    """Booking orders of invoice-method offers from an OpenOlat database at a SQLAlchemy URL;
    ``since``, ``recheck`` (booking numbers) and ``recheck_statuses`` (orders in these
    statuses) for incremental runs: what is read whatever its dates."""
    from .openolat_db_reader import read as read_tables
    return read_tables(location, since=since, recheck=recheck,
                       recheck_statuses=recheck_statuses)
