"""Which booking orders bill what (DESIGN.md §5 "Billable").

Invoice-method orders in a billable status bill their price; a cancelled order bills its
cancellation fee when there is one; everything else is reported as not billable with the reason.

>>> import pandas as pd
>>> from schemas.settings import Settings, RunParameters
>>> orders = pd.DataFrame({"booking_number": ["1", "2", "3"], "payment_method": ["Rechnung"] * 3,
...     "booking_status": ["PAYED", "CANCELED", "CANCELED"], "order_date": pd.to_datetime(["2026-01-05"] * 3),
...     "price": pd.array([1000, 1000, 1000], dtype="Int64"), "price_currency": ["CHF"] * 3,
...     "cancellation_fee": pd.array([None, 200, None], dtype="Int64"),
...     "cancellation_fee_currency": [None, "CHF", None], "source": ["s"] * 3, "source_row": [2, 3, 4]})
>>> ctx = Context(Settings("100", "X", ("CHF",)), RunParameters(pd.Timestamp("2026-01-31").date(),
...     pd.Timestamp("2026-01-31").date()), {})
>>> b = classify(Billing(orders), ctx)
>>> b.lines[["booking_number", "charge_type", "amount"]].values.tolist()
[['1', 'price', 1000], ['2', 'fee', 200]]
>>> b.problems["reason"].tolist()
['CANCELED_NO_FEE']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas.booking_order import INVOICE_METHODS
from schemas.problems import Reason

from .steps import Billing, Context, Rejection


#: booking-order fields that no billing step, no sheet and no check reads: the lines leave
#: them behind (they stay in the validated orders), so every later copy of the lines — the
#: rejections, compose's sort — moves less (about a third less text at a million orders)
NOT_CARRIED = (
    "orderer_username", "orderer_email", "orderer_institutional_id", "product_org_id",
    "product_org_name", "billing_org_id", "billing_org_name", "implementation_type",
    "implementation_status", "implementation_format", "location", "order_comment",
)


def classify(b: Billing, ctx: Context) -> Billing:
    """Every reason is computed on all lines and the not billable ones move out in one pass;
    a line gets the first reason that applies, in the order below."""
    lines = b.lines.drop(columns=[c for c in NOT_CARRIED if c in b.lines])
    s = ctx.settings
    method = lines["payment_method"].astype("str").str.strip().str.lower()
    invoice = method.isna() | method.isin(INVOICE_METHODS)
    cutoff = pd.Timestamp(ctx.params.cutoff_date)
    after_cutoff = lines["order_date"] > cutoff
    status = lines["booking_status"]
    bills_price = status.isin(s.billable_statuses)
    canceled = status == "CANCELED"
    fee = lines["cancellation_fee"].fillna(0)
    # what each line would bill; the lines that bill nothing leave with the other reasons
    bills_fee = canceled.to_numpy()
    amount = np.where(bills_fee, fee, lines["price"].fillna(0)).astype(np.int64)
    currency = lines["price_currency"].where(~bills_fee, lines["cancellation_fee_currency"])
    lines = lines.assign(charge_type=either(bills_fee, "fee", "price", lines.index),
                         amount=amount, currency=currency.astype("str"))
    b = Billing(lines, b.problems, notes=b.notes)
    return b.reject_first([
        Rejection(~invoice, Reason.NOT_INVOICE_METHOD.name, "payment_method",
                  value=lines["payment_method"]),
        Rejection(after_cutoff, Reason.AFTER_CUTOFF.name, "order_date",
                  value=lambda rows: rows["order_date"].dt.strftime("%Y-%m-%d")),
        Rejection(canceled & (fee <= 0), Reason.CANCELED_NO_FEE.name, "cancellation_fee"),
        Rejection(~bills_price & ~canceled, Reason.STATUS_NOT_BILLABLE.name, "booking_status",
                  value=status),
        Rejection(amount <= 0, Reason.ZERO_AMOUNT.name,
                  either(bills_fee, "cancellation_fee", "price", lines.index)),
    ])


def either(mask: np.ndarray, yes: str, no: str, index: pd.Index) -> pd.Series:
    """``yes`` where ``mask``, else ``no``, as a text column (picked from two texts rather
    than converted from a NumPy array of texts, which is slow)."""
    return pd.Series([no, yes], dtype="str").take(mask.astype(np.intp)).set_axis(index)
