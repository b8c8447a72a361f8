"""Country of a billing address: OpenOlat stores free text, the rules need ISO 3166 alpha-2.

Only names an accountant would recognise are mapped; anything else stays unknown and the row
is rejected rather than guessed (DESIGN.md §4).

>>> normalise(pd.Series(["Schweiz", " ch", "Deutschland", "Atlantis", None])).tolist()
['CH', 'CH', 'DE', None, None]
"""

from __future__ import annotations

import pandas as pd

_NAMES = {
    "CH": "schweiz suisse svizzera svizra switzerland confoederatio helvetica che",
    "DE": "deutschland germany allemagne germania deu brd",
    "AT": "österreich oesterreich austria autriche aut",
    "LI": "liechtenstein lie",
    "FR": "frankreich france francia fra",
    "IT": "italien italy italie italia ita",
    "NL": "niederlande netherlands nederland pays-bas nld holland",
    "BE": "belgien belgium belgique belgië bel",
    "LU": "luxemburg luxembourg lux",
    "ES": "spanien spain espagne españa esp",
    "GB": "grossbritannien großbritannien vereinigtes_königreich united_kingdom uk "
          "great_britain england gbr",
    "US": "usa vereinigte_staaten united_states united_states_of_america",
    "JP": "japan japon jpn",
    "PL": "polen poland polska pol",
    "SE": "schweden sweden sverige swe",
    "DK": "dänemark daenemark denmark danmark dnk",
}

_LOOKUP = {code.lower(): code for code in _NAMES}
for _code, _names in _NAMES.items():
    for _n in _names.split():
        _LOOKUP[_n.replace("_", " ")] = _code


def normalise(text: pd.Series) -> pd.Series:
    """ISO alpha-2 code per row, or missing when the text is empty or not recognised."""
    key = text.astype("str").str.strip().str.lower().str.replace(r"\s+", " ", regex=True)
    return key.map(_LOOKUP).astype("object").where(lambda s: s.notna(), None)
