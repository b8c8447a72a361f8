"""Deferred revenue (transforms/deferrals.py): each line's net over the months of its service.

Property tests check the spread against an exact reference (``decimal`` / ``fractions``): the
parts of a line add up to its net, each within one minor unit of its share by days, and the
same input gives the same table. The domain tests run small booking tables through the
pipeline (harness in test_compose_billable.py) and read the sheet's frame.
"""

from __future__ import annotations

import calendar
import datetime as dt
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import examples
from schemas.workbook import DEFERRALS, SHEETS, VALUE_LABELS, workbook_sheets
from transforms.deferrals import deferral_table
from transforms.billing import output_tables

sys.path.insert(0, str(Path(__file__).parent))
from test_compose_billable import _KINDS, COMPANY, expect, run  # noqa: E402

for _c in DEFERRALS.cols:  # so that expect() shows the sheet's amounts in their currency
    _KINDS.setdefault(_c.id, (_c.kind, _c.currency))

SETTINGS = settings(max_examples=examples(0.75), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def ref_days(begin: dt.date, end: dt.date) -> list[tuple[dt.date, int]]:
    """(first of month, service days in it), counted day by day."""
    out: dict[dt.date, int] = {}
    d = begin
    while d <= end:
        key = d.replace(day=1)
        out[key] = out.get(key, 0) + 1
        d += dt.timedelta(days=1)
    return sorted(out.items())


line_strategy = st.tuples(
    st.integers(-(10**12), 10**12),  # net in minor units (a credit note's line is negative)
    st.dates(dt.date(2019, 1, 1), dt.date(2030, 12, 31)),  # service begin
    st.one_of(st.none(), st.integers(0, 800)),  # service length in days (none: no end)
    st.booleans(),  # without any service date
    st.sampled_from(["CHF", "EUR", "JPY"]),
)


def frames(rows, invoice_date=dt.date(2026, 10, 30), start_month=1):
    begin, end = [], []
    for _, b, length, undated, _ in rows:
        begin.append(None if undated else b)
        end.append(None if undated or length is None else b + dt.timedelta(days=length))
    lines = pd.DataFrame({
        "invoice_number": ["R1"] * len(rows),
        "line_number": list(range(1, len(rows) + 1)),
        "booking_number": [str(100 + i) for i in range(len(rows))],
        "service_begin": pd.to_datetime(pd.Series(begin, dtype="object")).astype("datetime64[ns]"),
        "service_end": pd.to_datetime(pd.Series(end, dtype="object")).astype("datetime64[ns]"),
        "net_amount": [n for n, *_ in rows],
        "currency": [c for *_, c in rows],
    })
    inv_date = pd.Timestamp(invoice_date)
    fp = (inv_date.month - start_month) % 12 + 1
    fy = inv_date.year if inv_date.month >= start_month else inv_date.year - 1
    invoices = pd.DataFrame({"invoice_number": ["R1"], "invoice_date": [inv_date],
                             "fiscal_year": [fy], "fiscal_period": [fp]})
    return lines, invoices


@SETTINGS
@given(st.lists(line_strategy, min_size=1, max_size=6))
def test_each_lines_spread_is_exact_and_within_one_unit_of_its_share(rows):
    lines, invoices = frames(rows)
    t = deferral_table(lines, invoices, 1)
    detail = t[t["deferral_row"] == "line"]
    for i, (net, begin, length, undated, _) in enumerate(rows, start=1):
        mine = detail[detail["line_number"] == i]
        parts = mine["net_amount"].tolist()
        assert sum(parts) == net  # the spread adds up to the net, to the unit
        if undated or length is None:
            month = (dt.date(2026, 10, 1) if undated else begin.replace(day=1))
            assert mine["month"].dt.date.tolist() == [month] and parts == [net]
            assert mine["days"].isna().all()
            continue
        want = ref_days(begin, begin + dt.timedelta(days=length))
        assert list(zip(mine["month"].dt.date, mine["days"].astype(int))) == want
        total_days = length + 1
        for (_, days), part in zip(want, parts):
            share = Fraction(net * days, total_days)
            assert abs(part - share) < 1  # within one minor unit of the exact share
            # and never on the far side of zero from the net
            assert part == 0 or (part > 0) == (net > 0)


@settings(max_examples=examples(0.25), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line_strategy, min_size=1, max_size=6), st.integers(1, 12))
def test_totals_per_fiscal_period_equal_the_lines_and_the_table_is_deterministic(rows, start):
    lines, invoices = frames(rows, start_month=start)
    t = deferral_table(lines, invoices, start)
    assert t.equals(deferral_table(lines.copy(), invoices.copy(), start))
    detail, totals = t[t["deferral_row"] == "line"], t[t["deferral_row"] == "total"]
    for cur, group in lines.groupby("currency"):
        assert totals.loc[totals["currency"] == cur, "net_amount"].sum() == \
            group["net_amount"].sum()
    sums = detail.groupby(["currency", "fiscal_year", "fiscal_period"])[
        ["net_amount", "deferred_amount"]].sum().reset_index()
    assert sums.values.tolist() == totals[["currency", "fiscal_year", "fiscal_period",
                                           "net_amount", "deferred_amount"]].values.tolist()
    inv_fy, inv_fp = invoices.loc[0, "fiscal_year"], invoices.loc[0, "fiscal_period"]
    for r in detail.itertuples():
        # the fiscal calendar: a year is named by the calendar year it starts in
        first = dt.date(r.fiscal_year, start, 1)
        m = r.month.date()
        assert (m.year - first.year) * 12 + m.month - first.month + 1 == r.fiscal_period
        later = (r.fiscal_year, r.fiscal_period) > (inv_fy, inv_fp)
        assert r.deferred_amount == (r.net_amount if later else 0)


