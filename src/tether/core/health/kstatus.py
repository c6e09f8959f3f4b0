"""The generic rule for every kind without a built-in one: the kstatus conventions
(`observedGeneration`, `Stalled`, `Reconciling`, `Ready`)."""

from __future__ import annotations

from tether.core.paths import ObjView

from .readers import (
    condition_stale,
    conditions,
    describe,
    generation,
    generation_behind,
    is_status,
    kind,
    observed_generation,
    section,
)
from .status import ResourceHealth, degraded, healthy, progressing, suspended


def kstatus_health(obj: ObjView) -> ResourceHealth | None:
    """Health by the kstatus conventions; None when nothing reports on the object."""
    status = section(obj, "status")
    if not status:
        return None
    if generation_behind(obj):
        return progressing(
            f"Waiting for the controller to observe generation {generation(obj)} "
            f"(observed {observed_generation(obj)})"
        )
    found = conditions(status)
    stalled = found.get("Stalled")
    if is_status(stalled, "True"):
        return degraded(describe(stalled, "Stalled"))
    # Flux (and many operators following it) pause reconciliation with spec.suspend.
    if section(obj, "spec").get("suspend") is True:
        return suspended(f"{kind(obj)} is suspended")
    reconciling = found.get("Reconciling")
    if is_status(reconciling, "True"):
        return progressing(describe(reconciling, "Reconciling"))
    ready = found.get("Ready")
    if ready is None:
        return healthy()
    # A Ready condition about an older generation says nothing about the current spec.
    if condition_stale(ready, obj):
        return progressing("Waiting for the Ready condition to reflect the latest generation")
    if is_status(ready, "True"):
        return healthy(describe(ready))
    # kstatus: not Ready is InProgress unless the controller says it is Stalled. A
    # Certificate being issued or a database bootstrapping is on its way, not failed.
    if is_status(ready, "False"):
        return progressing(describe(ready, "Not ready"))
    return progressing(describe(ready, "Readiness is unknown"))
