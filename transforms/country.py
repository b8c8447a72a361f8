"""Country of a billing address: OpenOlat stores free text, the rules need ISO 3166 alpha-2.

Names come from pycountry's ISO 3166 data with its German, French, Italian and English
translations (shipped with the package, offline), plus the alpha-2 and alpha-3 codes and a few
names people write ("Schweiz", "USA", "England"). Anything else stays unknown and the row is
rejected rather than guessed (DESIGN.md §4).

>>> normalise(pd.Series(["Schweiz", " ch", "Deutschland", "Suisse", "Atlantis", None])).tolist()
['CH', 'CH', 'DE', 'CH', None, None]
"""

from __future__ import annotations

import functools
import gettext
import re
import unicodedata

import numpy as np
import pandas as pd
import pycountry

_EXTRA = {
    "CH": ("Svizra", "Confoederatio Helvetica", "Schweizerische Eidgenossenschaft"),
    "DE": ("BRD", "Bundesrepublik Deutschland"),
    "GB": ("Grossbritannien", "Großbritannien", "England", "UK", "Great Britain",
           "Vereinigtes Königreich"),
    "US": ("USA", "Vereinigte Staaten", "United States of America"),
    "NL": ("Holland",),
    "LI": ("Fürstentum Liechtenstein",),
    "AT": ("Oesterreich",),
}


def _key(text: str) -> str:
    text = unicodedata.normalize("NFC", str(text)).strip().casefold()
    return re.sub(r"\s+", " ", text)


@functools.lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    translations = [gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang],
                                        fallback=True) for lang in ("de", "fr", "it")]
    for c in pycountry.countries:
        names = {c.alpha_2, c.alpha_3, c.name, getattr(c, "common_name", c.name),
                 getattr(c, "official_name", c.name)}
        for t in translations:
            names |= {t.gettext(c.name), t.gettext(getattr(c, "common_name", c.name))}
        for n in names:
            table.setdefault(_key(n), c.alpha_2)
    for code, names in _EXTRA.items():
        for n in names:
            table[_key(n)] = code
    return table


def normalise(text: pd.Series) -> pd.Series:
    """ISO alpha-2 code per row, or missing when the text is empty or not recognised. Each
    distinct text is looked up once (an export names a handful of countries)."""
    table = _lookup()
    codes, values = pd.factorize(text.astype("str"), use_na_sentinel=False)
    found = np.array([None if v is None or v != v else table.get(_key(v)) for v in values],
                     dtype=object)
    return pd.Series(found[codes], index=text.index, name=text.name, dtype="object")