def test_course_held_after_the_invoice_is_deferred_by_days():
    # invoiced 30.10.2026, held 11.01.–19.03.2027: 21 + 28 + 19 = 68 days; 1000.00 × 21/68 =
    # 308.8235…, × 28/68 = 411.7647…, × 19/68 = 279.4117…: the cent left goes to February
    lines, invoices = frames([(100000, dt.date(2027, 1, 11), 67, False, "CHF")])
    t = deferral_table(lines, invoices, 1)
    got = t[["deferral_row", "fiscal_year", "fiscal_period", "days", "net_amount",
             "deferred_amount"]].astype("object").where(t.notna(), None).values.tolist()
    assert got == [
        ["line", 2027, 1, 21, 30882, 30882],
        ["line", 2027, 2, 28, 41177, 41177],
        ["line", 2027, 3, 19, 27941, 27941],
        ["total", 2027, 1, None, 30882, 30882],
        ["total", 2027, 2, None, 41177, 41177],
        ["total", 2027, 3, None, 27941, 27941],
    ]


def _deferrals(bookings, company, **kw):
    r = run(bookings, company, **kw)
    return r, output_tables(r.billing, "de", company)


COURSES = """
    booking_number | price       | service_begin | service_end
    1              | CHF 1000.00 | 2026-01-12    | 2026-01-16
    2              | CHF 900.00  | 2026-01-19    | 2026-03-31
    3              | CHF 50.00   |               |
    4              | CHF 300.00  | 2025-12-29    |
"""


def test_deferrals_in_a_run():
    # invoice date 2026-01-31, fiscal year from July: January is 2025 / 7
    company = replace(COMPANY, deferrals=True, fiscal_year_start_month=7)
    r, out = _deferrals(COURSES, company)
    expect(out["deferrals"], """
        deferral_row | booking_number | month      | fiscal_year | fiscal_period | days | net_amount | deferred_amount
        line         | 1              | 2026-01-01 | 2025        | 7             | 5    | 1000.00    | 0.00
        line         | 2              | 2026-01-01 | 2025        | 7             | 13   | 162.50     | 0.00
        line         | 2              | 2026-02-01 | 2025        | 8             | 28   | 350.00     | 350.00
        line         | 2              | 2026-03-01 | 2025        | 9             | 31   | 387.50     | 387.50
        line         | 3              | 2026-01-01 | 2025        | 7             |      | 50.00      | 0.00
        line         | 4              | 2025-12-01 | 2025        | 6             |      | 300.00     | 0.00
        total        |                | 2025-12-01 | 2025        | 6             |      | 300.00     | 0.00
        total        |                | 2026-01-01 | 2025        | 7             |      | 1212.50    | 0.00
        total        |                | 2026-02-01 | 2025        | 8             |      | 350.00     | 350.00
        total        |                | 2026-03-01 | 2025        | 9             |      | 387.50     | 387.50
    """)
    d = out["deferrals"]
    totals = d[d["deferral_row"] == "total"]
    assert totals["net_amount"].sum() == out["lines"]["net_amount"].sum()
    assert set(d.loc[d["deferral_row"] == "line", "invoice_number"]) == \
        set(out["invoices"]["invoice_number"])
    DEFERRALS.schema().validate(d)


