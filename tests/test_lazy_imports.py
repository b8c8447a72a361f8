"""A run imports only what it uses: qrbill and svgwrite only to write QR-bills, SQLAlchemy only
to read a database or open a PostgreSQL state store (a SQLite store is Python's own sqlite3),
hypothesis never in the command (issue 13: each costs more to import than a small run takes to
bill). Checked in a fresh interpreter, where nothing else imported them first."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    return {m.split(".")[0] for m in out}


@pytest.mark.parametrize("module", ["flows.stages", "flows.qrbills", "flows.state_store"])
def test_the_run_path_imports_neither_qrbill_nor_sqlalchemy(module):
    found = imported_after(f"import {module}")
    assert not found & {"qrbill", "svgwrite", "sqlalchemy"}, found


def test_a_qr_bill_run_imports_qrbill_when_it_draws():
    assert "qrbill" in imported_after("from flows import qrbills\nqrbills.Slips")


def test_sqlalchemy_comes_with_a_postgresql_store_not_with_a_sqlite_one():
    opening = ("import tempfile\nfrom flows import state_store\n"
               "try:\n    state_store.open_store({!r})\nexcept state_store.StateError:\n    pass")
    assert "sqlalchemy" not in imported_after(opening.format("/tmp/lazy-imports/s.sqlite"))
    assert "sqlalchemy" in imported_after(opening.format("postgresql://u@127.0.0.1:1/none"))


def test_the_command_bills_a_file_without_sqlalchemy_or_hypothesis(tmp_path):
    """The whole command, as ``billing-export run`` starts it (flows.cli.console), on the
    sample with QR-bills: the modules it had loaded when it ended."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('MODULES', ' '.join(sorted(k for k, v in sys.modules.items() if v is not None))))\n"
            "import os\n"
            "atexit.register(lambda: print('PLUGINS', os.environ.get('TYPEGUARD_DISABLE_PLUGIN_AUTOLOAD'), os.environ.get('PYDANTIC_DISABLE_PLUGINS')))\n"
            "from flows.cli import console\n"
            f"sys.argv = ['billing-export', 'run', '--invoice-date', '2026-10-30', '--quiet', "
            f"'--outbox', {str(tmp_path / 'outbox')!r}, '--state', "
            f"{str(tmp_path / 'state.sqlite')!r}]\n"
            "console()")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "PREFECT_HOME": str(tmp_path / "prefect")}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "outbox").glob("*.xlsx")), "no workbook delivered"
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES "))
    loaded = {m.split(".")[0] for m in line.split()[1:]}
    assert "qrbill" in loaded and "pandera" in loaded  # it did bill, validate and draw
    assert not loaded & {"sqlalchemy", "hypothesis", "prefect"}, loaded & {
        "sqlalchemy", "hypothesis", "prefect"}
    # nor did it search the environment for typeguard's and pydantic's plugins
    assert "PLUGINS 1 __all__" in done.stdout.splitlines()


def test_no_plugin_of_typeguard_or_pydantic_is_installed():
    """The command turns off the plugin search of both (flows.cli._no_plugin_search): that
    loses nothing only while no distribution offers one. One that does is a reason to look
    again."""
    from importlib.metadata import entry_points
    assert not list(entry_points(group="typeguard.checker_lookup"))
    assert not list(entry_points(group="pydantic"))
