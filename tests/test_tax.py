"""Tax code, rate and amount (DESIGN.md §4 tax_codes/tax_rules, §5 "Tax").

Property tests compare transforms.tax with Python's ``decimal`` in both rounding modes
(ROUND_HALF_UP and ROUND_HALF_EVEN); the domain
tests run small booking tables through the pipeline (harness in test_compose_billable.py).
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms import money
from transforms.tax import HUNDRED_PERCENT, net_from_gross, tax_amounts

sys.path.insert(0, str(Path(__file__).parent))
from test_compose_billable import (COMPANY, TAX_CODES, TAX_RULES, check_exact,  # noqa: E402
                                   check_invariants, expect, problems_of, run)
from schemas.settings import SettingError, parse_settings  # noqa: E402

SETTINGS = settings(deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

#: rates an accountant meets: 0, CH 2.5/2.6/3.7/3.8/7.7/8.0/8.1, DE 5/7/16/19
RATES = [0, 25000, 26000, 37000, 38000, 77000, 80000, 81000, 50000, 70000, 160000, 190000]
rates = st.one_of(st.sampled_from(RATES), st.integers(0, 100 * money.PERCENT_SCALE))


#: the company's rounding mode and the ``decimal`` rounding it must equal
DECIMAL_MODE = {money.HALF_UP: ROUND_HALF_UP, money.HALF_EVEN: ROUND_HALF_EVEN}
modes = st.sampled_from(sorted(DECIMAL_MODE))


def d_round(x: Decimal, mode: str = money.HALF_UP) -> int:
    return int(x.quantize(Decimal(1), rounding=DECIMAL_MODE[mode]))


def percent(rate: int) -> Decimal:
    return Decimal(rate) / money.PERCENT_SCALE


def test_percent_scale():
    assert HUNDRED_PERCENT == 100 * money.PERCENT_SCALE == 1_000_000


# ---------------------------------------------------------------------------------------------
# tax_amounts: "invoice" and "line" rounding
# ---------------------------------------------------------------------------------------------

groups_of_lines = st.lists(
    st.tuples(rates, st.lists(st.integers(0, 10**10), min_size=1, max_size=6), st.booleans()),
    min_size=1, max_size=5)


def _flatten(groups):
    net, rate, group = [], [], []
    for g, (r, nets, credit) in enumerate(groups):
        for n in nets:
            net.append(-n if credit else n)  # a credit note has only negative lines
            rate.append(r)
            group.append(f"inv{g}")
    return np.array(net, dtype=np.int64), np.array(rate, dtype=np.int64), np.array(group)


@SETTINGS
@given(groups_of_lines, modes)
def test_invoice_rounding_rounds_once_per_invoice_and_rate(groups, mode):
    net, rate, group = _flatten(groups)
    tax = tax_amounts(net, rate, group, "invoice", mode)
    assert tax.dtype == np.int64
    with localcontext() as c:
        c.prec = 60
        for g, (r, _, _) in enumerate(groups):
            mine = group == f"inv{g}"
            total_net = int(net[mine].sum())
            expected = d_round(Decimal(total_net) * percent(r) / 100, mode)
            assert int(tax[mine].sum()) == expected  # Σ lines = round(Σ net × rate / 100)
            for n, t in zip(net[mine].tolist(), tax[mine].tolist()):
                share = Fraction(expected * n, total_net) if total_net else Fraction(0)
                assert abs(t - share) < 1  # largest remainder: within one unit of its share


@SETTINGS
@given(groups_of_lines, modes)
def test_line_rounding_rounds_every_line(groups, mode):
    net, rate, group = _flatten(groups)
    tax = tax_amounts(net, rate, group, "line", mode)
    with localcontext() as c:
        c.prec = 60
        assert tax.tolist() == [d_round(Decimal(int(n)) * percent(int(r)) / 100, mode)
                                for n, r in zip(net, rate)]


@SETTINGS
@given(groups_of_lines, st.sampled_from(["invoice", "line"]), modes)
def test_tax_of_a_credit_note_is_the_exact_negation(groups, rounding, mode):
    net, rate, group = _flatten(groups)
    assert tax_amounts(-net, rate, group, rounding, mode).tolist() == \
        (-tax_amounts(net, rate, group, rounding, mode)).tolist()


def test_half_to_even_on_an_exact_half_cent():
    # CHF 5.00 at 8.1 % is 0.405 exactly: half away from zero 0.41, half to even 0.40;
    # CHF 15.00 is 1.215: 1.22 both ways (2 is even)
    net, rate = np.array([500, -500, 1500]), np.array([81000] * 3)
    for rounding in ("line", "invoice"):
        group = np.array(["a", "b", "c"])
        assert tax_amounts(net, rate, group, rounding, money.HALF_UP).tolist() == [41, -41, 122]
        assert tax_amounts(net, rate, group, rounding, money.HALF_EVEN).tolist() == [40, -40, 122]


def test_invoice_and_line_rounding_differ_on_three_small_lines():
    # three course materials of CHF 10.05 at 8.1 %:
    #   per line 10.05 × 8.1 % = 0.81405 → 0.81, three lines → 2.43
    #   per invoice 30.15 × 8.1 % = 2.44215 → 2.44, allocated 0.82 + 0.81 + 0.81
    net = np.array([1005, 1005, 1005])
    rate = np.array([81000] * 3)
    assert tax_amounts(net, rate, np.array(["a"] * 3), "line").tolist() == [81, 81, 81]
    assert tax_amounts(net, rate, np.array(["a"] * 3), "invoice").tolist() == [82, 81, 81]


# ---------------------------------------------------------------------------------------------
# net_from_gross: prices that include tax
# ---------------------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.tuples(st.integers(-(10**12), 10**12), rates), min_size=1, max_size=10), modes)
def test_net_from_gross_matches_decimal(pairs, mode):
    gross = np.array([g for g, _ in pairs], dtype=np.int64)
    rate = np.array([r for _, r in pairs], dtype=np.int64)
    got = net_from_gross(gross, rate, mode)
    with localcontext() as c:
        c.prec = 60
        assert got.tolist() == [d_round(Decimal(g) * 100 / (100 + percent(r)), mode)
                                for g, r in pairs]
    tax = gross - got
    # the tax of a gross price never exceeds what the rate gives on the net, by more than a unit
    for g, n, t, r in zip(gross.tolist(), got.tolist(), tax.tolist(), rate.tolist()):
        assert abs(Fraction(n) * Fraction(r, HUNDRED_PERCENT) - t) <= 1


@pytest.mark.parametrize("gross,rate,net", [
    ("1081.00", 81000, "1000.00"),
    ("100.00", 81000, "92.51"),  # 100 / 1.081 = 92.5069…
    ("100.00", 77000, "92.85"),  # 100 / 1.077 = 92.8505…
    ("119.00", 190000, "100.00"),
    ("50.00", 0, "50.00"),
])
def test_net_from_gross_examples(gross, rate, net):
    g, _ = money.to_minor([gross], [2])
    n, _ = money.to_minor([net], [2])
    assert net_from_gross(g, np.array([rate])).tolist() == n.tolist()


# ---------------------------------------------------------------------------------------------
# In the pipeline
# ---------------------------------------------------------------------------------------------

MATERIALS = """
    booking_number | price     | service_begin
    1              | CHF 10.05 | 2026-02-02
    2              | CHF 10.05 | 2026-02-02
    3              | CHF 10.05 | 2026-02-02
