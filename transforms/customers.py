"""Invoice-to party and its terms (DESIGN.md §4 customers.csv).

A billing address listed in customers.csv bills its business partner with that partner's
payment terms, rate type and combine flag; any other address is its own invoice-to party
with the company defaults.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from stdnum import vatin

from schemas.problems import Reason

from .billing import Billing, Context


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
                                "combine": "_combine", "language": "customer_language"})
    if "vat_id" not in cust:
        cust = cust.assign(vat_id=None)
    # merged once per distinct billing address (a customer has many lines), then each line
    # takes its address's values; the lines themselves are not copied
    codes, addresses = pd.factorize(lines["billing_address_id"], use_na_sentinel=False)
    per = pd.DataFrame({"billing_address_id": addresses}).merge(
        cust[["billing_address_id", "business_partner", "_terms", "_rate_type", "_combine",
              "customer_language", "vat_id"]],
        on="billing_address_id", how="left", validate="many_to_one")
    per = per.assign(
        invoice_to_bp=per["business_partner"].fillna(per["billing_address_id"]).astype("str"),
        payment_terms=per["_terms"].fillna(s.default_payment_terms).astype("str"),
        exchange_rate_type=per["_rate_type"].fillna(s.default_exchange_rate_type).astype("str"),
        combine=per["_combine"].astype("object").where(per["_combine"].notna(), s.combine)
        .astype(bool),
        bad_vat=~vat_id_valid(per["vat_id"]),
    )

    def each_line(column: str) -> pd.Series:
        return per[column].take(codes).set_axis(lines.index)

    out = lines.assign(**{c: each_line(c) for c in ("invoice_to_bp", "payment_terms",
                                                    "exchange_rate_type", "combine",
                                                    "customer_language")})
    out = Billing(out, b.problems, notes=b.notes)
    bad_vat = each_line("bad_vat")
    if not bad_vat.any():
        return out
    return out.reject(bad_vat, Reason.INVALID_VAT_ID.name, "vat_id",
                      detail=each_line("business_partner"), value=each_line("vat_id"))
