"""A run imports only what it uses: qrbill and svgwrite only to write QR-bills, SQLAlchemy only
to open a state store or read a database (issue 13: each costs more to import than a small run
takes to bill). Checked in a fresh interpreter, where nothing else imported them first."""

import subprocess
import sys

import pytest


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
    assert "sqlalchemy" in imported_after(
        "import tempfile\nfrom flows import state_store\n"
        "state_store.open_store(tempfile.mkdtemp() + '/s.sqlite')")
