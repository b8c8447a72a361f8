"""Exchange rates and home-currency amounts (DESIGN.md §4 exchange_rates.csv, §5 "Currency").

home amount = round_h(amount / factor × rate), exact; a missing rate is an error for the
invoice, never 1; a stale rate is used and flagged. Harness in test_compose_billable.py.
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
from transforms.home_currency import to_home
from transforms.exchange_rates import lookup_rates

sys.path.insert(0, str(Path(__file__).parent))
from test_compose_billable import (COMPANY, CUSTOMERS_HEADER, EXCHANGE_RATES,  # noqa: E402
                                   check_exact,
                                   check_invariants, expect, problems_of, run,
                                   tables)

SETTINGS = settings(deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


DECIMAL_MODE = {money.HALF_UP: ROUND_HALF_UP, money.HALF_EVEN: ROUND_HALF_EVEN}
modes = st.sampled_from(sorted(DECIMAL_MODE))


def d_round(x: Decimal, mode: str = money.HALF_UP) -> int:
    return int(x.quantize(Decimal(1), rounding=DECIMAL_MODE[mode]))


def ref_to_home(amount: int, e_from: int, rate: int, factor: int, e_to: int,
                mode: str = money.HALF_UP) -> int:
    with localcontext() as c:
        c.prec = 80
        major = Decimal(amount).scaleb(-e_from)
        home = major / Decimal(factor) * (Decimal(rate) / money.RATE_SCALE)
        return d_round(home.scaleb(e_to), mode)


# ---------------------------------------------------------------------------------------------
# to_home against decimal
# ---------------------------------------------------------------------------------------------

conversions = st.tuples(
    st.integers(-(10**12), 10**12),  # amount in minor units of the invoice currency
    st.sampled_from([0, 2, 3]),  # its decimals (JPY, CHF, BHD)
    st.integers(1, 10**9),  # rate × 10**6, up to 1000.000000
    st.sampled_from([1, 100, 1000]),  # rate factor
    st.sampled_from([0, 2, 3]),  # decimals of the home currency
)


@SETTINGS
@given(st.lists(conversions, min_size=1, max_size=10), modes)
def test_to_home_matches_decimal(rows, mode):
    amount, e_from, rate, factor, e_to = (np.array(x, dtype=np.int64) for x in zip(*rows))
    got = to_home(amount, e_from, rate, factor, e_to, mode)
    assert got.dtype == np.int64
    assert got.tolist() == [ref_to_home(*row, mode) for row in rows]


@SETTINGS
@given(conversions, modes)
def test_to_home_of_a_credit_is_the_exact_negation(row, mode):
    amount, e_from, rate, factor, e_to = row
    pos = to_home(np.array([amount]), e_from, np.array([rate]), np.array([factor]), e_to, mode)
    neg = to_home(np.array([-amount]), e_from, np.array([rate]), np.array([factor]), e_to, mode)
    assert neg.tolist() == (-pos).tolist()


def test_half_to_even_conversion_and_its_rounding_difference_in_a_run():
    # EUR 0.50 (no tax) at 0.930000 = CHF 0.465: half away from zero 0.47, half to even 0.46
    bookings = """
        booking_number | price     | service_begin
        1              | EUR 0.50  | 2026-02-02
    """
    company = replace(COMPANY, tax_rounding="line")
    codes = "tax_code | country | rate | valid_from | valid_to | description\n" \
        "CH-N | CH | 0 | 1900-01-01 | | steuerfrei\nCH-R | CH | 0 | 1900-01-01 | | -\n" \
        "DE-19 | DE | 0 | 1900-01-01 | | -\nEXP | | 0 | 1900-01-01 | | -\n"
    up = run(bookings, company, tax_codes=codes)
    even = run(bookings, replace(company, rounding=money.HALF_EVEN), tax_codes=codes)
    expect(up.invoices, "invoice_amount | net_amount_hc_1 | invoice_amount_hc_1\n"
                        "0.50 | 0.47 | 0.47")
    expect(even.invoices, "invoice_amount | net_amount_hc_1 | invoice_amount_hc_1\n"
                          "0.50 | 0.46 | 0.46")
    check_invariants(even)


@pytest.mark.parametrize("amount,cur,rate,factor,home,expected", [
    # amount          rate        factor  home    home amount
    ("1000.00", "CHF", "0.936500", 1, "EUR", "936.50"),
    ("150000", "JPY", "0.568300", 100, "CHF", "852.45"),  # rate per 100 yen
    ("12345", "JPY", "0.568300", 100, "CHF", "70.16"),  # 70.156635
    ("100.00", "CHF", "175.963500", 1, "JPY", "17596"),  # 17596.35 yen
    ("100.00", "CHF", "175.965000", 1, "JPY", "17597"),  # 17596.5 → away from zero
    ("-100.00", "CHF", "175.965000", 1, "JPY", "-17597"),
    ("1.000", "BHD", "2.345678", 1, "CHF", "2.35"),
    ("2.675", "BHD", "1", 1, "EUR", "2.68"),  # 2.675 → 2.68 (DESIGN.md §5)
    ("1000.00", "CHF", "9.365", 1000, "EUR", "9.37"),  # 9.365 → 9.37
])
def test_to_home_examples(amount, cur, rate, factor, home, expected):
    from transforms.minor_units import exponent
    a, _ = money.to_minor([amount.lstrip("-")], [exponent(cur)])
    a = -a if amount.startswith("-") else a
    r, ok = money.parse_scaled([rate], 6)
    assert ok.all()
    e, _ = money.to_minor([expected.lstrip("-")], [exponent(home)])
    e = -e if expected.startswith("-") else e
    assert to_home(a, exponent(cur), r, np.array([factor]), exponent(home)).tolist() == e.tolist()


# ---------------------------------------------------------------------------------------------
# lookup_rates
# ---------------------------------------------------------------------------------------------

RATES = """
    rate_type | from_currency | to_currency | valid_from | rate     | factor
    ECB       | EUR           | CHF         | 2026-01-20 | 0.940000 | 1
    ECB       | EUR           | CHF         | 2026-01-26 | 0.930000 | 1
    MONTH     | EUR           | CHF         | 2026-01-01 | 0.950000 | 1
    ECB       | JPY           | CHF         | 2026-01-26 | 0.568300 | 100