"""


def test_invoice_tax_rounding_in_a_run():
    r = run(MATERIALS)
    expect(r.lines, """
        booking_number | net_amount | tax_code | tax_rate | tax_amount | line_amount
        1              | 10.05      | CH-N     | 8.1      | 0.82       | 10.87
        2              | 10.05      | CH-N     | 8.1      | 0.81       | 10.86
        3              | 10.05      | CH-N     | 8.1      | 0.81       | 10.86
    """)
    expect(r.taxes, """
        tax_code | tax_rate | tax_base | tax_amount
        CH-N     | 8.1      | 30.15    | 2.44
    """)
    expect(r.invoices, """
        net_amount | tax_amount | invoice_amount
        30.15      | 2.44       | 32.59
    """)
    check_invariants(r)


def test_line_tax_rounding_in_a_run():
    company = replace(COMPANY, tax_rounding="line")
    r = run(MATERIALS, company)
    expect(r.lines, """
        booking_number | net_amount | tax_amount
        1              | 10.05      | 0.81
        2              | 10.05      | 0.81
        3              | 10.05      | 0.81
    """)
    expect(r.taxes, """
        tax_code | tax_rate | tax_base | tax_amount
        CH-N     | 8.1      | 30.15    | 2.43
    """)
    expect(r.invoices, """
        net_amount | tax_amount | invoice_amount
        30.15      | 2.43       | 32.58
    """)
    check_invariants(r)
    check_exact(r, company)


def test_prices_that_include_tax():
    company = replace(COMPANY, prices_include_tax=True)
    r = run("""
        booking_number | price       | service_begin
        1              | CHF 1081.00 | 2026-02-02
        2              | CHF 100.00  | 2026-02-02
        3              | CHF 100.00  | 2023-11-06
    """, company)
    expect(r.lines, """
        booking_number | unit_price | net_amount | tax_rate | tax_amount | line_amount
        1              | 1081.00    | 1000.00    | 8.1      | 81.00      | 1081.00
        2              | 100.00     | 92.51      | 8.1      | 7.49       | 100.00
        3              | 100.00     | 92.85      | 7.7      | 7.15       | 100.00
    """)
    expect(r.taxes, """
        tax_code | tax_rate | tax_base | tax_amount
        CH-N     | 7.7      | 92.85    | 7.15
        CH-N     | 8.1      | 1092.51  | 88.49
    """)
    expect(r.invoices, """
        net_amount | tax_amount | invoice_amount
        1185.36    | 95.64      | 1281.00
    """)
    check_invariants(r)
    check_exact(r, company)


def test_german_rate_cut_in_the_second_half_of_2020():
    r = run("""
        booking_number | country     | price      | service_begin
        1              | Deutschland | EUR 100.00 | 2020-06-30
        2              | Deutschland | EUR 100.00 | 2020-07-01
        3              | Deutschland | EUR 100.00 | 2020-12-31
        4              | Deutschland | EUR 100.00 | 2021-01-01
    """, replace(COMPANY, combine=False, tax_period_date="service_begin"))
    expect(r.lines, """
        booking_number | tax_code | tax_rate | tax_amount
        1              | DE-19    | 19       | 19.00
        2              | DE-19    | 16       | 16.00
        3              | DE-19    | 16       | 16.00
        4              | DE-19    | 19       | 19.00
    """)
    # the period follows the service here (German Soll-Besteuerung of one-day services)
    expect(r.invoices, """
        tax_date   | tax_year | tax_period | tax_amount
        2020-06-30 | 2020     | 2          | 19.00
        2020-07-01 | 2020     | 3          | 16.00
        2020-12-31 | 2020     | 4          | 16.00
        2021-01-01 | 2021     | 1          | 19.00
    """)
    assert not [n for n in r.notes if n[1] == "tax_rate_change"]


SWISS_2024 = """
    booking_number | order_date | service_begin | price
    1              | 2023-12-01 | 2023-12-15    | CHF 1000.00
    2              | 2023-12-01 | 2024-02-05    | CHF 1000.00
    3              | 2023-12-01 |               | CHF 1000.00
