"""What an incremental database run reads: orders new or touched since the last delivered final
run, and every order whose change ``lastmodified`` would not show.

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
therefore reads, besides the orders created or touched since the last run's read:

* every order still actively billed in the state store (``active_billed``: billed and not
  since credited — a written-off order or one cancelled without a fee is credited and leaves
  that set). The lifecycle split sees the changed content and credits and re-invoices it; an
  unchanged one is "already billed";
* every order in a status that bills nothing now but that an edit can make billable:
  ``CANCELED`` (``OrdersController.ToolsController`` offers the fee edit only for cancelled
  orders with fees; a fee edited up from 0 makes one billable). Set paid, set open and write
  off are offered for NEW / PREPAYMENT / PAYED orders, which bill (or were billed) anyway;
* every order created after the last run's cutoff date: that run read it but left it for a
  later run, and the read time alone would skip it. ``since`` is the earlier of the read time
  and the end of the cutoff day.

The first two sets grow with the history. What stays for a full (non-incremental) run: an
order rejected for its data (e.g. no tax rule for its country) whose address or price is then
edited in OpenOlat — a full run re-reads everything.
"""

from __future__ import annotations

import datetime as dt
import json

from . import state_store

#: statuses that bill nothing now and that an OpenOlat edit can make billable (see above)
RECHECK_STATUSES = ("CANCELED",)


def _last_read(conn, company: str, location: str) -> dt.datetime | None:
    """Where the next read of ``location`` for ``company`` starts, in OpenOlat's local time
    without a zone: the earlier of the last delivered final run's read time and the end of its
    cutoff day (orders after the cutoff were left for a later run)."""
    last = None
    for run in state_store.runs(conn, "final"):
        if run["financial_company"] != company or run["status"] != "delivered":
            continue
        meta = json.loads(run["parameters"])
        if meta.get("location") == location and meta.get("read_at"):
            read_at = dt.datetime.fromisoformat(meta["read_at"])
            if last is None or read_at > last[0]:
                last = (read_at, meta.get("cutoff_date"))
    if last is None:
        return None
    read_at, cutoff = last
    start = read_at.astimezone().replace(tzinfo=None) if read_at.tzinfo else read_at
    if cutoff:
        day_after = dt.datetime.combine(dt.date.fromisoformat(cutoff) + dt.timedelta(days=1),
                                        dt.time())
        start = min(start, day_after - dt.timedelta(microseconds=1))
    return start


def window(store, companies: list[str], location: str) -> tuple[dt.datetime | None,
                                                                  tuple[str, ...],
                                                                  tuple[str, ...]]:
    """``(since, recheck, statuses)`` for an incremental read of ``location`` by
    ``companies``: where the oldest last read starts (None: some company never read it, so
    read everything), the booking numbers those companies have actively billed, and the
    statuses whose orders are read whatever their dates."""
    with store.connect() as conn:
        marks = [_last_read(conn, c, location) for c in companies]
        if None in marks:
            return None, (), ()
        recheck = set()
        for c in companies:
            recheck.update(state_store.active_billed(conn, c)["booking_number"])
    return min(marks), tuple(sorted(recheck)), RECHECK_STATUSES
