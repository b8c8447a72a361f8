"""What an incremental database run reads: orders new or touched since the last delivered final
run, and every order it billed that can still change.

Why ``lastmodified`` alone is not enough, from OpenOlat's code (OpenOLAT/OpenOLAT):

* ``ACOrderDAO.createOrder`` is the one place that sets ``OrderImpl.lastModified``
  (``order.setLastModified(now)`` with the creation date).
* Every later change goes through ``ACOrderDAO.save(Order)`` / ``save(Order, OrderStatus)``,
  which call ``DBImpl.updateObject`` (a plain JPA merge) and set no date; ``OrderImpl`` has no
  ``@PreUpdate`` hook. The admin actions in the orders list (``OrdersController``) call the
  service with the edited order only: ``doSetPaid`` → ``acService.changeOrderStatus(order,
  PAYED)``, ``doSetOpen`` → ``changeOrderStatus(order, PREPAYMENT)``,
  ``doSetWrittenOffOrder`` → ``changeOrderStatus(order, WRITTEN_OFF)``;
  ``PriceEditController.formOK`` → ``order.setTotal(...)``, ``acService.updateOrder(order)``;
  ``CancellationFeeEditController.formOK`` → ``order.setCancellationFees(...)``,
  ``acService.updateOrder(order)``; ``updateBillingAddress`` → ``acService.addBillingAddress``.
  None of them calls ``setLastModified``. (The service implementation of ``changeOrderStatus``
  / ``updateOrder`` was not in the copy of OpenOlat's source we read; nothing in the callers,
  the DAO or the entity moves the date, so billing assumes it does not move.)

So a price, fee or status edit can leave ``lastmodified`` as it was. An incremental run
therefore also re-reads every order that is still actively billed in the state store
(``active_billed``: billed and not since credited — a written-off order or one cancelled
without a fee is credited and leaves that set). The lifecycle split then sees the changed
content and credits and re-invoices it; an unchanged one is "already billed". The set grows
with the billed orders; a full (non-incremental) run re-reads everything, including orders
left unbilled (after the cutoff, not billable, rejected) that were edited silently since.
"""

from __future__ import annotations

import datetime as dt

from . import state_store


def window(store, companies: list[str], location: str) -> tuple[dt.datetime | None,
                                                                  tuple[str, ...]]:
    """``(since, recheck)`` for an incremental read of ``location`` by ``companies``: the
    start of the oldest last read (None: some company never read it, so read everything) and
    the booking numbers those companies have actively billed."""
    with store.connect() as conn:
        marks = [state_store.last_read_at(conn, c, location) for c in companies]
        if None in marks:
            return None, ()
        recheck = set()
        for c in companies:
            recheck.update(state_store.active_billed(conn, c)["booking_number"])
    return min(marks), tuple(sorted(recheck))
