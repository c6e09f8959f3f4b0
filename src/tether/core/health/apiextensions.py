"""Built-in rules for the API's own objects: CustomResourceDefinition, APIService,
Namespace."""

from __future__ import annotations

from tether.core.paths import ObjView

from .readers import conditions, describe, is_status, section
from .status import ResourceHealth, degraded, healthy, progressing


def crd_health(obj: ObjView) -> ResourceHealth:
    found = conditions(section(obj, "status"))
    if is_status(found.get("Terminating"), "True"):
        return progressing(describe(found["Terminating"], "CRD is terminating"))
    if is_status(found.get("NamesAccepted"), "False"):
        return degraded(describe(found["NamesAccepted"], "CRD names are not accepted"))
    if is_status(found.get("NonStructuralSchema"), "True"):
        return degraded(describe(found["NonStructuralSchema"], "CRD schema is invalid"))
    established = found.get("Established")
    if is_status(established, "True"):
        return healthy()
    # The API server says Installing while it starts serving the new names; any other
    # reason for False (a conflict, a failed install) will not clear by itself.
    if is_status(established, "False") and (established or {}).get("reason") != "Installing":
        return degraded(describe(established, "CRD is not established"))
    if not found:
        return progressing("Waiting for the API server to report the CRD's conditions")
    return progressing(describe(established, "Waiting for CRD to be served"))


def apiservice_health(obj: ObjView) -> ResourceHealth:
    available = conditions(section(obj, "status")).get("Available")
    if is_status(available, "True"):
        return healthy()
    # Not Degraded: an aggregated API is often unavailable for a while after its backing
    # Deployment starts, and the condition says why.
    return progressing(describe(available, "Waiting for the API service to become available"))


def namespace_health(obj: ObjView) -> ResourceHealth:
    status = section(obj, "status")
    phase = status.get("phase")
    if phase == "Active":
        return healthy()
    if phase == "Terminating":
        # The deletion conditions that are True say what is holding the namespace up.
        blockers = [
            describe(cond) for cond in conditions(status).values() if is_status(cond, "True")
        ]
        detail = f": {'; '.join(b for b in blockers if b)}" if any(blockers) else ""
        return progressing(f"Namespace is terminating{detail}")
    return progressing("Waiting for the namespace to become active")