"""


@pytest.mark.parametrize("basis,rates", [
    # service begin; a missing service date falls back to the invoice date (2024-01-10)
    ("service_begin", ["7.7", "8.1", "8.1"]),
    ("order_date", ["7.7", "7.7", "7.7"]),
    ("invoice_date", ["8.1", "8.1", "8.1"]),
])
def test_swiss_rate_change_by_tax_rate_date(basis, rates):
    company = replace(COMPANY, combine=False, tax_rate_date=basis)
    r = run(SWISS_2024, company, invoice_date=dt.date(2024, 1, 10))
    taxes = {"7.7": "77.00", "8.1": "81.00"}
    expect(r.lines, "booking_number | tax_rate | tax_amount\n" + "\n".join(
        f"{i} | {rate} | {taxes[rate]}" for i, rate in enumerate(rates, 1)))
    # whatever decides the rate, the tax period is the invoice's (agreed consideration)
    expect(r.invoices, "tax_date | tax_year | tax_period | tax_amount\n" + "\n".join(
        f"2024-01-10 | 2024 | 1 | {taxes[rate]}" for rate in rates))
    check_invariants(r)


def test_invoice_straddling_a_rate_change_is_flagged():
    r = run(SWISS_2024, invoice_date=dt.date(2024, 1, 10))
    assert len(r.invoices) == 1
    expect(r.taxes, """
        tax_code | tax_rate | tax_base | tax_amount
        CH-N     | 7.7      | 1000.00  | 77.00
        CH-N     | 8.1      | 2000.00  | 162.00
    """)
    flags = [n for n in r.notes if n[1] == "tax_rate_change"]
    assert flags == [("flags", "tax_rate_change", None, r.invoices["composition_reference"][0])]
    check_invariants(r)


def test_invoice_within_one_rate_is_not_flagged():
    r = run(MATERIALS)
    assert not [n for n in r.notes if n[1] == "tax_rate_change"]


def test_tax_rules_first_match_wins_and_no_match_rejects():
    r = run("""
        booking_number | cost_center | country     | price      | service_begin
        1              | KST-200     | Schweiz     | CHF 100.00 | 2026-02-02
        2              | KST-100     | Schweiz     | CHF 100.00 | 2026-02-02
        3              |             | Japan       | CHF 100.00 | 2026-02-02
        4              | KST-100     | Frankreich  | CHF 100.00 | 2026-02-02
        5              | KST-100     |             | CHF 100.00 | 2026-02-02
    """, replace(COMPANY, combine=False))
    expect(r.lines, """
        booking_number | tax_code | tax_rate | tax_amount
        1              | CH-R     | 2.6      | 2.60
        2              | CH-N     | 8.1      | 8.10
        3              | EXP      | 0        | 0.00
    """)
    assert problems_of(r) == [("4", "NO_TAX_RULE"), ("5", "NO_TAX_RULE")]
    p = r.problems.set_index("booking_number")
    assert p.loc["4", "value"] == "KST-100 /  / Frankreich"
    check_invariants(r)


def test_tax_code_without_a_rate_on_the_tax_date_is_rejected():
    codes = TAX_CODES + "    OLD | CH | 6.5 | 2000-01-01 | 2010-12-31 | abgelaufen\n"
    rules = TAX_RULES.replace("cost_center | product_ref | country | tax_code | description\n",
                              "cost_center | product_ref | country | tax_code | description\n"
                              "    KST-OLD |  |  | OLD | alt\n")
    r = run("""
        booking_number | cost_center | price      | service_begin
        1              | KST-OLD     | CHF 100.00 | 2009-05-04
        2              | KST-OLD     | CHF 100.00 | 2026-02-02
    """, replace(COMPANY, combine=False), tax_codes=codes, tax_rules=rules)
    expect(r.lines, """
        booking_number | tax_code | tax_rate | tax_amount
        1              | OLD      | 6.5      | 6.50
    """)
    assert problems_of(r) == [("2", "NO_TAX_RATE")]
    p = r.problems.iloc[0]
    assert (p["detail"], p["value"]) == ("OLD", "2026-02-02")


def test_tax_rule_patterns_on_product_reference():
    codes = TAX_CODES + "    DE-X | DE | 0 | 1900-01-01 |  | steuerfrei\n"
    rules = TAX_RULES.replace("cost_center | product_ref | country | tax_code | description\n",
                              "cost_center | product_ref | country | tax_code | description\n"
                              "    | RW-KOMPAKT* | DE | DE-X | Lehrgang steuerfrei\n")
    r = run("""
        booking_number | product_ref      | country     | price      | service_begin
        1              | RW-KOMPAKT-2026  | Deutschland | EUR 100.00 | 2026-02-02
        2              | RW-KOMPAKT       | Deutschland | EUR 100.00 | 2026-02-02
        3              | XRW-KOMPAKT      | Deutschland | EUR 100.00 | 2026-02-02
        4              | RW-KOMPAKT-2026  | Schweiz     | EUR 100.00 | 2026-02-02
    """, replace(COMPANY, combine=False), tax_codes=codes, tax_rules=rules)
    expect(r.lines, """
        booking_number | tax_code | tax_rate | tax_amount
        1              | DE-X     | 0        | 0.00
        2              | DE-X     | 0        | 0.00
        3              | DE-19    | 19       | 19.00
        4              | CH-N     | 8.1      | 8.10
    """)


# ---------------------------------------------------------------------------------------------
# Rate date and tax period date: two settings
# ---------------------------------------------------------------------------------------------

# invoiced 2026-10-30 (Q4); a course held before, one held across the year end, one later
COURSES = """
    booking_number | order_date | service_begin | service_end | price
    1              | 2026-05-04 | 2026-06-15    | 2026-06-19  | CHF 1000.00
    2              | 2026-09-01 | 2026-12-07    | 2027-02-26  | CHF 1000.00
    3              | 2026-10-01 | 2027-01-11    | 2027-03-19  | CHF 1000.00
    4              | 2026-10-02 |               |             | CHF 1000.00
