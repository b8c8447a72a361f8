"""Payment terms (due date, Skonto) and periods (DESIGN.md §5 "Payment terms", "Periods").

discount amount k = round(invoice amount × percent k / 100), half away from zero or half to
even (the company's rounding mode); fiscal and reporting periods from the invoice date, tax
periods from the tax date (the invoice date unless tax_period_date says otherwise). Harness in
test_compose_billable.py.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms import money
from transforms.periods import fiscal, tax_period
from transforms.terms import discount_amounts

sys.path.insert(0, str(Path(__file__).parent))
from test_compose_billable import (COMPANY, CUSTOMERS_HEADER, check_invariants,  # noqa: E402
                                   expect, run)

SETTINGS = settings(deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


DECIMAL_MODE = {money.HALF_UP: ROUND_HALF_UP, money.HALF_EVEN: ROUND_HALF_EVEN}


def d_round(x: Decimal, mode: str = money.HALF_UP) -> int:
    return int(x.quantize(Decimal(1), rounding=DECIMAL_MODE[mode]))


# ---------------------------------------------------------------------------------------------
# discount_amounts against decimal
# ---------------------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.tuples(st.integers(-(10**13), 10**13),
                          st.integers(0, 100 * money.PERCENT_SCALE)), min_size=1, max_size=10),
       st.sampled_from(sorted(DECIMAL_MODE)))
def test_discount_amounts_match_decimal(rows, mode):
    amount = np.array([a for a, _ in rows], dtype=np.int64)
    pct = np.array([p for _, p in rows], dtype=np.int64)
    got = discount_amounts(amount, pct, mode)
    with localcontext() as c:
        c.prec = 60
        assert got.tolist() == [
            d_round(Decimal(a) * (Decimal(p) / money.PERCENT_SCALE) / 100, mode)
            for a, p in rows]
    assert discount_amounts(-amount, pct, mode).tolist() == (-got).tolist()


def test_discount_of_an_exact_half_cent_in_both_modes():
    # 2 % of CHF 100.25 is 2.005: 2.01 away from zero, 2.00 to even
    assert discount_amounts(np.array([10025]), np.array([20000])).tolist() == [201]
    assert discount_amounts(np.array([10025]), np.array([20000]), money.HALF_EVEN).tolist() \
        == [200]


@pytest.mark.parametrize("invoice_amount,percent,discount", [
    ("116.50", "3", "3.50"),  # 3.495 → 3.50
    ("116.50", "1", "1.17"),  # 1.165 → 1.17
    ("108.42", "2", "2.17"),  # 2.1684
    ("108.42", "1.5", "1.63"),  # 1.6263
    ("-116.50", "3", "-3.50"),  # credit note: mirror image
    ("0.10", "2", "0.00"),
])
def test_discount_examples(invoice_amount, percent, discount):
    def cents(text):
        m, ok = money.to_minor([text.lstrip("-")], [2])
        assert ok[0]
        return -m if text.startswith("-") else m
    pct, ok = money.parse_scaled([percent], 4)
    assert ok[0]
    assert discount_amounts(cents(invoice_amount), pct).tolist() == cents(discount).tolist()


# ---------------------------------------------------------------------------------------------
# fiscal and tax periods
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("start,date,year,period", [
    (1, "2026-01-01", 2026, 1),
    (1, "2026-10-30", 2026, 10),
    (1, "2026-12-31", 2026, 12),
    (7, "2026-06-30", 2025, 12),  # fiscal year 2025/26 starts in July 2025
    (7, "2026-07-01", 2026, 1),
    (7, "2026-01-31", 2025, 7),
    (4, "2026-03-31", 2025, 12),
    (4, "2026-04-01", 2026, 1),
    (12, "2026-11-30", 2025, 12),
    (12, "2026-12-01", 2026, 1),
])
def test_fiscal_year_and_period(start, date, year, period):
    fy, fp = fiscal(pd.Series(pd.to_datetime([date])), start)
    assert (fy.tolist(), fp.tolist()) == ([year], [period])


@SETTINGS
@given(st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)), st.integers(1, 12))
def test_fiscal_period_counts_months_from_the_start_of_its_year(date, start):
    fy, fp = fiscal(pd.Series(pd.to_datetime([date])), start)
    fy, fp = int(fy[0]), int(fp[0])
    begin = dt.date(fy, start, 1)
    end = dt.date(fy + 1, start, 1)
    assert begin <= date < end  # the year is named by the calendar year it starts in
    assert fp == (date.year - begin.year) * 12 + date.month - begin.month + 1
    assert 1 <= fp <= 12


@pytest.mark.parametrize("length,dates,periods", [
    ("month", ["2026-01-31", "2026-02-01", "2026-12-31"], [1, 2, 12]),
    ("quarter", ["2026-03-31", "2026-04-01", "2026-09-30", "2026-10-01", "2026-12-31"],
     [1, 2, 3, 4, 4]),
    ("half_year", ["2026-06-30", "2026-07-01", "2026-12-31"], [1, 2, 2]),
])
def test_tax_period_lengths(length, dates, periods):
    ty, tp = tax_period(pd.Series(pd.to_datetime(dates)), length)
    assert tp.tolist() == periods
    assert ty.tolist() == [2026] * len(dates)


# ---------------------------------------------------------------------------------------------
# In the pipeline
# ---------------------------------------------------------------------------------------------

CUSTOMERS = f"""
    {CUSTOMERS_HEADER}
    BA-S3             | BP-S3            | S3            |        | de       |                    |
    BA-S15            | BP-S15           | S15           |        | en       |                    |
