"""Kubernetes Events about an Application (sync start/finish, drift, self-heal, errors),
so `kubectl describe application` and event exporters tell the story too."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from tether.core.drift import DriftFinding, explain_app
from tether.errors import TetherError
from tether.kube import KubeClient
from tether.model.application import API_VERSION, KIND, Application
from tether.model.keys import ResourceKey

from .compare import Comparison, now_rfc3339

log = logging.getLogger(__name__)

REPORTING_COMPONENT = "tether-controller"
NORMAL = "Normal"
WARNING = "Warning"
MAX_MESSAGE = 1024  # the API server refuses longer event messages


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
        "message": message[:MAX_MESSAGE],
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


def drift_findings(comparison: Comparison) -> list[DriftFinding]:
    """Attribution of every drifted path of a comparison, from live managedFields alone."""
    if comparison.diff is None:
        return []
    desired = {ResourceKey.of(o): o for o in comparison.desired}
    rows = [
        (d, desired.get(d.key), comparison.live.get(d.key), comparison.predicted.get(d.key))
        for d in comparison.diff.out_of_sync
    ]
    return explain_app(rows, [])
