"""Mark a flow run Crashed when its process stops sending heartbeats: a Prefect automation.

A flow-run process whose machine froze, or that was killed together with its worker, cannot
report its end; without this its run would show *Running* for ever. Every flow-run process
sends a heartbeat event every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (30, prefect.yaml and
ops/serve.sh set it; Prefect's default is 180). The automation ``billing run unresponsive``
expects, after a run starts (its Running event, sent by the server) and after each of its
heartbeats, another heartbeat or the run's end within
BILLING_CRASH_AFTER_SECONDS (90, three missed heartbeats); when neither comes, it sets the run
Crashed, with a message saying why. This is what Prefect 3 offers a self-hosted server for
"zombie" runs (docs: "Detect zombie flows"); Prefect Cloud has it built in.

ops/serve.sh (make serve) installs it; running it again changes nothing unless the setting
changed (then it replaces it). By hand, against the server
of ``make serve`` (``. out/prefect/env`` first):

    python ops/crash_detection.py            # install or replace
    python ops/crash_detection.py remove
"""

from __future__ import annotations

import datetime as dt
import os
import sys

import automations  # ops/automations.py, beside this script

AUTOMATION = "billing run unresponsive"
HEARTBEAT_SECONDS = 30  # Prefect's minimum; the value of prefect.yaml's job variables
DEFAULT_CRASH_AFTER_SECONDS = 90


def crash_after_seconds() -> int:
    """BILLING_CRASH_AFTER_SECONDS, at least a heartbeat and a half: a shorter window would
    crash healthy runs whose heartbeat is a little late."""
    raw = os.environ.get("BILLING_CRASH_AFTER_SECONDS", "").strip()
    seconds = int(raw) if raw else DEFAULT_CRASH_AFTER_SECONDS
    low = HEARTBEAT_SECONDS * 3 // 2
    if seconds < low:
        raise SystemExit(f"BILLING_CRASH_AFTER_SECONDS must be at least {low} "
                         f"(heartbeats come every {HEARTBEAT_SECONDS} s), not {seconds}")
    return seconds


def remove_automation() -> bool:
    return automations.remove_automation(AUTOMATION)


AFTER = {"prefect.flow-run.heartbeat", "prefect.flow-run.Running"}


def installed(seconds: int) -> bool:
    """The automation is there as it would be made now. Replacing it would forget the runs it
    is watching (a run that died just before would never be marked), so ops/serve.sh, which
    runs this every time, leaves it alone then."""
    from prefect.automations import Automation

    try:
        found = Automation.read(name=AUTOMATION)
    except ValueError:
        return False
    trigger = found.trigger
    return (found.enabled and set(getattr(trigger, "after", ())) == AFTER
            and getattr(trigger, "within", None) == dt.timedelta(seconds=seconds))


def install(seconds: int) -> None:
    from prefect.automations import Automation, EventTrigger, Posture
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState

    if installed(seconds):
        print(f"automation '{AUTOMATION}' is installed ({seconds} s)")
        return
    remove_automation()
    automation = Automation(
        name=AUTOMATION,
        description=(f"Mark a flow run Crashed when neither a heartbeat nor its end arrived "
                     f"within {seconds} s of its start or last heartbeat (its process died or "
                     "hangs)."),
        trigger=EventTrigger(
            # the server's own Running event arms it too: a process that dies before its first
            # heartbeat reached the server is caught as well
            after=AFTER,
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                    "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                    "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive, threshold=1, within=dt.timedelta(seconds=seconds)),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=(f"No heartbeat from the flow-run process for {seconds} s: it died or "
                     "hangs (machine stopped, process killed). Start the run again; a final "
                     "run recovers what it left (README, 'When something goes wrong')."))],
    ).create()
    print(f"automation '{AUTOMATION}' ({automation.id}): a run without heartbeat for "
          f"{seconds} s is marked Crashed")


def main(argv: list[str]) -> int:
    if argv == ["remove"]:
        print("removed" if remove_automation() else "no automation to remove")
        return 0
    if argv:
        raise SystemExit(__doc__)
    install(crash_after_seconds())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
