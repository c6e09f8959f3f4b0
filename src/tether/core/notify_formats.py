"""The body each receiver accepts (pure), built from one NotificationEvent:

- `generic` / `generic-hmac`: tether's own JSON, versioned (`docs/notifications.md` and
  `docs/notification-v1.schema.json` describe it);
- `slack`: an incoming-webhook message with Block Kit `blocks` and a `text` fallback;
- `msteams`: a message with one Adaptive Card attachment (what Teams workflows accept);
- `discord`: a webhook message with one embed;
- `alertmanager`: a list of alerts for `POST /api/v2/alerts` (`endsAt` set on recovery).

Every text is cut to what the service accepts (Slack 3,000 characters a block, Discord
4,096 an embed description and 1,024 a field) so a long message is cut, not refused.
"""

from __future__ import annotations

from typing import Any

from tether.model.notification import Severity, Trigger

from .notify_event import NotificationEvent, facts, objects_text

SCHEMA = "tether.dev/notification/v1"
COLOURS = {Severity.INFO: 0x1F7A3A, Severity.WARNING: 0x8A5A00, Severity.CRITICAL: 0xA4161A}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def generic(event: NotificationEvent) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "trigger": event.trigger.value,
        "severity": event.level.value,
        "application": {"namespace": event.namespace, "name": event.app},
        "cluster": event.cluster,
        "revision": {
            "sha": event.revision,
            "subject": event.commit_subject,
            "author": event.commit_author,
        },
        "initiatedBy": event.initiated_by,
        "message": event.message,
        "summary": event.summary,
        "objects": [
            {"action": o.action, "kind": o.kind, "namespace": o.namespace, "name": o.name}
            for o in event.changed
        ],
        "drift": [
            {
                "kind": d.kind,
                "namespace": d.namespace,
                "name": d.name,
                "paths": list(d.paths),
                "writer": d.writer,
                "cause": d.cause,
                "time": d.when,
                "suggestedIgnoreRule": d.suggested_ignore_rule,
            }
            for d in event.drift
        ],
        "suppressed": event.suppressed,
        "dashboardURL": event.dashboard_url,
        "time": event.at,
    }


def _body_lines(event: NotificationEvent) -> list[str]:
    lines = [event.summary] if event.summary else []
    lines.append(event.message)
    lines += [f"• {line}" for line in objects_text(event)]
    suggestions = [d for d in event.drift if d.suggested_ignore_rule]
    if suggestions:
        lines.append("This drift looks intentional; to ignore it:")
        lines.append(suggestions[0].suggested_ignore_rule.strip())
    return lines


def slack(event: NotificationEvent, channel: str = "") -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(event.title, 150)}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut("\n".join(_body_lines(event)), 3000)},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{name}*\n{value}", 2000)}
                for name, value in facts(event)[:10]
            ],
        },
    ]
    if event.dashboard_url:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{event.dashboard_url}|open in tether>"}],
            }
        )
    body: dict[str, Any] = {"text": _cut(f"{event.title}: {event.message}", 3000), "blocks": blocks}
    if channel:
        body["channel"] = channel
    return body


def msteams(event: NotificationEvent) -> dict[str, Any]:
    card_body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "size": "Medium",
            "weight": "Bolder",
            "text": event.title,
            "wrap": True,
        },
        {"type": "TextBlock", "text": "\n\n".join(_body_lines(event)), "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(event)]},
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": card_body,
    }
    if event.dashboard_url:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in tether", "url": event.dashboard_url}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def discord(event: NotificationEvent) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": _cut(event.title, 256),
        "description": _cut("\n".join(_body_lines(event)), 4096),
        "color": COLOURS[event.level],
        "fields": [
            {"name": _cut(k, 256), "value": _cut(v, 1024), "inline": k != "Revision"}
            for k, v in facts(event)[:25]
        ],
    }
    if event.at:
        embed["timestamp"] = event.at
    if event.dashboard_url:
        embed["url"] = event.dashboard_url
    return {"username": "tether", "embeds": [embed]}


def _alert_name(trigger: Trigger) -> str:
    return "Tether" + "".join(part.capitalize() for part in trigger.value.split("-"))


def alertmanager(event: NotificationEvent) -> list[Any]:
    """One alert; a `recovered` event ends the alert of the trigger it clears."""
    recovered_trigger = event.recovers if event.trigger is Trigger.RECOVERED else None
    trigger = recovered_trigger or event.trigger
    labels = {
        "alertname": _alert_name(trigger),
        "namespace": event.namespace,
        "application": event.app,
        "severity": event.level.value,
        "trigger": trigger.value,
    }
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {
            "summary": event.title,
            "description": "\n".join(_body_lines(event)),
            "revision": event.revision,
        },
        "startsAt": event.at,
    }
    if recovered_trigger is not None:
        alert["endsAt"] = event.at
    if event.dashboard_url:
        alert["generatorURL"] = event.dashboard_url
    return [alert]


def payload(kind: str, event: NotificationEvent, channel: str = "") -> Any:
    """The JSON body for a Provider of type `kind`."""
    if kind in ("generic", "generic-hmac"):
        return generic(event)
    if kind == "slack":
        return slack(event, channel)
    if kind == "msteams":
        return msteams(event)
    if kind == "discord":
        return discord(event)
    if kind == "alertmanager":
        return alertmanager(event)
    raise ValueError(f"no payload format for provider type {kind!r}")


__all__ = ["SCHEMA", "alertmanager", "discord", "generic", "msteams", "payload", "slack"]
