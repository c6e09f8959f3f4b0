"""`status` of an Application (DESIGN §2): sync, health, resources, conditions,
operation state, history, break-glass; the condition types and status codes.

Times are RFC 3339 strings supplied by the caller: this layer has no clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tether.model.fields import (
    Fields,
    drop_none,
    list_or_none,
    parse_alone,
)
from tether.model.keys import ResourceKey

# ------------------------------------------------------------------------------ status


class SyncStatusCode(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class HealthStatusCode(StrEnum):
    """The one health vocabulary (core assesses with it, the status stores it), declared
    in the severity order of DESIGN §3: Healthy < Suspended < Progressing < Missing <
    Degraded < Unknown."""

    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"

    @property
    def severity(self) -> int:
        """0 for Healthy up to 5 for Unknown: higher is worse."""
        return _HEALTH_SEVERITY.index(self)

    # Comparisons follow severity, not the alphabet, when both sides are statuses.
    def __lt__(self, other: str) -> bool:
        if isinstance(other, HealthStatusCode):
            return self.severity < other.severity
        return str.__lt__(self, other)

    def __le__(self, other: str) -> bool:
        if isinstance(other, HealthStatusCode):
            return self.severity <= other.severity
        return str.__le__(self, other)

    def __gt__(self, other: str) -> bool:
        if isinstance(other, HealthStatusCode):
            return self.severity > other.severity
        return str.__gt__(self, other)

    def __ge__(self, other: str) -> bool:
        if isinstance(other, HealthStatusCode):
            return self.severity >= other.severity
        return str.__ge__(self, other)

    @classmethod
    def parse(cls, text: str) -> HealthStatusCode:
        """`"degraded"` -> DEGRADED (case-insensitive); ValueError for anything else."""
        for status in cls:
            if status.value.lower() == text.strip().lower():
                return status
        names = ", ".join(s.value for s in cls)
        raise ValueError(f"{text!r} is not a health status (one of {names})")


_HEALTH_SEVERITY: tuple[HealthStatusCode, ...] = tuple(HealthStatusCode)


class OperationPhase(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


# Every condition type an Application status can carry (DESIGN §3), in one place.
CONDITION_HISTORY_REWRITTEN = "HistoryRewritten"
CONDITION_BREAK_GLASS = "BreakGlass"
# Raised by the controller: self-heal keeps being undone, or dependencies are not ready.
CONDITION_SELF_HEAL_FAILING = "SelfHealFailing"
CONDITION_WAITING_FOR_DEPENDENCIES = "WaitingForDependencies"
CONDITION_SYNC_ERROR = "SyncError"
CONDITION_PROJECT_VIOLATION = "ProjectViolation"
CONDITION_CLUSTER_UNREACHABLE = "ClusterUnreachable"  # a registered destination does not answer
CONDITION_ADOPTION_REQUIRED = "AdoptionRequired"
CONDITION_COMPARISON_ERROR = "ComparisonError"
CONDITION_SHARED_RESOURCE = "SharedResource"
# A warning: the render produced no objects, or only objects other apps manage.
CONDITION_EMPTY_RENDER = "EmptyRender"
# An Application whose spec tether cannot read (the controller says so in its status).
CONDITION_INVALID_SPEC = "InvalidSpec"
# The repository could not be fetched (the compare goes on with the last good fetch).
CONDITION_SOURCE_ERROR = "SourceError"


@dataclass(frozen=True)
class SyncStatus:
    status: SyncStatusCode = SyncStatusCode.UNKNOWN
    revision: str | None = None  # the commit compared against
    compared_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {"status": self.status.value, "revision": self.revision, "comparedAt": self.compared_at}
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncStatus:
        return parse_alone(_parse_sync_status, data, "sync status")


def _parse_sync_status(fields: Fields) -> SyncStatus:
    return SyncStatus(
        status=fields.choice("status", SyncStatusCode, SyncStatusCode.UNKNOWN),
        revision=fields.optional_string("revision"),
        compared_at=fields.timestamp("comparedAt"),
    )


@dataclass(frozen=True)
class HealthStatus:
    status: HealthStatusCode = HealthStatusCode.UNKNOWN
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none({"status": self.status.value, "message": self.message})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthStatus:
        return parse_alone(_parse_health_status, data, "health status")


def _parse_health_status(fields: Fields) -> HealthStatus:
    return HealthStatus(
        status=fields.choice("status", HealthStatusCode, HealthStatusCode.UNKNOWN),
        message=fields.optional_string("message"),
    )


MISSING_DRIFT = "(missing: needs create)"  # the drift of an object Git has, the cluster not


@dataclass(frozen=True)
class ResourceStatus:
    """One managed object as last compared; `drift` lists the paths that differ, and
    `driftCause`/`driftWriter` say why (DESIGN "drift forensics"; `tether drift` has
    the evidence per path)."""

    kind: str
    name: str
    group: str = ""
    version: str = ""
    namespace: str = ""
    status: SyncStatusCode = SyncStatusCode.UNKNOWN
    health: HealthStatus | None = None
    drift: tuple[str, ...] = ()
    drift_cause: str | None = None
    drift_writer: str | None = None

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.group, self.kind, self.namespace, self.name)

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "group": self.group or None,
                "version": self.version or None,
                "kind": self.kind,
                "namespace": self.namespace or None,
                "name": self.name,
                "status": self.status.value,
                "health": self.health.to_dict() if self.health is not None else None,
                "drift": list_or_none(self.drift),
                "driftCause": self.drift_cause,
                "driftWriter": self.drift_writer,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceStatus:
        return parse_alone(_parse_resource_status, data, "resource status")


def _parse_resource_status(fields: Fields) -> ResourceStatus:
    health = fields.child("health")
    return ResourceStatus(
        kind=fields.required_string("kind"),
        name=fields.required_string("name"),
        group=fields.string("group"),
        version=fields.string("version"),
        namespace=fields.string("namespace"),
        status=fields.choice("status", SyncStatusCode, SyncStatusCode.UNKNOWN),
        health=_parse_health_status(health) if health is not None else None,
        drift=fields.strings("drift"),
        drift_cause=fields.optional_string("driftCause"),
        drift_writer=fields.optional_string("driftWriter"),
    )


@dataclass(frozen=True)
class Condition:
    """A Kubernetes-style condition. Build new ones with an empty transition time and
    let `set_condition` stamp it."""

    type: str
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "type": self.type,
                "status": self.status.value,
                "reason": self.reason,
                "message": self.message,
                "lastTransitionTime": self.last_transition_time or None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        return parse_alone(_parse_condition, data, "condition")


def _parse_condition(fields: Fields) -> Condition:
    return Condition(
        type=fields.required_string("type"),
        status=fields.choice("status", ConditionStatus, ConditionStatus.UNKNOWN),
        reason=fields.string("reason"),
        message=fields.string("message"),
        last_transition_time=fields.timestamp("lastTransitionTime") or "",
    )


def set_condition(conditions: Sequence[Condition], new: Condition, now: str) -> list[Condition]:
    """`conditions` with `new` in place of the condition of its type (or appended).

    The transition time moves to `now` only when the status changes: reason and message
    updates are not transitions, and a stable time is what tells how long a state lasts.
    """
    updated: list[Condition] = []
    replaced = False
    for current in conditions:
        if current.type != new.type:
            updated.append(current)
            continue
        if replaced:  # a duplicate of the type: keep one condition per type
            continue
        unchanged = current.status == new.status and current.last_transition_time
        since = current.last_transition_time if unchanged else now
        updated.append(replace(new, last_transition_time=since))
        replaced = True
    if not replaced:
        updated.append(replace(new, last_transition_time=now))
    return updated


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def remove_condition(conditions: Iterable[Condition], type_: str) -> list[Condition]:
    return [c for c in conditions if c.type != type_]


@dataclass(frozen=True)
class OperationState:
    """The current or last sync operation. `retryCount` counts failed attempts of this
    operation so that `syncPolicy.retry.limit` can be honoured across reconciles."""

    phase: OperationPhase
    revision: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    message: str | None = None
    initiated_by: str | None = None
    retry_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "phase": self.phase.value,
                "revision": self.revision,
                "startedAt": self.started_at,
                "finishedAt": self.finished_at,
                "message": self.message,
                "initiatedBy": self.initiated_by,
                "retryCount": self.retry_count or None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationState:
        return parse_alone(_parse_operation_state, data, "operation state")


def _parse_operation_state(fields: Fields) -> OperationState:
    if not fields.has("phase"):
        fields.problem("phase", "is required")
    return OperationState(
        phase=fields.choice("phase", OperationPhase, OperationPhase.ERROR),
        revision=fields.optional_string("revision"),
        started_at=fields.timestamp("startedAt"),
        finished_at=fields.timestamp("finishedAt"),
        message=fields.optional_string("message"),
        initiated_by=fields.optional_string("initiatedBy"),
        retry_count=fields.integer("retryCount", 0),
    )


@dataclass(frozen=True)
class HistoryEntry:
    """One successful full sync. `manifestsRef` names the Secret holding its rendered
    manifests. `health` (beyond DESIGN §2's list) records the health the sync reached,
    so "the last Healthy revision" can be found without Git."""

    id: int
    revision: str
    deployed_at: str
    deploy_started_at: str | None = None
    initiated_by: str | None = None
    manifests_ref: str | None = None
    health: HealthStatusCode | None = None
    # sha256 of the stored manifests, kept here and not only beside them: whoever can
    # rewrite the history Secret cannot make a rollback apply what they wrote.
    manifests_digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "id": self.id,
                "revision": self.revision,
                "deployedAt": self.deployed_at,
                "deployStartedAt": self.deploy_started_at,
                "initiatedBy": self.initiated_by,
                "manifestsRef": self.manifests_ref,
                "manifestsDigest": self.manifests_digest,
                "health": self.health.value if self.health is not None else None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEntry:
        return parse_alone(_parse_history_entry, data, "history entry")


def _parse_history_entry(fields: Fields) -> HistoryEntry:
    history_id = fields.optional_integer("id")
    if history_id is None and not fields.has("id"):
        fields.problem("id", "is required")
    deployed_at = fields.timestamp("deployedAt")
    if not fields.has("deployedAt"):
        fields.problem("deployedAt", "is required")
    health = fields.choice("health", HealthStatusCode, HealthStatusCode.UNKNOWN)
    return HistoryEntry(
        id=history_id or 0,
        revision=fields.required_string("revision"),
        deployed_at=deployed_at or "",
        deploy_started_at=fields.timestamp("deployStartedAt"),
        initiated_by=fields.optional_string("initiatedBy"),
        manifests_ref=fields.optional_string("manifestsRef"),
        health=health if fields.has("health") else None,
        manifests_digest=fields.optional_string("manifestsDigest"),
    )


@dataclass(frozen=True)
class BreakGlass:
    """A rollback from history is in force and Git does not match the cluster yet."""

    active: bool = False
    history_id: int | None = None
    since: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "active": self.active,
                "historyId": self.history_id,
                "since": self.since,
                "message": self.message,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakGlass:
        return parse_alone(_parse_break_glass, data, "break-glass state")


def _parse_break_glass(fields: Fields) -> BreakGlass:
    return BreakGlass(
        active=fields.boolean("active"),
        history_id=fields.optional_integer("historyId"),
        since=fields.timestamp("since"),
        message=fields.optional_string("message"),
    )


@dataclass(frozen=True)
class ApplicationStatus:
    """Status as the controller writes it. Unknown status fields are ignored on read (a
    newer controller may write more); lists are always written, even when empty, so a
    merge patch clears them."""

    sync: SyncStatus = field(default_factory=SyncStatus)
    health: HealthStatus = field(default_factory=HealthStatus)
    out_of_sync_since: str | None = None
    resources: tuple[ResourceStatus, ...] = ()
    conditions: tuple[Condition, ...] = ()
    operation_state: OperationState | None = None
    history: tuple[HistoryEntry, ...] = ()
    break_glass: BreakGlass | None = None
    last_handled_reconcile_at: str | None = None  # the last reconcile-request token handled

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "sync": self.sync.to_dict(),
                "health": self.health.to_dict(),
                "outOfSyncSince": self.out_of_sync_since,
                "resources": [r.to_dict() for r in self.resources],
                "conditions": [c.to_dict() for c in self.conditions],
                "operationState": (
                    self.operation_state.to_dict() if self.operation_state is not None else None
                ),
                "history": [h.to_dict() for h in self.history],
                "breakGlass": self.break_glass.to_dict() if self.break_glass is not None else None,
                "lastHandledReconcileAt": self.last_handled_reconcile_at,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApplicationStatus:
        return parse_alone(parse_status, data, "Application status")


def parse_status(fields: Fields) -> ApplicationStatus:
    sync, health = fields.child("sync"), fields.child("health")
    operation, break_glass = fields.child("operationState"), fields.child("breakGlass")
    return ApplicationStatus(
        sync=_parse_sync_status(sync) if sync is not None else SyncStatus(),
        health=_parse_health_status(health) if health is not None else HealthStatus(),
        out_of_sync_since=fields.timestamp("outOfSyncSince"),
        resources=tuple(_parse_resource_status(r) for r in fields.children("resources")),
        conditions=tuple(_parse_condition(c) for c in fields.children("conditions")),
        operation_state=_parse_operation_state(operation) if operation is not None else None,
        history=tuple(_parse_history_entry(h) for h in fields.children("history")),
        break_glass=_parse_break_glass(break_glass) if break_glass is not None else None,
        last_handled_reconcile_at=fields.optional_string("lastHandledReconcileAt"),
    )


__all__ = [
    "CONDITION_ADOPTION_REQUIRED",
    "CONDITION_BREAK_GLASS",
    "CONDITION_CLUSTER_UNREACHABLE",
    "CONDITION_COMPARISON_ERROR",
    "CONDITION_EMPTY_RENDER",
    "CONDITION_HISTORY_REWRITTEN",
    "CONDITION_INVALID_SPEC",
    "CONDITION_PROJECT_VIOLATION",
    "CONDITION_SELF_HEAL_FAILING",
    "CONDITION_SHARED_RESOURCE",
    "CONDITION_SOURCE_ERROR",
    "CONDITION_SYNC_ERROR",
    "CONDITION_WAITING_FOR_DEPENDENCIES",
    "ApplicationStatus",
    "BreakGlass",
    "Condition",
    "ConditionStatus",
    "HealthStatus",
    "HealthStatusCode",
    "HistoryEntry",
    "OperationPhase",
    "OperationState",
    "ResourceStatus",
    "SyncStatus",
    "SyncStatusCode",
    "find_condition",
    "parse_status",
    "remove_condition",
    "set_condition",
]
