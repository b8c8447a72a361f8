"""Where a run reads and writes when nobody says otherwise: defined here once, for the command
line, the Prefect flows, the inbox and the deployments alike."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = ROOT / "sample_data"
#: the source and configuration of ``make run``
SOURCE = str(SAMPLE_DATA / "booking_orders.csv")
CONFIG = str(SAMPLE_DATA)
#: the folder the invoicing system reads
OUTBOX = "out/outbox"
#: the state store's file name, beside the outbox folder
STATE_FILE = "billing-state.sqlite"


def state_location(outbox: str | Path = OUTBOX) -> str:
    """The state store's default: :data:`STATE_FILE` beside the outbox folder, so every run
    into one outbox shares one store and nothing is billed twice."""
    return str(Path(outbox).resolve().parent / STATE_FILE)
