"""The README's configuration section is the settings table; it must not drift from the code."""

from pathlib import Path

from schemas.settings import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands():
    head = README[:600]
    assert "make run" in head and "make test" in head


def test_every_setting_is_documented():
    missing = [s.name for s in SETTINGS if f"| {s.name} |" not in README]
    assert missing == []
