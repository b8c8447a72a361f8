"""The source registry (flows/sources/registry.py): one module per kind, each checked against
the ``Source`` Protocol when the registry is built; a module that lacks a member is refused."""

from __future__ import annotations

import datetime as dt
import types

import pytest

from flows import stages
from flows.sources import csv_file, openolat_db, openolat_xlsx, registry
from flows.sources.registry import SourceContractError


def fake(name="fake", **members):
    """A module offering the Source members, overridable one by one."""
    module = types.ModuleType(name)
    defaults = dict(SUFFIXES=(".fake",), READS_URLS=False, OPTIONS=(), PRICE_FORMAT=None,
                    read=lambda location, **options: ("read", location, options))
    for key, value in {**defaults, **members}.items():
        if value is not ...:
            setattr(module, key, value)
    return module


def test_every_kind_is_its_module():
    assert dict(registry.registry().kinds) == {"csv": csv_file, "xlsx": openolat_xlsx,
                                               "database": openolat_db}


@pytest.mark.parametrize("location, kind", [
    ("orders.csv", "csv"), ("ORDERS.CSV", "csv"), ("notes.txt", "csv"), ("orders", "csv"),
    ("Export.xlsx", "xlsx"), ("Export.XLSM", "xlsx"), ("a.xlsx.csv", "csv"),
    ("sqlite:///orders.csv", "database"), ("postgresql+psycopg://u@h/db", "database"),
    ("nonsense://x", "database"),
])
def test_the_kind_follows_from_the_location_as_before(location, kind):
    assert registry.kind_of(location) == kind == stages.source_kind(location)


def test_the_inbox_takes_the_endings_the_sources_read():
    assert sorted(registry.file_suffixes()) == [".csv", ".xlsm", ".xlsx"]


@pytest.mark.parametrize("member", list(registry.MEMBERS))
def test_a_module_without_a_member_is_refused_naming_it(member):
    with pytest.raises(SourceContractError, match=f"source 'broken' \\(fake\\) has no {member}"):
        registry.build({"csv": csv_file, "broken": fake(**{member: ...})})


@pytest.mark.parametrize("member, value", [("SUFFIXES", ".fake"), ("READS_URLS", "yes"),
                                           ("OPTIONS", None), ("PRICE_FORMAT", 1),
                                           ("read", "not callable")])
def test_a_member_of_the_wrong_type_is_refused(member, value):
    with pytest.raises(SourceContractError, match=f"\\(fake\\): {member} is"):
        registry.build({"csv": csv_file, "broken": fake(**{member: value})})


@pytest.mark.parametrize("modules, words", [
    ({"csv": csv_file, "other": fake(SUFFIXES=(".csv",))}, "both read .csv files"),
    ({"csv": csv_file, "a": fake(SUFFIXES=(), READS_URLS=True),
      "b": fake(SUFFIXES=(), READS_URLS=True)}, "both read URLs"),
    ({"x": fake(SUFFIXES=(".X",))}, "not lower case endings"),
    ({"database": openolat_db}, "default source 'csv' is not a file source"),
])
def test_an_ambiguous_registry_is_refused(modules, words):
    with pytest.raises(SourceContractError, match=words):
        registry.build(modules)


def test_each_source_gets_only_the_options_it_names(monkeypatch):
    """The incremental window reaches the database source and no file source."""
    reg = registry.build({"csv": fake(SUFFIXES=(".csv",)),
                          "database": fake(SUFFIXES=(), READS_URLS=True,
                                           OPTIONS=("since", "recheck"))})
    monkeypatch.setattr(registry, "registry", lambda: reg)
    since = dt.datetime(2026, 1, 1)
    assert registry.read("a.csv", since=since, recheck=("1",)) == ("read", "a.csv", {})
    assert registry.read("sqlite:///x", since=since, recheck=("1",), recheck_statuses=()) == (
        "read", "sqlite:///x", {"since": since, "recheck": ("1",)})


def test_the_database_source_fixes_the_price_format():
    ex = types.SimpleNamespace(location="sqlite:////tmp/openolat.db")
    assert stages.price_format(ex, []) == "plain"
    ex = types.SimpleNamespace(location="/tmp/orders.csv")
    assert stages.price_format(ex, []) == "detect"