def test_deferrals_are_off_by_default_and_the_sheet_sits_after_taxes():
    r, out = _deferrals(COURSES, COMPANY)
    assert "deferrals" not in out
    assert workbook_sheets(out) == SHEETS
    on = output_tables(r.billing, "de", replace(COMPANY, deferrals=True))
    names = [s.id for s in workbook_sheets(on)]
    assert names[names.index("taxes") + 1] == "deferrals"
    assert VALUE_LABELS["deferral_row"]["total"] == ("Summe Periode", "Period total")


def test_a_credit_of_a_spread_line_is_its_exact_negation():
    lines, invoices = frames([(12345, dt.date(2026, 3, 17), 45, False, "EUR")])
    neg = lines.assign(net_amount=-lines["net_amount"])
    a, b = deferral_table(lines, invoices, 1), deferral_table(neg, invoices, 1)
    assert b["net_amount"].tolist() == (-a["net_amount"]).tolist()
    assert b["deferred_amount"].tolist() == (-a["deferred_amount"]).tolist()


def test_month_lengths_and_leap_years_count_every_day():
    leap, _ = frames([(2900, dt.date(2028, 2, 1), 28, False, "CHF")])  # 01.–29.02.2028
    plain, invoices = frames([(2900, dt.date(2027, 2, 1), 28, False, "CHF")])  # to 01.03.2027
    for lines, days, parts in ((leap, [29], [2900]), (plain, [28, 1], [2800, 100])):
        t = deferral_table(lines, invoices, 1)
        detail = t[t["deferral_row"] == "line"]
        assert detail["days"].tolist() == days
        assert detail["net_amount"].tolist() == parts
        assert [calendar.monthrange(m.year, m.month)[1] >= d
                for m, d in zip(detail["month"], days)] == [True] * len(days)


def test_a_credit_note_from_the_stored_invoice_reverses_its_spread():
    """A final run's credit note is rebuilt from the delivered invoice as the store keeps it;
    a line with service dates spreads to the exact negation in the same months, a line
    without any falls in the credit note's month (the month of its own invoice date)."""
    from flows.commit_step import documents
    from transforms.credit import credit_notes
    company = replace(COMPANY, deferrals=True)
    _, out = _deferrals(COURSES, company)
    originals = {d["invoice_number"]: d["data"] for d in documents(out)}
    inv, lines, _ = credit_notes(originals, dt.date(2026, 2, 27), "RUN2")
    both = deferral_table(pd.concat([out["lines"], lines], ignore_index=True),
                          pd.concat([out["invoices"], inv], ignore_index=True), 1)
    rows = both[both["deferral_row"] == "line"]
    original = rows[~rows["invoice_number"].str.startswith("C-")]
    credit = rows[rows["invoice_number"].str.startswith("C-")]
    key = ["booking_number", "month"]
    dated = original["booking_number"] != "3"
    assert credit[credit["booking_number"] != "3"][key + ["net_amount"]].values.tolist() == \
        original[dated][key].assign(net_amount=-original.loc[dated, "net_amount"]) \
        .values.tolist()
    undated = credit[credit["booking_number"] == "3"]
    assert undated[["month", "net_amount"]].values.tolist() == [[pd.Timestamp("2026-02-01"),
                                                                  -5000]]
    totals = both[both["deferral_row"] == "total"]
    assert totals["net_amount"].sum() == 0
