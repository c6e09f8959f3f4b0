"""CloudNativePG: Cluster (its `phase`, hibernation, and paused reconciliation)."""

from __future__ import annotations

from tether.core.paths import ObjView

from ..readers import annotations_of, conditions_of, is_status, message_of, section
from ..status import HealthStatus, ResourceHealth, progressing, suspended

GROUP = "postgresql.cnpg.io"

H = HealthStatus
# The operator's phase texts (`status.phase`); phaseReason says more.
_PHASES: dict[str, HealthStatus] = {
    "Cluster in healthy state": H.HEALTHY,
    "Setting up primary": H.PROGRESSING,
    "Creating a new replica": H.PROGRESSING,
    "Upgrading cluster": H.PROGRESSING,
    "Waiting for the instances to become active": H.PROGRESSING,
    "Promoting to primary cluster": H.PROGRESSING,
    "Switchover in progress": H.DEGRADED,
    "Failing over": H.DEGRADED,
    "Upgrading Postgres major version": H.DEGRADED,
    "Cluster upgrade delayed": H.DEGRADED,
    "Waiting for user action": H.DEGRADED,
    "Primary instance is being restarted in-place": H.DEGRADED,
    "Primary instance is being restarted without a switchover": H.DEGRADED,
    "Cluster cannot execute instance online upgrade due to missing architecture binary": (
        H.DEGRADED
    ),
    "Online upgrade in progress": H.DEGRADED,
    "Applying configuration": H.DEGRADED,
    "Unable to create required cluster objects": H.SUSPENDED,
    "Cluster cannot proceed to reconciliation due to an unknown plugin being required": (
        H.SUSPENDED
    ),
    "Cluster has incomplete or invalid image catalog": H.SUSPENDED,
    "Cluster is unrecoverable and needs manual intervention": H.SUSPENDED,
}


def cluster_health(obj: ObjView) -> ResourceHealth:
    # Paused reconciliation is a person's decision: say so before anything else.
    marks = annotations_of(obj)
    if "disabled" in (marks.get("cnpg.io/reconciliationLoop"), marks.get("cnpg.io/reconciliation")):
        return suspended("Cluster reconciliation is suspended")
    status = section(obj, "status")
    found = conditions_of(obj)
    reason = str(status.get("phaseReason") or "")
    hibernation = found.get("cnpg.io/hibernation")
    if hibernation is not None:
        if is_status(hibernation, "True"):
            return suspended(message_of(hibernation, "Cluster is hibernated"))
        return ResourceHealth(H.DEGRADED, message_of(hibernation, "Hibernation failed"))
    phase = str(status.get("phase") or "")
    if phase in _PHASES:
        return ResourceHealth(_PHASES[phase], reason)
    if not phase:
        return progressing(reason or "Waiting for the cluster to be created")
    # A phase this table does not know (a newer operator): the Ready condition decides.
    ready = found.get("Ready")
    if is_status(ready, "True"):
        return ResourceHealth(H.HEALTHY, reason)
    return progressing(f"{phase}: {reason}" if reason else phase)


RULES = {(GROUP, "Cluster"): cluster_health}
