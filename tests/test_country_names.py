"""The country names a run reads (transforms/country_names.py) are the ones pycountry's data
gives: written out once, they must not drift from the package they come from."""

from __future__ import annotations

from transforms import country
from transforms.country_names import NAMES


def test_the_written_names_are_the_ones_pycountry_gives():
    # after an update of pycountry: .venv/bin/python -m transforms.country
    assert NAMES == country.names_table()


def test_a_run_looks_names_up_in_the_written_table():
    assert country._lookup() is NAMES
    assert NAMES["schweiz"] == NAMES["suisse"] == NAMES["svizzera"] == "CH"
