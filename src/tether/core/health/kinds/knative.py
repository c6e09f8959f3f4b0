"""Knative Serving: Service, Configuration, Route, Revision (Knative's condition
convention: Unknown while in progress, False once failed)."""

from __future__ import annotations

from tether.core.paths import ObjView

from ..readers import condition_stale, conditions_of, is_status, kind, message_of
from ..status import ResourceHealth, degraded, healthy, progressing

GROUP = "serving.knative.dev"


def knative_health(obj: ObjView) -> ResourceHealth:
    found = conditions_of(obj)
    ready = found.get("Ready")
    if ready is None or condition_stale(ready, obj):
        return progressing(f"Waiting for {kind(obj)} to become ready")
    # Knative summarises its sub-conditions (ConfigurationsReady, RoutesReady) in Ready.
    for name, cond in found.items():
        if name != "Ready" and is_status(cond, "False"):
            return degraded(f"{name} is False: {message_of(cond)}")
    if is_status(ready, "True"):
        return healthy(f"{kind(obj)} is ready")
    if is_status(ready, "False"):
        return degraded(message_of(ready, "Not ready"))
    return progressing(message_of(ready, "Ready is Unknown"))


RULES = {
    (GROUP, name): knative_health for name in ("Service", "Configuration", "Route", "Revision")
}
