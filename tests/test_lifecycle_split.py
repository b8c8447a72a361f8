"""The split of a run's orders against what is billed already (transforms.lifecycle.split),
without a state store: a store with nothing billed takes a short path, which must sort the
orders as the full comparison does."""

from __future__ import annotations

import pandas as pd

from conftest import SAMPLE_ORDERS
from flows.sources import registry
from transforms.lifecycle import content_hash, split
from transforms.parse import parse_booking_orders

BILLED = ["booking_number", "invoice_number", "content_hash", "booking_row"]


def _orders() -> pd.DataFrame:
    orders, _ = parse_booking_orders(registry.read(str(SAMPLE_ORDERS)).frame)
    return orders.iloc[3:40].set_axis(range(100, 137))  # not a 0.. index, as a company's share


def test_nothing_billed_bills_every_order_as_the_full_comparison_does():
    orders = _orders()
    short = split(orders, pd.DataFrame(columns=BILLED))
    # a billing of a booking this source does not have: the full comparison, same outcome
    other = pd.DataFrame([["elsewhere-1", "P-OTHER-00001", "0" * 64, "{}"]], columns=BILLED)
    full = split(orders, other)
    assert short.to_bill.equals(full.to_bill)
    assert list(short.to_bill.dtypes) == list(full.to_bill.dtypes)
    assert len(short.problems) == len(full.problems) == 0
    assert short.credit_invoices == full.credit_invoices == ()


def test_an_order_billed_unchanged_is_already_billed():
    orders = _orders()
    first = orders.iloc[:1]
    billed = pd.DataFrame({"booking_number": first["booking_number"].to_numpy(),
                           "invoice_number": ["P-1"], "content_hash": content_hash(first)
                           .to_numpy(), "booking_row": ["{}"]})
    done = split(orders, billed)
    assert len(done.to_bill) == len(orders) - 1
    assert list(done.problems["reason"]) == ["ALREADY_BILLED"]