"""


def test_due_date_and_three_discounts():
    r = run("""
        booking_number | billing_address_id | country | price      | service_begin
        1              | BA-S3              | Japan   | CHF 116.50 | 2026-02-02
        2              | BA-N30             | Schweiz | CHF 100.30 | 2026-02-02
        3              | BA-S15             | Schweiz | CHF 100.30 | 2026-02-02
    """, customers=CUSTOMERS)
    # invoice date 2026-01-31
    expect(r.invoices, """
        invoice_to_bp | payment_terms | invoice_amount | due_date   | discount_date_1 | discount_amount_1 | discount_date_2 | discount_amount_2 | discount_date_3 | discount_amount_3
        BA-N30        | N30           | 108.42         | 2026-03-02 |                 |                   |                 |                   |                 |
        BP-S15        | S15           | 108.42         | 2026-03-02 | 2026-02-10      | 1.63              |                 |                   |                 |
        BP-S3         | S3            | 116.50         | 2026-04-01 | 2026-02-10      | 3.50              | 2026-02-20      | 2.33              | 2026-03-02      | 1.17
    """)
    check_invariants(r)


def test_discounts_follow_the_cash_rounded_invoice_amount():
    company = replace(COMPANY, cash_rounding={"CHF": "0.05"})
    r = run("""
        booking_number | billing_address_id | price      | service_begin
        1              | BA-S3              | CHF 100.30 | 2026-02-02
    """, company, customers=CUSTOMERS)
    # 108.42 is cash-rounded to 108.40: 3 % = 3.252 → 3.25, 2 % = 2.168 → 2.17, 1 % = 1.084
    expect(r.invoices, """
        cash_rounding_amount | invoice_amount | discount_amount_1 | discount_amount_2 | discount_amount_3
        -0.02                | 108.40         | 3.25              | 2.17              | 1.08
    """)


def test_periods_on_the_invoice():
    company = replace(COMPANY, fiscal_year_start_month=7, tax_period="quarter", combine=False,
                      tax_period_date="service_begin")
    r = run("""
        booking_number | price      | service_begin
        1              | CHF 100.00 | 2026-02-02
        2              | CHF 100.00 | 2025-12-15
        3              | CHF 100.00 |
    """, company)
    # fiscal: invoice date 2026-01-31 in the year starting July 2025 → 2025 / 7
    # tax: the tax date (here the service begin; missing → invoice date) by quarter
    expect(r.invoices, """
        tax_date   | fiscal_year | fiscal_period | reporting_year | reporting_period | tax_year | tax_period
        2026-02-02 | 2025        | 7             | 2025           | 7                | 2026     | 1
        2025-12-15 | 2025        | 7             | 2025           | 7                | 2025     | 4
        2026-01-31 | 2025        | 7             | 2025           | 7                | 2026     | 1
    """)


def test_tax_period_is_the_invoices_by_default():
    # agreed consideration (MWSTG art. 40): every invoice of 2026-01-31 is in 2026 / 1, whenever
    # its courses run; the fiscal period is the invoice's too
    r = run("""
        booking_number | price      | service_begin | service_end
        1              | CHF 100.00 | 2026-05-04    | 2026-06-30
        2              | CHF 100.00 | 2025-12-15    | 2025-12-16
        3              | CHF 100.00 |               |
    """, replace(COMPANY, combine=False))
    expect(r.invoices, """
        tax_date   | fiscal_year | fiscal_period | tax_year | tax_period
        2026-01-31 | 2026        | 1             | 2026     | 1
        2026-01-31 | 2026        | 1             | 2026     | 1
        2026-01-31 | 2026        | 1             | 2026     | 1
    """)


@pytest.mark.parametrize("length,period", [("month", 12), ("quarter", 4), ("half_year", 2)])
def test_tax_period_length_setting(length, period):
    r = run("""
        booking_number | price      | service_begin
        1              | CHF 100.00 | 2025-12-15
    """, replace(COMPANY, tax_period=length, tax_period_date="service_begin"))
    expect(r.invoices, f"""
        tax_year | tax_period
        2025     | {period}
    """)
