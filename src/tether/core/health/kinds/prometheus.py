"""Prometheus Operator: Prometheus, Alertmanager, ThanosRuler, PrometheusAgent."""

from __future__ import annotations

from tether.core.paths import ObjView

from ..readers import condition_stale, conditions_of, is_status, message_of
from ..status import ResourceHealth, degraded, healthy, progressing

GROUP = "monitoring.coreos.com"


def available_health(obj: ObjView) -> ResourceHealth:
    available = conditions_of(obj).get("Available")
    if available is None or condition_stale(available, obj):
        return progressing("Waiting for initialization")
    if is_status(available, "True"):
        return healthy("All instances are available")
    # SomePodsNotReady: a rollout or a restart in progress; anything else (NoPodReady,
    # a scheduling failure) needs a look.
    if available.get("reason") == "SomePodsNotReady":
        return progressing(message_of(available, "SomePodsNotReady"))
    return degraded(message_of(available, "Not available"))


RULES = {
    (GROUP, name): available_health
    for name in ("Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent")
}
