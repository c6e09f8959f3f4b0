"""KEDA: ScaledObject and ScaledJob."""

from __future__ import annotations

from tether.core.paths import ObjView

from ..readers import conditions_of, is_status, message_of
from ..status import ResourceHealth, degraded, healthy, progressing, suspended

GROUP = "keda.sh"


def scaled_object_health(obj: ObjView) -> ResourceHealth:
    found = conditions_of(obj)
    ready, fallback, paused = found.get("Ready"), found.get("Fallback"), found.get("Paused")
    if is_status(ready, "False"):
        return degraded(message_of(ready, "ScaledObject is not ready"))
    # Fallback: a trigger's scaler is failing and KEDA holds the fallback replica count.
    if is_status(fallback, "True"):
        return degraded(message_of(fallback, "A trigger is falling back"))
    if is_status(ready, "True"):
        if is_status(paused, "True"):
            return suspended(message_of(paused, "ScaledObject is paused"))
        return healthy(message_of(ready))
    return progressing("Creating HorizontalPodAutoscaler Object")


RULES = {(GROUP, "ScaledObject"): scaled_object_health, (GROUP, "ScaledJob"): scaled_object_health}
