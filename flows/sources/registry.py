"""Which source reads a location: one registry of ``kind -> module``, each module checked
against :class:`Source` when the registry is built.

A URL (``scheme://…``) is read by the one source that reads URLs; a file by the source whose
``SUFFIXES`` hold its ending; any other file as :data:`DEFAULT_KIND`, as it always was (a
hand-made ``orders.txt`` is a CSV). The inbox takes exactly the files some source claims by
suffix. A new source is one module that offers the members of :class:`Source` and one line
in :data:`SOURCES`; ``tests/test_source_junk.py`` then feeds it junk like every other.

The modules are imported when the registry is first asked, not when this module is: the
inbox and the command line consult it without paying for pandas and SQLAlchemy at start-up.

>>> kind_of("orders.CSV"), kind_of("Export.xlsm"), kind_of("notes.txt"), kind_of("sqlite:///x")
('csv', 'xlsx', 'csv', 'database')
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Protocol

if TYPE_CHECKING:
    from .base import Extract

#: every source, by the kind a run names it by -> its module in this package
SOURCES: Mapping[str, str] = MappingProxyType({
    "csv": "csv_file",
    "xlsx": "openolat_xlsx",
    "database": "openolat_db",
})
#: what reads a file whose ending no source claims
DEFAULT_KIND = "csv"


class Source(Protocol):
    """What every source module offers (as module attributes)."""

    #: file name endings it reads, lower case with the dot (``(".xlsx", ".xlsm")``); () if
    #: it reads URLs
    SUFFIXES: tuple[str, ...]
    #: True for the source that reads ``scheme://…`` locations
    READS_URLS: bool
    #: options of :func:`read` beyond the location that the source understands (a run passes
    #: the incremental window to every source; each takes what it names here)
    OPTIONS: tuple[str, ...]
    #: the amount format the source always writes, whatever the company's ``price_format``
    #: says; None: the setting decides
    PRICE_FORMAT: str | None

    def read(self, location: str, **options: Any) -> Extract:
        """The whole source as a text frame, or :class:`~flows.errors.SourceError` naming it."""


#: the members :func:`check` asks of a module, with the type each value must have
MEMBERS: Mapping[str, type | tuple[type, ...]] = MappingProxyType({
    "SUFFIXES": tuple, "READS_URLS": bool, "OPTIONS": tuple, "PRICE_FORMAT": (str, type(None)),
    "read": object})


class SourceContractError(TypeError):
    """A module in the registry does not offer what :class:`Source` asks (a programmer error:
    the registry is not built, so no run starts with it)."""


def check(kind: str, module: Any) -> Any:
    """``module`` if it offers every member of :class:`Source` with the right type."""
    name = getattr(module, "__name__", repr(module))
    for member, kinds in MEMBERS.items():
        if not hasattr(module, member):
            raise SourceContractError(f"source {kind!r} ({name}) has no {member}: every source "
                                      f"offers {', '.join(MEMBERS)} (flows.sources.registry)")
        value = getattr(module, member)
        if not isinstance(value, kinds) or (member == "read" and not callable(value)):
            raise SourceContractError(f"source {kind!r} ({name}): {member} is "
                                      f"{type(value).__name__}, not what Source declares")
    bad = [s for s in module.SUFFIXES if not (isinstance(s, str) and s.startswith(".")
                                               and s == s.lower())]
    if bad:
        raise SourceContractError(f"source {kind!r} ({name}): SUFFIXES {bad!r} are not lower "
                                  "case endings with a dot")
    return module


@dataclass(frozen=True)
class Registry:
    """The checked sources: ``kinds`` (kind -> module), and who reads what."""
    kinds: Mapping[str, Any]
    by_suffix: Mapping[str, str]
    url_kind: str | None
    default: str

    def kind_of(self, location: str) -> str:
        text = str(location)
        if "://" in text and self.url_kind:
            return self.url_kind
        low = text.lower()
        for suffix, kind in self.by_suffix.items():
            if low.endswith(suffix):
                return kind
        return self.default


def build(modules: Mapping[str, Any], default: str = DEFAULT_KIND) -> Registry:
    """The registry of ``modules`` (kind -> module), each checked; two sources claiming one
    ending, two reading URLs or a default that is no file source are refused."""
    kinds = {kind: check(kind, module) for kind, module in modules.items()}
    by_suffix: dict[str, str] = {}
    for kind, module in kinds.items():
        for suffix in module.SUFFIXES:
            if suffix in by_suffix:
                raise SourceContractError(f"sources {by_suffix[suffix]!r} and {kind!r} both "
                                          f"read {suffix} files")
            by_suffix[suffix] = kind
    urls = [kind for kind, module in kinds.items() if module.READS_URLS]
    if len(urls) > 1:
        raise SourceContractError(f"sources {' and '.join(map(repr, urls))} both read URLs")
    if default not in kinds or kinds[default].READS_URLS:
        raise SourceContractError(f"the default source {default!r} is not a file source of "
                                  "the registry")
    # the longest ending first, so that ".tar.gz" would win over ".gz"
    ordered = dict(sorted(by_suffix.items(), key=lambda item: -len(item[0])))
    return Registry(MappingProxyType(kinds), MappingProxyType(ordered),
                    urls[0] if urls else None, default)


@cache
def registry() -> Registry:
    """The registry of :data:`SOURCES`, built and checked on first use."""
    return build({kind: importlib.import_module(f"{__package__}.{module}")
                  for kind, module in SOURCES.items()})


def kind_of(location: str) -> str:
    """The kind of source that reads ``location``."""
    return registry().kind_of(location)


def source(kind: str):
    """The module of ``kind``."""
    return registry().kinds[kind]


def read(location: str, **options: Any) -> Extract:
    """Read ``location`` with its source, passing the options that source names."""
    module = source(kind_of(location))
    return module.read(str(location), **{k: v for k, v in options.items()
                                          if k in module.OPTIONS})


def file_suffixes() -> tuple[str, ...]:
    """Every file ending some source reads (the inbox takes only these)."""
    return tuple(registry().by_suffix)
