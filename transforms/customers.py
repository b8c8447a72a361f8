"""Invoice-to party and its terms (DESIGN.md §4 customers.csv).

A billing address listed in customers.csv bills its business partner with that partner's
payment terms, rate type and combine flag, VAT id, language and e-mail. The ERP knows a party
only by its business-partner number, so an address without an entry is what the company's
``unknown_customer`` setting says: its rows rejected (``reject``), or — the default, so that a
one-off private booker is still billed — its own invoice-to party under the address id with
the company defaults, flagged per line (``invoice_to_is_address``) so the Reconciliation sheet
and the run summary count those parties and the accountant can create them in the ERP first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from stdnum import vatin

from schemas.problems import Reason

from .steps import Billing, Context, Rejection


def vat_id_valid(ids: pd.Series) -> pd.Series:
    """True where the VAT id is blank or valid (CHE-… MWST/TVA/IVA, EU VAT numbers), checked
    offline with python-stdnum's check digits and formats."""
    text = ids.astype("str")
    blank = ids.isna() | (text.str.strip() == "")
    # checked once per distinct id: a customer's id repeats on each of its lines
    codes, uniques = pd.factorize(text)
    valid = np.array([isinstance(v, str) and vatin.is_valid(v) for v in uniques], dtype=bool)
    checked = np.append(valid, False)[codes]  # code -1 (missing) is blank anyway
    return blank | pd.Series(checked, index=ids.index)


def attach_customers(b: Billing, ctx: Context) -> Billing:
    s = ctx.settings
    cust = ctx.tables.get("customers")
    lines = b.lines
    if cust is None or not len(cust):
        cust = pd.DataFrame(columns=["billing_address_id", "business_partner", "payment_terms",
                                     "exchange_rate_type", "combine", "language"])
    cust = cust.rename(columns={"payment_terms": "_terms", "exchange_rate_type": "_rate_type",
                                "combine": "_combine", "language": "customer_language",
                                "email": "customer_email"})
    for c in ("vat_id", "customer_email"):
        if c not in cust:
            cust = cust.assign(**{c: None})
    # merged once per distinct billing address (a customer has many lines), then each line
    # takes its address's values; the lines themselves are not copied
    codes, addresses = pd.factorize(lines["billing_address_id"], use_na_sentinel=False)
    per = pd.DataFrame({"billing_address_id": addresses}).merge(
        cust[["billing_address_id", "business_partner", "_terms", "_rate_type", "_combine",
              "customer_language", "vat_id", "customer_email"]],
        on="billing_address_id", how="left", validate="many_to_one")
    per = per.assign(
        invoice_to_bp=per["business_partner"].fillna(per["billing_address_id"]).astype("str"),
        payment_terms=per["_terms"].fillna(s.default_payment_terms).astype("str"),
        exchange_rate_type=per["_rate_type"].fillna(s.default_exchange_rate_type).astype("str"),
        combine=per["_combine"].astype("object").where(per["_combine"].notna(), s.combine)
        .astype(bool),
        bad_vat=~vat_id_valid(per["vat_id"]),
        invoice_to_is_address=per["business_partner"].isna(),
        customer_vat_id=per["vat_id"].astype("str"),
        customer_email=per["customer_email"].astype("str"),
        customer_language=per["customer_language"].fillna(s.language).astype("str"),
    )

    def each_line(column: str) -> pd.Series:
        return per[column].take(codes).set_axis(lines.index)

    out = lines.assign(**{c: each_line(c) for c in ("invoice_to_bp", "payment_terms",
                                                    "exchange_rate_type", "combine",
                                                    "customer_language", "customer_vat_id",
                                                    "customer_email",
                                                    "invoice_to_is_address")})
    out = Billing(out, b.problems, notes=b.notes)
    rejections = []
    bad_vat = each_line("bad_vat")
    if bad_vat.any():
        rejections.append(Rejection(bad_vat, Reason.INVALID_VAT_ID.name, "vat_id",
                                    detail=each_line("business_partner"),
                                    value=each_line("vat_id")))
    unknown = each_line("invoice_to_is_address")
    if s.unknown_customer == "reject" and unknown.any():
        rejections.append(Rejection(unknown, Reason.UNKNOWN_CUSTOMER.name, "billing_address_id",
                                    detail=lines["billing_address_id"].astype("str"),
                                    value=lines["billing_address_id"].astype("str")))
    return out.reject_first(rejections) if rejections else out
