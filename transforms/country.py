"""Country of a billing address: OpenOlat stores free text, the rules need ISO 3166 alpha-2.

Names come from pycountry's ISO 3166 data with its German, French, Italian and English
translations (shipped with the package, offline), plus the alpha-2 and alpha-3 codes and a few
names people write ("Schweiz", "USA", "England"). Anything else stays unknown and the row is
rejected rather than guessed (DESIGN.md §4).

A run reads the names from :mod:`transforms.country_names`, the table :func:`names_table`
builds, written out (building it from pycountry's files took a run 15 ms; a test holds the
two equal). After an update of pycountry, write it again::

    .venv/bin/python -m transforms.country

>>> normalise(pd.Series(["Schweiz", " ch", "Deutschland", "Suisse", "Atlantis", None])).tolist()
['CH', 'CH', 'DE', 'CH', None, None]
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

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


def names_table() -> dict[str, str]:
    """Every name and code a country is written by (as :func:`_key` folds it) → its alpha-2
    code, from pycountry's data."""
    import gettext
    import pycountry
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


@functools.lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    from .country_names import NAMES
    return NAMES


def write_names_table(path: Path) -> None:
    table = names_table()
    body = "".join(f"    {k!r}: {v!r},\n" for k, v in sorted(table.items()))
    path.write_text(
        '"""Country names → ISO alpha-2 codes, written by ``python -m transforms.country``\n'
        'from pycountry\'s data (transforms/country.py ``names_table``); do not edit."""\n\n'
        f"NAMES: dict[str, str] = {{\n{body}}}\n", encoding="utf-8")


def normalise(text: pd.Series) -> pd.Series:
    """ISO alpha-2 code per row, or missing when the text is empty or not recognised. Each
    distinct text is looked up once (an export names a handful of countries)."""
    table = _lookup()
    codes, values = pd.factorize(text.astype("str"), use_na_sentinel=False)
    found = np.array([None if v is None or v != v else table.get(_key(v)) for v in values],
                     dtype=object)
    return pd.Series(found[codes], index=text.index, name=text.name, dtype="object")


if __name__ == "__main__":
    write_names_table(Path(__file__).with_name("country_names.py"))
