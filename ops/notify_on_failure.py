"""Tell someone when a billing run fails: a Prefect notification block and an automation.

The automation fires on every flow run of ``billing-run`` or ``process-inbox`` that ends Failed
or Crashed, and sends the run's name, its state message (what went wrong, in plain words) and
a link to the run in the UI through the block ``billing-alerts``. Run it against the server of
``make serve`` (``. out/prefect/env`` first); running it again replaces both.

    python ops/notify_on_failure.py teams    https://example.webhook.office.com/...
    python ops/notify_on_failure.py slack    https://hooks.slack.com/services/...
    python ops/notify_on_failure.py webhook  https://alerts.example.ch/hook
    python ops/notify_on_failure.py sendgrid SENDGRID_API_KEY billing@example.ch ops@example.ch
    python ops/notify_on_failure.py remove

``webhook`` POSTs JSON ``{"subject": ..., "body": ...}`` to any URL (a mail gateway, a chat).
"""

from __future__ import annotations

import datetime as dt
import sys

import automations  # ops/automations.py, beside this script

BLOCK = "billing-alerts"
AUTOMATION = "billing run failed"
FLOWS = ["billing-run", "process-inbox"]
SUBJECT = "billing-export: {{ flow_run.name }} {{ flow_run.state.name }}"
BODY = ("Flow run '{{ flow_run.name }}' of {{ flow.name }} ended {{ flow_run.state.name }}.\n"
        "{{ flow_run.state.message }}\n"
        "Logs and parameters: {{ flow_run|ui_url }}")


def make_block(kind: str, args: list[str]):
    from prefect.blocks import notifications as n

    if kind == "teams" and len(args) == 1:
        return n.MicrosoftTeamsWebhook(url=args[0])
    if kind == "slack" and len(args) == 1:
        return n.SlackWebhook(url=args[0])
    if kind == "webhook" and len(args) == 1:
        return n.CustomWebhookNotificationBlock(
            name="billing-export", url=args[0],
            json_data={"subject": "{{subject}}", "body": "{{body}}"})
    if kind == "sendgrid" and len(args) >= 3:
        return n.SendgridEmail(api_key=args[0], sender_email=args[1], to_emails=args[2:])
    raise SystemExit(__doc__)


def remove_automation() -> bool:
    return automations.remove_automation(AUTOMATION)


def install(block) -> None:
    from prefect.automations import Automation, EventTrigger, Posture, SendNotification

    block_id = block.save(BLOCK, overwrite=True)
    remove_automation()
    automation = Automation(
        name=AUTOMATION,
        description="Notify when a billing run or an inbox poll fails or crashes.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": FLOWS},
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            posture=Posture.Reactive, threshold=1, within=dt.timedelta(0)),
        actions=[SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY)],
    ).create()
    print(f"automation '{AUTOMATION}' ({automation.id}) sends through block '{BLOCK}'")


def main(argv: list[str]) -> int:
    if argv == ["remove"]:
        print("removed" if remove_automation() else "no automation to remove")
        return 0
    if not argv:
        raise SystemExit(__doc__)
    install(make_block(argv[0], argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