"""
CH_2027 = TAX_CODES.replace("    CH-N     | CH      | 8.1  | 2024-01-01 |            |",
                            "    CH-N     | CH      | 8.1  | 2024-01-01 | 2026-12-31 |") \
    + "    CH-N | CH | 8.8 | 2027-01-01 | | MWST Normalsatz (angenommen)\n"


@pytest.mark.parametrize("rate_date,period_date,rates,tax_dates,periods", [
    # the defaults: rate by the service's begin, period by the invoice (MWSTG art. 40)
    ("service_begin", "invoice_date", ["8.1", "8.1", "8.8", "8.1"],
     ["2026-10-30"] * 4, ["2026/4"] * 4),
    # rate and period by the end of the service (German Soll-Besteuerung, UStG § 13)
    ("service_end", "service_end", ["8.1", "8.8", "8.8", "8.1"],
     ["2026-06-19", "2027-02-26", "2027-03-19", "2026-10-30"],
     ["2026/2", "2027/1", "2027/1", "2026/4"]),
    ("order_date", "service_begin", ["8.1", "8.1", "8.1", "8.1"],
     ["2026-06-15", "2026-12-07", "2027-01-11", "2026-10-30"],
     ["2026/2", "2026/4", "2027/1", "2026/4"]),
    ("invoice_date", "order_date", ["8.1", "8.1", "8.1", "8.1"],
     ["2026-05-04", "2026-09-01", "2026-10-01", "2026-10-02"],
     ["2026/2", "2026/3", "2026/4", "2026/4"]),
])
def test_rate_date_and_period_date_are_decided_separately(rate_date, period_date, rates,
                                                          tax_dates, periods):
    company = replace(COMPANY, combine=False, tax_rate_date=rate_date,
                      tax_period_date=period_date)
    r = run(COURSES, company, invoice_date=dt.date(2026, 10, 30), tax_codes=CH_2027)
    assert r.lines["booking_number"].tolist() == ["1", "2", "3", "4"]
    taxes = {"8.1": "81.00", "8.8": "88.00"}
    expect(r.lines, "booking_number | tax_rate | tax_amount\n" + "\n".join(
        f"{i} | {rate} | {taxes[rate]}" for i, rate in enumerate(rates, 1)))
    expect(r.invoices, "tax_date | tax_year | tax_period\n" + "\n".join(
        f"{d} | {p.replace('/', ' | ')}" for d, p in zip(tax_dates, periods)))
    check_invariants(r)


def test_one_invoice_is_in_the_period_of_its_latest_line():
    company = replace(COMPANY, tax_rate_date="service_begin", tax_period_date="service_end")
    r = run(COURSES, company, invoice_date=dt.date(2026, 10, 30), tax_codes=CH_2027)
    expect(r.invoices, """
        tax_date   | tax_year | tax_period
        2027-03-19 | 2027     | 1
    """)


def test_defaults_keep_each_rate_put_the_invoice_in_its_period_and_flag_the_change():
    r = run(COURSES, invoice_date=dt.date(2026, 10, 30), tax_codes=CH_2027)
    expect(r.taxes, """
        tax_code | tax_rate | tax_base | tax_amount
        CH-N     | 8.1      | 3000.00  | 243.00
        CH-N     | 8.8      | 1000.00  | 88.00
    """)
    expect(r.invoices, """
        tax_date   | tax_year | tax_period
        2026-10-30 | 2026     | 4
    """)
    assert [n[1] for n in r.notes if n[1] == "tax_rate_change"] == ["tax_rate_change"]


BASE = {"code": "100", "name": "X", "home_currencies": ["CHF"]}


@pytest.mark.parametrize("old,rate_date", [("service_date", "service_begin"),
                                           ("order_date", "order_date"),
                                           ("invoice_date", "invoice_date")])
def test_deprecated_tax_date_basis_names_the_rate_date_only(old, rate_date):
    s = parse_settings({**BASE, "tax_date_basis": old})
    assert (s.tax_rate_date, s.tax_period_date) == (rate_date, "invoice_date")
    assert s.tax_date_basis == old  # still readable under the old name


def test_tax_date_basis_and_tax_rate_date_together_is_an_error():
    with pytest.raises(SettingError, match="tax_date_basis"):
        parse_settings({**BASE, "tax_date_basis": "service_date",
                        "tax_rate_date": "service_end"})
    with pytest.raises(SettingError, match="tax_period_date"):
        parse_settings({**BASE, "tax_period_date": "payment_date"})


def test_sample_configurations_still_load():
    from flows.config import load_config, load_group
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    assert load_config(sample).settings.tax_rate_date == "service_begin"
    group = load_group(sample / "group.toml")  # company_200 takes its tables from the group
    assert [(m.config.settings.tax_rate_date, m.config.settings.tax_period_date)
            for m in group.members] == [("service_begin", "invoice_date")] * 2


def test_half_to_even_company_in_a_run():
    # CHF 5.00 at 8.1 % = 0.405 and CHF 15.00 = 1.215; Tryton-like ERPs round half to even
    bookings = """
        booking_number | price     | service_begin
        1              | CHF 5.00  | 2026-02-02
        2              | CHF 15.00 | 2026-02-02
    """
    for mode, taxes in ((money.HALF_UP, ["0.41", "1.22"]), (money.HALF_EVEN, ["0.40", "1.22"])):
        company = replace(COMPANY, combine=False, rounding=mode)
        r = run(bookings, company)
        expect(r.lines, "booking_number | tax_amount\n" + "\n".join(
            f"{i} | {t}" for i, t in enumerate(taxes, 1)))
        check_invariants(r)
        check_exact(r, company)
    assert parse_settings({**BASE, "rounding": "half_even"}).rounding == money.HALF_EVEN
    with pytest.raises(SettingError, match="rounding"):
        parse_settings({**BASE, "rounding": "ROUND_HALF_EVEN"})
