"""Payment references of many invoices at once equal python-stdnum's, one by one.

transforms.payment_reference.assign computes the QR check digits of all invoices together
(numpy, one digit position at a time); stdnum.ch.esr computes and formats one reference at a
time and stays the judge.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.ch import esr

from transforms.payment_reference import ReferenceError_, assign, format_reference, qr_reference

prefixes = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=3)
final_numbers = st.builds(lambda p, y, n, w: f"{p}-{y}-{n:0{w}d}", prefixes,
                          st.integers(1000, 9999), st.integers(0, 999_999), st.integers(1, 9))
draft_numbers = st.builds(lambda r, n: f"P-{r:X}-{n:05d}", st.integers(0, 16**11 - 1),
                          st.integers(0, 99_999))
invoices = st.lists(st.tuples(st.one_of(final_numbers, draft_numbers),
                              st.sampled_from(["invoice", "invoice", "credit_note"])),
                    max_size=40)


@settings(max_examples=settings().max_examples * 3 // 2, deadline=None)
@given(st.integers(0, 999_999).map(str), invoices)
def test_qr_references_of_many_invoices_equal_stdnums(company, rows):
    frame = pd.DataFrame(rows, columns=["invoice_number", "document_type"],
                         index=pd.RangeIndex(7, 7 + len(rows)))
    got = assign(frame, company, qr=True)
    want = [esr.format(qr_reference(company, n)) if t != "credit_note" else None
            for n, t in rows]
    assert got.tolist() == want and got.index.equals(frame.index) and got.dtype == object
    assert all(esr.is_valid(r) for r in got if r is not None)
    assert [format_reference(qr_reference(company, n)) for n, t in rows if t != "credit_note"
            ] == [r for r in got if r is not None]


def test_an_invoice_number_without_encoding_is_refused_by_name():
    frame = pd.DataFrame({"invoice_number": ["RE-2026-000001", "RE 7"],
                          "document_type": ["invoice", "invoice"]})
    with pytest.raises(ReferenceError_, match="'RE 7'"):
        assign(frame, "100", qr=True)
