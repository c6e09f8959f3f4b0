"""Kubernetes Events about an Application (sync start/finish, drift, self-heal, errors),
so `kubectl describe application` and event exporters tell the story too."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from tether.errors import TetherError
from tether.kube import KubeClient
from tether.model.application import API_VERSION, KIND, Application
from tether.model.urls import scrub_userinfo

from .compare import now_rfc3339

log = logging.getLogger(__name__)

REPORTING_COMPONENT = "tether-controller"
NORMAL = "Normal"
WARNING = "Warning"
MAX_MESSAGE = 1024  # the API server refuses longer event messages
NOTIFICATION_SENT = "NotificationSent"  # reason of the Event for each delivered message


async def record_event(
    kube: KubeClient, app: Application, event_type: str, reason: str, message: str
) -> None:
    """Create one core/v1 Event on the Application; a failure is logged, never raised
    (events are a courtesy and must not stop a reconcile)."""
    now = now_rfc3339()
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{app.name}.{secrets.token_hex(8)}", "namespace": app.namespace},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": app.name,
            "namespace": app.namespace,
            "uid": app.extra_metadata.get("uid", ""),
        },
        "type": event_type,
        "reason": reason,
        "message": scrub_userinfo(message)[:MAX_MESSAGE],
        "source": {"component": REPORTING_COMPONENT},
        "reportingComponent": REPORTING_COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await kube.create(body)
    except TetherError as exc:
        log.warning("event %s on %s/%s not recorded: %s", reason, app.namespace, app.name, exc)


async def last_notification(kube: KubeClient, app: Application) -> str | None:
    """The newest NotificationSent Event of the app, as "TIME MESSAGE" (None: none)."""
    try:
        events = await kube.list("v1", "Event", app.namespace)
    except TetherError:
        return None
    sent = [
        e
        for e in events
        if e.get("reason") == NOTIFICATION_SENT
        and (e.get("involvedObject") or {}).get("name") == app.name
        and (e.get("involvedObject") or {}).get("kind") == KIND
    ]
    if not sent:
        return None
    newest = max(sent, key=lambda e: str(e.get("lastTimestamp") or ""))
    return f"{newest.get('lastTimestamp', '')} {newest.get('message', '')}"
