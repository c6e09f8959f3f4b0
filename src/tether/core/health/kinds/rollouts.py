"""Argo Rollouts: Rollout."""

from __future__ import annotations

from tether.core.paths import ObjView

from ..readers import (
    annotations_of,
    as_generation,
    conditions_of,
    desired_replicas,
    generation,
    integer,
    message_of,
    section,
)
from ..status import HealthStatus, ResourceHealth, degraded, healthy, progressing, suspended

GROUP = "argoproj.io"
_WORKLOAD_GENERATION = "rollout.argoproj.io/workload-generation"


def _spec_observed(obj: ObjView) -> bool:
    """Rollouts write `observedGeneration` as a string; before v0.10 it was a pod-template
    hash, which may even look like a (large) number: only a smaller number means behind."""
    observed = as_generation(section(obj, "status").get("observedGeneration"))
    if observed is not None and observed < generation(obj):
        return False
    if section(obj, "spec").get("workloadRef") is not None:
        wanted = as_generation(annotations_of(obj).get(_WORKLOAD_GENERATION))
        seen = as_generation(section(obj, "status").get("workloadObservedGeneration"))
        if wanted is not None and wanted != seen:
            return False
    return True


def _replicas_progress(obj: ObjView) -> ResourceHealth | None:
    spec, status = section(obj, "spec"), section(obj, "status")
    updated = integer(status, "updatedReplicas")
    if updated < desired_replicas(obj):
        return progressing("Waiting for roll out to finish: More replicas need to be updated")
    # Blue-green keeps the old replicas for its scale-down delay: only canary waits for them.
    if (
        section(spec, "strategy").get("canary") is not None
        and integer(status, "replicas") > updated
    ):
        return progressing("Waiting for roll out to finish: old replicas are pending termination")
    if integer(status, "availableReplicas") < updated:
        return progressing(
            "Waiting for roll out to finish: updated replicas are still becoming available"
        )
    return None


def rollout_health(obj: ObjView) -> ResourceHealth:
    status = section(obj, "status")
    if not status or not _spec_observed(obj):
        return progressing("Waiting for rollout spec update to be observed")
    # Rollouts >= v1.0 summarise themselves in phase/message.
    phase = status.get("phase")
    if isinstance(phase, str) and phase:
        message = str(status.get("message") or "")
        if phase == "Paused":
            return suspended(message or "Rollout is paused")
        try:
            return ResourceHealth(HealthStatus.parse(phase), message)
        except ValueError:
            return progressing(f"Rollout phase is {phase}" + (f": {message}" if message else ""))
    found = conditions_of(obj)
    if "InvalidSpec" in found:
        return degraded(message_of(found["InvalidSpec"], "InvalidSpec"))
    progress = found.get("Progressing")
    if progress is not None and progress.get("reason") in (
        "RolloutAborted",
        "ProgressDeadlineExceeded",
    ):
        return degraded(message_of(progress))
    pauses = status.get("pauseConditions")
    if (isinstance(pauses, list) and pauses) or section(obj, "spec").get("paused") is True:
        return suspended("Rollout is paused")
    waiting = _replicas_progress(obj)
    if waiting is not None:
        return waiting
    strategy = section(section(obj, "spec"), "strategy")
    current = status.get("currentPodHash")
    if strategy.get("blueGreen") is not None:
        if status.get("activeSelector") == current:
            return healthy("The active Service is serving traffic to the current pod spec")
        return progressing("The current pod spec is not receiving traffic from the active service")
    stable = status.get("stableRS") or section(status, "canary").get("stableRS")
    if current is not None and stable == current:
        return healthy()
    return progressing("Waiting for rollout to finish steps")


RULES = {(GROUP, "Rollout"): rollout_health}
