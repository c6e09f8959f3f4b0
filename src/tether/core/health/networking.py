"""Built-in rules for networking and disruption kinds: Service, Ingress,
PodDisruptionBudget."""

from __future__ import annotations

from tether.core.paths import ObjView

from .readers import conditions_of, generation_behind, has_status, is_status, section
from .status import ResourceHealth, degraded, healthy, progressing


def _has_load_balancer_ingress(obj: ObjView) -> bool:
    ingress = section(section(obj, "status"), "loadBalancer").get("ingress")
    return isinstance(ingress, list) and len(ingress) > 0


def service_health(obj: ObjView) -> ResourceHealth:
    # Only a LoadBalancer depends on something outside the API server (the cloud LB).
    if section(obj, "spec").get("type") != "LoadBalancer":
        return healthy()
    if _has_load_balancer_ingress(obj):
        return healthy()
    return progressing("Waiting for the load balancer to be provisioned")


def ingress_health(obj: ObjView) -> ResourceHealth:
    if _has_load_balancer_ingress(obj):
        return healthy()
    return progressing("Waiting for the ingress controller to publish an address")


def pdb_health(obj: ObjView) -> ResourceHealth:
    """A budget the disruption controller could not compute protects nothing."""
    if generation_behind(obj):
        return progressing("Waiting for the disruption controller to observe the budget")
    if not has_status(obj):
        return progressing("Waiting for status")
    allowed = conditions_of(obj).get("DisruptionAllowed")
    if allowed is None:
        return healthy()  # API servers before 1.21 write no conditions
    if is_status(allowed, "False") and allowed.get("reason") == "SyncFailed":
        detail = str(allowed.get("message") or "")
        return degraded("PodDisruptionBudget has SyncFailed" + (f": {detail}" if detail else ""))
    # InsufficientPods (no disruption allowed right now) is the budget doing its job.
    reason = str(allowed.get("reason") or "")
    return healthy(f"PodDisruptionBudget has {reason}" if reason else "")
