"""Amount text in every format OpenOlat writes, one format per file, never read as another amount.

OpenOlat writes a price as its currency code, a no-break space and the amount (DESIGN.md §3,
shared/openolat-booking-orders.md §1). Older 20.x versions wrote the amount ``plain``
(``1250.00``); current ones format it with ``org/olat/core/util/PriceAmountFormat.java``:
Java ``DecimalFormat("#,##0.00")`` after ``setScale(2, HALF_EVEN)``, i.e. a grouping separator
every three digits and always two decimals (JPY too), in the installation's format:

================  ============  =====================
format            example       grouping / decimal
================  ============  =====================
plain             1250.00       none / ``.``
apostrophePoint   1'250.00      ``'`` / ``.``
pointComma        1.250,00      ``.`` / ``,``
commaPoint        1,250.00      ``,`` / ``.``
spacePoint        1 250.00      space / ``.``
spaceComma        1 250,00      space / ``,``
================  ============  =====================

The five grouped formats are read exactly as Java writes them: an optional ``-``, the integer
part grouped by threes (``0`` below one), the decimal separator, two decimals. ``plain`` is
read as before (any number of decimals, checked against the currency later; the database
source writes it too). Under these rules a text that fits several formats has the same value
in each (two decimals fix the decimal separator; a text without a grouping character is the
same number everywhere), so the choice of format can reject a text but never change its
amount: ``1.250,00`` is 1250.00 or rejected, never 1.25.

Texts no format of OpenOlat writes fit no format and are rejected, never guessed: ``1,250``
(1250 with its decimals dropped, or 1.25 with one digit too many?), ``1250,00`` (a decimal
comma always comes with grouping), ``1'25.00``. ``1,25`` is 1.25 (``pointComma`` and
``spaceComma`` write it so). ``1.250`` is ``plain`` 1.250: three decimals, too many for CHF
or JPY (rejected, although the third is a zero: it could be 1250 without its decimals),
1.250 for BHD as the database source writes it; in a file of any other format it is
rejected, never read as 1250.

Which format a file has is decided once for the file from its amount cells, or fixed by the
company setting ``price_format``: the format the most cells fit (ties go to the order above,
``plain`` last, since current OpenOlat no longer writes it). A cell that does not fit the
file's format is rejected with an example in that format.

>>> t = pd.Series(["1'250.00", "12.50", "1.250,00", "1,250"])
>>> [names(m) for m in fits(t)]
[['apostrophePoint'], ['plain', 'apostrophePoint', 'commaPoint', 'spacePoint'], ['pointComma'], []]
>>> decimal_text(t, fits(t)).fillna("").tolist()
['1250.00', '12.50', '1250.00', '']
>>> choose(fits(t), np.array([1, 5, 1, 0])), example("pointComma", "EUR")
('apostrophePoint', 'EUR 1.250,00')
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

DETECT = "detect"

#: name -> (grouping separator or None, decimal separator); names as OpenOlat's enum has them
FORMATS: dict[str, tuple[str | None, str]] = {
    "plain": (None, "."),
    "apostrophePoint": ("'", "."),
    "pointComma": (".", ","),
    "commaPoint": (",", "."),
    "spacePoint": (" ", "."),
    "spaceComma": (" ", ","),
}
NAMES = tuple(FORMATS)
#: the order in which a tie between formats is decided
_PREFERENCE = (*NAMES[1:], NAMES[0])

#: what a space-grouped amount may use between its groups: Java writes U+0020; a spreadsheet
#: that re-saves the text may turn it into a no-break space
_SPACES = " \u00a0\u202f"


def _pattern(grouping: str | None, decimal: str) -> str:
    # ASCII digits only: Python's \d also takes other scripts' digits
    if grouping is None:
        return r"-?[0-9]+(?:\.[0-9]+)?"
    g = f"[{_SPACES}]" if grouping == " " else re.escape(grouping)
    return rf"-?(?:0|[1-9][0-9]{{0,2}}(?:{g}[0-9]{{3}})*){re.escape(decimal)}[0-9]{{2}}"


_PATTERNS = {name: _pattern(*seps) for name, seps in FORMATS.items()}

#: a plain amount that could be one thousands group without its decimals (``1.250``)
THOUSANDS_LIKE = r"-?[1-9][0-9]{0,2}\.[0-9]{3}"


def bit(name: str) -> int:
    return 1 << NAMES.index(name)


def names(mask: int) -> list[str]:
    return [n for n in NAMES if int(mask) & bit(n)]


def fits(numbers: pd.Series) -> np.ndarray:
    """Per text, the formats it is a valid amount in (a bit mask, 0 for none or missing)."""
    text = numbers.astype("object").where(numbers.notna(), "").astype("str")
    mask = np.zeros(len(text), dtype=np.int64)
    for name, pattern in _PATTERNS.items():
        mask |= text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool) * bit(name)
    return mask


def decimal_text(numbers: pd.Series, mask: np.ndarray) -> pd.Series:
    """The amount of each text as plain decimal text (``-1234.50``), read in a format it fits
    (all give the same); missing where it fits none."""
    text = numbers.astype("object").where(numbers.notna(), "").astype("str")
    out = pd.Series(None, index=text.index, dtype="object")
    plain = (mask & bit("plain")) != 0
    grouped = (mask != 0) & ~plain
    out[plain] = text[plain]
    if grouped.any():  # two decimals after the separator; the rest is sign, digits and groups
        part = text[grouped]
        out[grouped] = (part.str.slice(0, -3).str.replace("[^0-9-]", "", regex=True) + "."
                        + part.str.slice(-2))
    return out


def choose(masks: np.ndarray, weights: np.ndarray) -> str | None:
    """The format most cells fit (``weights``: cells per text); None when no cell fits any."""
    counts = {n: int(weights[(masks & bit(n)) != 0].sum()) for n in _PREFERENCE}
    best = max(counts.values(), default=0)
    if best == 0:
        return None
    return next(n for n in _PREFERENCE if counts[n] == best)


def example(name: str | None, currency: str = "CHF") -> str:
    """1250.00 as the format writes it, after ``currency``: what a user should find in the
    file. Without a format (no amount of the file readable) the Swiss ``apostrophePoint``."""
    grouping, decimal = FORMATS[name or "apostrophePoint"]
    return f"{currency} 1{grouping or ''}250{decimal}00"