"""


def test_rate_valid_on_a_date_is_the_latest_on_or_before_it():
    rates = tables(exchange_rates=RATES)["exchange_rates"]
    wanted = pd.DataFrame({
        "rate_type": ["ECB", "ECB", "ECB", "ECB", "MONTH", "ECB", "ECB", "ECB"],
        "from_currency": ["EUR", "EUR", "EUR", "EUR", "EUR", "JPY", "CHF", "USD"],
        "to_currency": ["CHF", "CHF", "CHF", "CHF", "CHF", "CHF", "CHF", "CHF"],
        "date": pd.to_datetime(["2026-01-19", "2026-01-20", "2026-01-25", "2026-01-31",
                                "2026-01-31", "2026-02-15", "2026-01-31", "2026-01-31"]),
    })
    found = lookup_rates(wanted, rates)
    assert found["rate"].tolist() == [pd.NA, 940000, 940000, 930000, 950000, 568300,
                                      money.RATE_SCALE, pd.NA]
    assert found["factor"].tolist() == [pd.NA, 1, 1, 1, 1, 100, 1, pd.NA]
    assert found["valid_from"].dt.strftime("%Y-%m-%d").tolist()[1:7] == [
        "2026-01-20", "2026-01-20", "2026-01-26", "2026-01-01", "2026-01-26", "2026-01-31"]


def test_lookup_of_nothing_is_nothing():
    rates = tables(exchange_rates=RATES)["exchange_rates"]
    wanted = pd.DataFrame({"rate_type": [], "from_currency": [], "to_currency": [],
                           "date": pd.to_datetime([])})
    assert len(lookup_rates(wanted, rates)) == 0


# ---------------------------------------------------------------------------------------------
# In the pipeline
# ---------------------------------------------------------------------------------------------

CHF_EUR = replace(COMPANY, home_currencies=("CHF", "EUR"))


def test_same_currency_is_rate_one_factor_one():
    r = run("""
        booking_number | price      | service_begin
        1              | CHF 100.30 | 2026-02-02
    """, CHF_EUR)
    expect(r.invoices, """
        currency | home_currency_1 | exchange_rate_1 | rate_factor_1 | net_amount_hc_1 | tax_amount_hc_1 | invoice_amount_hc_1 | rounding_difference_hc_1
        CHF      | CHF             | 1               | 1             | 100.30          | 8.12            | 108.42              | 0.00
    """)
    check_invariants(r)
    check_exact(r, CHF_EUR)


def test_home_amounts_and_rounding_difference():
    # EUR 333.35 at 19 %: tax 63.3365 → 63.34, invoice 396.69; at 0.93 CHF per EUR:
    #   net 310.0155 → 310.02, tax 58.9062 → 58.91, invoice 368.9217 → 368.92
    #   rounding difference 368.92 − 310.02 − 58.91 = −0.01
    r = run("""
        booking_number | country     | price      | service_begin
        1              | Deutschland | EUR 333.35 | 2026-02-02
    """, CHF_EUR)
    expect(r.invoices, """
        currency | net_amount | tax_amount | invoice_amount | exchange_rate_date | exchange_rate_1 | net_amount_hc_1 | tax_amount_hc_1 | invoice_amount_hc_1 | rounding_difference_hc_1 | exchange_rate_2 | invoice_amount_hc_2 | rounding_difference_hc_2
        EUR      | 333.35     | 63.34      | 396.69         | 2026-01-26         | 0.93            | 310.02          | 58.91           | 368.92              | -0.01                    | 1               | 396.69              | 0.00
    """)
    expect(r.taxes, """
        tax_code | tax_base | tax_amount | home_currency_1 | tax_base_hc_1 | tax_amount_hc_1
        DE-19    | 333.35   | 63.34      | CHF             | 310.02        | 58.91
    """)
    check_invariants(r)
    check_exact(r, CHF_EUR)


def test_cash_rounding_shows_in_the_home_rounding_difference():
    # CHF 100.30 + 8.12 tax = 108.42, cash-rounded to 108.40; in EUR at 1.075269:
    #   net 107.8495 → 107.85, tax 8.7312 → 8.73, invoice 116.5592 → 116.56, difference −0.02
    company = replace(CHF_EUR, cash_rounding={"CHF": "0.05"})
    r = run("""
        booking_number | price      | service_begin
        1              | CHF 100.30 | 2026-02-02
    """, company)
    expect(r.invoices, """
        net_amount | tax_amount | cash_rounding_amount | invoice_amount | net_amount_hc_2 | tax_amount_hc_2 | invoice_amount_hc_2 | rounding_difference_hc_2 | rounding_difference_hc_1
        100.30     | 8.12       | -0.02                | 108.40         | 107.85          | 8.73            | 116.56              | -0.02                    | -0.02
    """)
    check_invariants(r)
    check_exact(r, company)


def test_yen_has_no_decimals_and_a_rate_per_hundred():
    company = replace(COMPANY, home_currencies=("CHF", "EUR", "JPY"))
    r = run("""
        booking_number | billing_address_id | country | price      | service_begin
        1              | BA-JP              | Japan   | JPY 150000 | 2026-02-02
        2              | BA-CH              | Schweiz | JPY 12345  | 2026-02-02
        3              | BA-CH2             | Schweiz | CHF 100.00 | 2026-02-02
    """, company)
    # JPY 12345 at 8.1 % = 999.945 → 1000 yen; 13345 yen / 100 × 0.5683 = 75.839635 → 75.84
    expect(r.invoices, """
        invoice_to_bp | currency | net_amount | tax_amount | invoice_amount | rate_factor_1 | net_amount_hc_1 | tax_amount_hc_1 | invoice_amount_hc_1 | rounding_difference_hc_1 | net_amount_hc_2 | invoice_amount_hc_3
        BA-CH         | JPY      | 12345      | 1000       | 13345          | 100           | 70.16           | 5.68            | 75.84               | 0.00                     | 75.44           | 13345
        BA-CH2        | CHF      | 100.00     | 8.10       | 108.10         | 1             | 100.00          | 8.10            | 108.10              | 0.00                     | 107.53          | 19022
        BA-JP         | JPY      | 150000     | 0          | 150000         | 100           | 852.45          | 0.00            | 852.45              | 0.00                     | 916.65          | 150000
    """)
    check_invariants(r)
    check_exact(r, company)


def test_missing_exchange_rate_rejects_every_line_of_that_invoice_never_rate_one():
    r = run("""
        booking_number | billing_address_id | price      | service_begin
        1              | BA-1               | USD 100.00 | 2026-02-02
        2              | BA-1               | USD 200.00 | 2026-02-02
        3              | BA-2               | CHF 300.00 | 2026-02-02
        4              | BA-3               | GBP 400.00 | 2026-02-02
    """, CHF_EUR)  # USD → CHF exists, USD → EUR does not; no GBP rate at all
    assert r.invoices["currency"].tolist() == ["CHF"]
    assert r.lines["booking_number"].tolist() == ["3"]
    assert problems_of(r) == [("1", "NO_EXCHANGE_RATE"), ("2", "NO_EXCHANGE_RATE"),
                              ("4", "NO_EXCHANGE_RATE")]
    p = r.problems.set_index("booking_number")
    assert p.loc["1", "detail"] == "USD→EUR (ECB)"
    assert p.loc["4", "detail"] == "GBP→CHF (ECB)"
    assert p.loc["1", "value"] == "2026-01-31"
    assert (r.taxes["invoice_number"] == r.invoices["invoice_number"][0]).all()
    check_invariants(r)


def test_no_rate_before_the_first_valid_from():
    r = run("""
        booking_number | price      | service_begin
        1              | EUR 100.00 | 2026-02-02
    """, CHF_EUR, exchange_rate_date=dt.date(2026, 1, 25))
    assert r.invoices.empty
    assert problems_of(r) == [("1", "NO_EXCHANGE_RATE")]
    assert r.problems["value"].tolist() == ["2026-01-25"]


def test_exchange_rate_date_picks_the_rate():
    rates = EXCHANGE_RATES + "    ECB | EUR | CHF | 2026-01-20 | 0.940000 | 1\n"
    bookings = """
        booking_number | price      | service_begin
        1              | EUR 100.00 | 2026-02-02
    """
    early = run(bookings, CHF_EUR, exchange_rate_date=dt.date(2026, 1, 23), exchange_rates=rates)
    late = run(bookings, CHF_EUR, exchange_rate_date=dt.date(2026, 1, 26), exchange_rates=rates)
    # "Wechselkurs vom" is the day the rate used is valid from, not the day asked for
    expect(early.invoices, """
        exchange_rate_date | exchange_rate_1 | net_amount_hc_1
        2026-01-20         | 0.94            | 94.00
    """)
    expect(late.invoices, """
        exchange_rate_date | exchange_rate_1 | net_amount_hc_1
        2026-01-26         | 0.93            | 93.00
    """)


def test_stale_rate_is_used_and_flagged():
    bookings = """
        booking_number | price      | service_begin
        1              | USD 100.00 | 2026-02-02
    """
    r = run(bookings)  # USD → CHF last valid 2025-12-01, 61 days before the invoice date
    expect(r.invoices, """
        currency | exchange_rate_1 | net_amount_hc_1
        USD      | 0.8             | 80.00
    """)
    assert ("flags", "stale_exchange_rate", "USD", "USD→CHF ECB 2025-12-01") in r.notes
    fresh = run(bookings, replace(COMPANY, max_rate_age_days=61))
    assert not [n for n in fresh.notes if n[1] == "stale_exchange_rate"]
    assert [n for n in run(bookings, replace(COMPANY, max_rate_age_days=60)).notes
            if n[1] == "stale_exchange_rate"]


def test_exchange_rate_date_is_the_date_of_the_rate_used():
    """A stale rate keeps its own date; with two home currencies the older rate's date shows;
    an invoice converted at no rate (each home currency its own) keeps the date asked."""
    rates = EXCHANGE_RATES + "    ECB | EUR | CHF | 2026-01-10 | 0.950000 | 1\n"
    bookings = """
        booking_number | billing_address_id | price      | service_begin
        1              | BA-1               | USD 100.00 | 2026-02-02
        2              | BA-2               | EUR 100.00 | 2026-02-02
        3              | BA-3               | CHF 100.00 | 2026-02-02
    """
    one = run(bookings, exchange_rate_date=dt.date(2026, 1, 20), exchange_rates=rates)
    expect(one.invoices, """
        invoice_to_bp | currency | exchange_rate_date | exchange_rate_1
        BA-1          | USD      | 2025-12-01         | 0.8
        BA-2          | EUR      | 2026-01-10         | 0.95
        BA-3          | CHF      | 2026-01-20         | 1
    """)
    two = run(bookings.replace("USD 100.00", "JPY 10000"), CHF_EUR,
              exchange_rate_date=dt.date(2026, 1, 31), exchange_rates=rates)
    # JPY→CHF and JPY→EUR of 2026-01-26; EUR→CHF of 2026-01-26 (EUR→EUR is no rate);
    # CHF→EUR of 2026-01-26 (CHF→CHF is none)
    expect(two.invoices, """
        invoice_to_bp | currency | exchange_rate_date
        BA-1          | JPY      | 2026-01-26
        BA-2          | EUR      | 2026-01-26
        BA-3          | CHF      | 2026-01-26
    """)
    only_own = run(bookings.replace("USD 100.00", "CHF 5.00").replace("EUR", "CHF"),
                   exchange_rate_date=dt.date(2026, 1, 31), exchange_rates=rates)
    assert set(only_own.invoices["exchange_rate_date"]) == {pd.Timestamp("2026-01-31")}


def test_line_home_amounts_add_up_to_the_invoice_home_net():
    # three lines of EUR 33.33 at 0.93: each 30.9969, the invoice 99.99 → 92.99;
    # allocated 31.00 + 31.00 + 30.99 (not 31.00 × 3 = 93.00)
    r = run("""
        booking_number | country     | price     | service_begin
        1              | Deutschland | EUR 33.33 | 2026-02-02
        2              | Deutschland | EUR 33.33 | 2026-02-02
        3              | Deutschland | EUR 33.33 | 2026-02-02
    """, CHF_EUR)
    expect(r.lines, """
        booking_number | net_amount | home_currency_1 | net_amount_hc_1 | home_currency_2 | net_amount_hc_2
        1              | 33.33      | CHF             | 31.00           | EUR             | 33.33
        2              | 33.33      | CHF             | 31.00           | EUR             | 33.33
        3              | 33.33      | CHF             | 30.99           | EUR             | 33.33
    """)
    expect(r.invoices, """
        net_amount | net_amount_hc_1
        99.99      | 92.99
    """)
    check_invariants(r)


def test_one_home_currency_leaves_the_other_columns_blank():
    r = run("""
        booking_number | price
        1              | CHF 10.00
    """)
    expect(r.invoices, """
        home_currency_1 | home_currency_2 | exchange_rate_2 | net_amount_hc_2 | home_currency_3 | invoice_amount_hc_3
        CHF             |                 |                 |                 |                 |
    """)
    expect(r.lines, """
        net_amount_hc_1 | net_amount_hc_2 | net_amount_hc_3
        10.00           |                 |
    """)


def test_rates_table_text_is_exact():
    rates = tables(exchange_rates=RATES)["exchange_rates"]
    assert rates["rate"].tolist() == [940000, 930000, 950000, 568300]
    assert rates["factor"].tolist() == [1, 1, 1, 100]


def test_customer_rate_type_chooses_the_rates():
    customers = f"""
        {CUSTOMERS_HEADER}
        BA-M              | BP-M             |               |        | de       | MONTH              |
        BA-X              | BP-X             |               |        | de       | BANK               |
    """
    rates = EXCHANGE_RATES + "    MONTH | EUR | CHF | 2026-01-01 | 0.950000 | 1\n"
    r = run("""
        booking_number | billing_address_id | price      | service_begin
        1              | BA-M               | EUR 100.00 | 2026-02-02
        2              | BA-E               | EUR 100.00 | 2026-02-02
        3              | BA-X               | EUR 100.00 | 2026-02-02
    """, customers=customers, exchange_rates=rates)
    expect(r.invoices, """
        invoice_to_bp | exchange_rate_type | exchange_rate_1 | net_amount_hc_1
        BA-E          | ECB                | 0.93            | 93.00
        BP-M          | MONTH              | 0.95            | 95.00
    """)
    assert problems_of(r) == [("3", "NO_EXCHANGE_RATE")]
    assert r.problems["detail"].tolist() == ["EUR→CHF (BANK)"]
    # a MONTH rate from 2026-01-01 is 30 days old on 2026-01-31: flagged as stale
    assert ("flags", "stale_exchange_rate", "EUR", "EUR→CHF MONTH 2026-01-01") in r.notes


def _lookup_by_merge_asof(wanted: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """The plain reference of lookup_rates: pandas' merge_asof, backward, by the three keys."""
    keys = ["rate_type", "from_currency", "to_currency"]
    wanted = wanted.reset_index(drop=True).assign(
        _pos=lambda f: np.arange(len(f)), date=lambda f: f["date"].astype("datetime64[ns]"),
        **{c: (lambda f, c=c: f[c].astype("str")) for c in keys})
    rates = rates.assign(valid_from=rates["valid_from"].astype("datetime64[ns]"),
                         **{c: rates[c].astype("str") for c in keys})
    found = pd.merge_asof(wanted.sort_values("date"), rates.sort_values("valid_from")[
        [*keys, "valid_from", "rate", "factor"]], left_on="date", right_on="valid_from",
        by=keys, direction="backward").sort_values("_pos").reset_index(drop=True)
    same = (found["from_currency"] == found["to_currency"]).to_numpy()
    found["rate"] = found["rate"].astype("Int64").where(~same, money.RATE_SCALE)
    found["factor"] = found["factor"].astype("Int64").where(~same, 1)
    found["valid_from"] = found["valid_from"].where(~same, found["date"])
    return found.drop(columns="_pos")


