"""What the ops scripts share about Prefect automations: each script owns one automation by
name and replaces or removes it by that name."""

from __future__ import annotations


def remove_automation(name: str) -> bool:
    """Delete the automation called ``name``; False when there was none."""
    from prefect.automations import Automation

    try:
        found = Automation.read(name=name)
    except ValueError:
        return False
    found.delete()
    return True
