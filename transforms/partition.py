"""Partitions of one run: by financial company, then by hash of the invoice-to party.

A partition must never split an invoice, so the hash is over the invoice-to party — the key
every composition starts with after the company (transforms/compose.py). Each partition is
billed on its own (any machine, any order); ``merge`` puts them back together so that the
numbers, sheets and bytes are those of billing everything at once: numbering and every order
that the workbook shows are decided after the merge, from the data alone.

>>> orders = pd.DataFrame({"product_org_id": ["ORG-10", " ORG-20", None, "ORG-99"]})
>>> company_of(orders, {"ORG-10": "100", "ORG-20": "200"}).tolist()
['100', '200', None, None]
>>> hash_buckets(pd.Series(["BA-1", "BA-2", "BA-1"]), 4).tolist() == \\
...     hash_buckets(pd.Series(["BA-1", "BA-2", "BA-1"]), 4).tolist()
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from schemas.problems import Reason, concat, empty_problems, problems

from .steps import Billing

#: where a partition's rows come from: (company code, hash bucket)
PartitionKey = tuple[str, int]


def company_of(orders: pd.DataFrame, org_companies: dict[str, str]) -> pd.Series:
    """The financial company that bills each row, from its product's organisation (OpenOlat's
    "Org ID (Produkt)"); missing where no company bills that organisation."""
    org = orders["product_org_id"].astype("str").str.strip()
    return org.map(org_companies).astype("object").where(lambda s: s.notna(), None)


def unassigned_problems(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows no company of the group bills: rejected with the organisation named, so the
    operator can add it to group.toml."""
    org = rows["product_org_id"].astype("str").str.strip()
    return problems(rows, reason=Reason.NO_COMPANY.name, column="product_org_id",
                    value=org.where(org.notna() & (org != ""), None).to_numpy())


def invoice_party(orders: pd.DataFrame, customers: pd.DataFrame | None) -> pd.Series:
    """The invoice-to party each row will be billed to, as transforms.customers decides it:
    the business partner of a listed billing address, else the address itself."""
    address = orders["billing_address_id"].astype("str")
    if customers is None or not len(customers):
        return address.fillna("")
    partner = dict(zip(customers["billing_address_id"], customers["business_partner"]))
    return address.map(partner).fillna(address).fillna("").astype("str")


def hash_buckets(keys: pd.Series, buckets: int) -> np.ndarray:
    """Bucket 0..buckets-1 per key; a stable hash (pandas' fixed-key siphash), so a key lands in
    the same bucket in every process and on every machine."""
    if buckets <= 1:
        return np.zeros(len(keys), dtype=np.int64)
    h = pd.util.hash_pandas_object(keys.astype("str"), index=False).to_numpy()
    return (h % np.uint64(buckets)).astype(np.int64)


def bucket_count(rows: int, partition_rows: int) -> int:
    """How many hash partitions a company of ``rows`` rows gets: none beyond the first unless
    it has more than ``partition_rows`` rows."""
    if partition_rows <= 0:
        raise ValueError("partition_rows must be positive")
    return max(1, math.ceil(rows / partition_rows))


@dataclass(frozen=True)
class Partition:
    key: PartitionKey
    orders: pd.DataFrame


def hash_partitions(company: str, orders: pd.DataFrame, customers: pd.DataFrame | None,
                    partition_rows: int) -> list[Partition]:
    """One company's orders in hash partitions of the invoice-to party (one partition when
    the company is small). Empty partitions are left out; the order is by bucket."""
    n = bucket_count(len(orders), partition_rows)
    if n == 1:
        return [Partition((company, 0), orders)]
    buckets = hash_buckets(invoice_party(orders, customers), n)
    # one stable reordering by bucket, then slices: a single copy of the orders instead of
    # one filter over all of them per bucket; each partition keeps the input's row order
    order = np.argsort(buckets, kind="stable")
    grouped = orders.take(order).reset_index(drop=True)
    ends = np.searchsorted(buckets[order], np.arange(n + 1))
    return [Partition((company, b), grouped.iloc[ends[b]:ends[b + 1]].reset_index(drop=True))
            for b in range(n) if ends[b] < ends[b + 1]]


def merge(base_problems: pd.DataFrame, parts: list[Billing]) -> Billing:
    """The billed partitions of one company as one Billing, ready for numbering.

    Lines, invoices and taxes are concatenated (numbering sorts them by the composition key,
    which no two partitions share); the billing steps' problems are put in source-row order
    after ``base_problems`` (validation, lifecycle), and notes are deduplicated in a fixed
    order — so the result does not depend on how many partitions there were."""
    def cat(frames):
        frames = [f for f in frames if f is not None]
        return pd.concat(frames, ignore_index=True) if frames else None

    billed = concat([p.problems for p in parts])
    if len(billed):
        billed = (billed.assign(_row=billed["source_row"].astype("Int64").fillna(-1),
                                _src=billed["source"].astype("str"))
                  .sort_values(["_src", "_row"], kind="stable")
                  .drop(columns=["_row", "_src"]).reset_index(drop=True))
    notes = tuple(sorted(dict.fromkeys(n for p in parts for n in p.notes),
                         key=lambda n: tuple("" if v is None else str(v) for v in n)))
    first = parts[0] if parts else Billing(pd.DataFrame())
    return replace(first, lines=cat([p.lines for p in parts]),
                   problems=concat([base_problems if base_problems is not None
                                    else empty_problems(), billed]),
                   invoices=cat([p.invoices for p in parts]),
                   taxes=cat([p.taxes for p in parts]), notes=notes)


def split_companies(raw: pd.DataFrame, valid: pd.DataFrame, problems_: pd.DataFrame,
                    org_companies: dict[str, str], codes: list[str]
                    ) -> dict[str, tuple[np.ndarray, pd.DataFrame, pd.DataFrame]]:
    """Each company's share of one source: (mask over ``raw``, valid orders, problems).

    A row belongs to the company that bills its product's organisation. Rows no company
    bills go to the first company (the group's lead), rejected with NO_COMPANY, so that every
    row read is in exactly one workbook. The companies' rows read add up to the source's."""
    lead = codes[0]
    company = company_of(raw, org_companies)
    by_row = dict(zip(raw["source_row"].to_numpy(), company.to_numpy()))

    def owner(rows: pd.Series) -> np.ndarray:
        return rows.map(by_row).fillna(lead).to_numpy(dtype=object)

    raw_owner = company.fillna(lead).to_numpy(dtype=object)
    # a valid row no company bills is not billed by the lead: it is rejected (below)
    valid_owner = valid["source_row"].map(by_row).to_numpy(dtype=object)
    problem_owner = owner(problems_["source_row"].astype("object"))
    unassigned = raw[company.isna().to_numpy()]
    extra = unassigned_problems(unassigned) if len(unassigned) else empty_problems()
    out = {}
    for code in codes:
        mine = concat([problems_[problem_owner == code]] + ([extra] if code == lead else []))
        out[code] = (raw_owner == code, valid[valid_owner == code].reset_index(drop=True),
                     mine.reset_index(drop=True))
    return out
