"""Gateway API: Gateway (`Accepted`, `Programmed`, listeners) and the routes (per parent)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tether.core.paths import ObjView

from ..readers import as_generation, conditions, generation, kind, section
from ..status import ResourceHealth, degraded, healthy, progressing

GROUP = "gateway.networking.k8s.io"


def _problem(found: Mapping[str, Mapping[str, Any]], prefix: str) -> ResourceHealth | None:
    """Degraded for ResolvedRefs/Accepted False, Progressing while not Programmed."""
    for failed_type in ("ResolvedRefs", "Accepted"):
        cond = found.get(failed_type)
        if cond is not None and str(cond.get("status")) == "False":
            return degraded(prefix + str(cond.get("message") or f"{failed_type} is False"))
    programmed = found.get("Programmed")
    if programmed is not None and str(programmed.get("status")) != "True":
        return progressing(prefix + str(programmed.get("message") or "still being programmed"))
    return None


def _current(found: Mapping[str, Mapping[str, Any]], obj: ObjView) -> bool:
    """Conditions stamped with the current generation (unstamped ones are accepted)."""
    stamps = [as_generation(c.get("observedGeneration")) for c in found.values()]
    known = [s for s in stamps if s is not None]
    return not known or max(known) >= generation(obj)


def gateway_health(obj: ObjView) -> ResourceHealth:
    status = section(obj, "status")
    found = conditions(status)
    if found and not _current(found, obj):
        return progressing(f"Waiting for the controller to observe the {kind(obj)}")
    problem = _problem(found, "")
    if problem is not None:
        return problem
    listeners = status.get("listeners")
    listeners = listeners if isinstance(listeners, list) else []
    for listener in listeners:
        if isinstance(listener, Mapping):
            problem = _problem(conditions(listener), "Listener: ")
            if problem is not None:
                return problem
    if found or listeners:
        return healthy(f"{kind(obj)} is healthy")
    return progressing(f"Waiting for {kind(obj)} status")


def _parents(status: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    raw = status.get("parents")
    return [p for p in raw if isinstance(p, Mapping)] if isinstance(raw, list) else []


def route_health(obj: ObjView) -> ResourceHealth:
    current_parents = []
    for parent in _parents(section(obj, "status")):
        found = conditions(parent)
        # A parent that has not seen this generation yet says nothing about it.
        if found and _current(found, obj):
            current_parents.append((parent, found))
    for parent, found in current_parents:
        parent_name = section(parent, "parentRef").get("name") or ""
        problem = _problem(found, f"Parent {parent_name}: ")
        if problem is not None:
            return problem
    if current_parents:
        return healthy(f"{kind(obj)} is healthy")
    return progressing(f"Waiting for {kind(obj)} status")


RULES = {
    (GROUP, "Gateway"): gateway_health,
    (GROUP, "GatewayClass"): gateway_health,
    **{
        (GROUP, route): route_health
        for route in ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")
    },
}
