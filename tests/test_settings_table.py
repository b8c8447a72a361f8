"""Company settings: every default is written once, in the SETTINGS table, and both the
loader (parse_settings) and the Settings value give exactly that default."""

from __future__ import annotations

import dataclasses

import pytest

from schemas import settings as st
from schemas.settings import REQUIRED, SETTINGS, Settings, parse_settings

REQUIRED_KEYS = {"code": "100", "name": "X", "home_currencies": ["CHF"]}
#: a setting that is only another name of one (parse_settings turns it into tax_rate_date)
ALIASES = {"tax_date_basis"}


def test_every_setting_but_an_alias_is_a_field_of_settings():
    assert sorted(f.name for f in dataclasses.fields(Settings)) == sorted(
        s.name for s in SETTINGS if s.name not in ALIASES)


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.name not in ALIASES],
                         ids=lambda s: s.name)
def test_the_loaders_default_is_the_tables(setting):
    loaded = parse_settings(REQUIRED_KEYS)
    built = Settings(code="100", name="X", home_currencies=("CHF",))
    if setting.default is REQUIRED:
        with pytest.raises(st.SettingError, match=f"{setting.name}: required setting"):
            parse_settings({k: v for k, v in REQUIRED_KEYS.items() if k != setting.name})
        return
    assert getattr(loaded, setting.name) == setting.default == getattr(built, setting.name)


def test_a_table_default_is_not_shared_between_companies():
    one, two = (parse_settings(REQUIRED_KEYS) for _ in range(2))
    assert one.cash_rounding == two.cash_rounding == {}
    assert one.cash_rounding is not two.cash_rounding


def test_a_field_without_a_row_in_the_table_is_refused():
    class Odd:
        code: str
        colour: str

    with pytest.raises(TypeError, match="Settings.colour is not in SETTINGS"):
        st._defaults_from_table(Odd)