_DAYS = st.integers(0, 40).map(lambda d: pd.Timestamp("2026-01-01") + pd.Timedelta(days=d))
_KEY = st.tuples(st.sampled_from(["ECB", "MONTH"]), st.sampled_from(["EUR", "CHF", "JPY"]),
                 st.sampled_from(["CHF", "EUR"]))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.tuples(_KEY, _DAYS), st.tuples(st.integers(1, 10**7),
                                                         st.sampled_from([1, 100]))),
       st.data())
def test_the_binary_search_finds_the_rows_merge_asof_finds(table, data):
    # asked: any key on any day, and the table's own keys on, just after and before its days
    near = ([st.sampled_from(sorted(table)).map(
        lambda kd, s=shift: (kd[0], kd[1] + pd.Timedelta(days=s))) for shift in (0, 1, -1)]
        if table else [])
    asked = data.draw(st.lists(st.one_of(
        st.tuples(_KEY, _DAYS | st.just(pd.Timestamp("2025-06-01"))), *near), max_size=12))
    rates = pd.DataFrame(
        [(*k, d, r, f) for (k, d), (r, f) in table.items()],
        columns=["rate_type", "from_currency", "to_currency", "valid_from", "rate", "factor"]
    ).astype({"rate_type": "str", "from_currency": "str", "to_currency": "str",
              "valid_from": "datetime64[ns]", "rate": "Int64", "factor": "Int64"})
    wanted = pd.DataFrame([(*k, d) for k, d in asked],
                          columns=["rate_type", "from_currency", "to_currency", "date"]
                          ).astype({"date": "datetime64[ns]"})
    got, expected = lookup_rates(wanted, rates), _lookup_by_merge_asof(wanted, rates)
    assert list(got.columns) == list(expected.columns)
    for c in expected:
        assert got[c].dtype == expected[c].dtype, c
        assert got[c].equals(expected[c]), (c, got[c].tolist(), expected[c].tolist())
