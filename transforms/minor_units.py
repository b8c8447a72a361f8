"""ISO 4217 currencies and their minor units (decimals), the rounding unit of every amount.

>>> exponent("CHF"), exponent("JPY"), exponent("BHD")
(2, 0, 3)
>>> exponents(pd.Series(["CHF", "JPY", None, "XYZ"])).tolist()
[2, 0, -1, -1]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
    "GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP "
    "LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR "
    "NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN "
    "SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR "
    "ZMW ZWG"
)

EXPONENTS: dict[str, int] = {
    **{c: 2 for c in _TWO.split()},
    **{c: 0 for c in _ZERO.split()},
    **{c: 3 for c in _THREE.split()},
    **{c: 4 for c in _FOUR.split()},
}


def exponent(code: str) -> int:
    """Decimals of one currency; KeyError for a code that is not ISO 4217."""
    return EXPONENTS[code]


#: the codes and their decimals as arrays, -1 last (for a code that is none of them)
_CODES = pa.array(list(EXPONENTS), pa.large_string())
_DECIMALS = np.array([*EXPONENTS.values(), -1], dtype=np.int64)


def exponents(codes: pd.Series) -> np.ndarray:
    """Decimals per row; unknown codes give -1 so callers can reject them. Called dozens of
    times a run, mostly on a few distinct currencies: a dict look-up each for a few codes,
    one Arrow look-up for a column (a pandas ``map`` costs a millisecond either way)."""
    if len(codes) <= 32:
        return np.fromiter((EXPONENTS.get(c, -1) if isinstance(c, str) else -1 for c in codes),
                           np.int64, len(codes))
    at = pc.index_in(pa.array(codes.astype("str"), pa.large_string()), value_set=_CODES)
    return _DECIMALS[pc.fill_null(at, len(_DECIMALS) - 1).to_numpy()]


def is_known(codes: pd.Series) -> pd.Series:
    return codes.isin(EXPONENTS.keys())
