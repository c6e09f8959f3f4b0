"""What the controller should do about an app after a compare (DESIGN §3 "Self-heal and
auto-sync"): nothing, auto-sync a new revision, self-heal drift, retry a failed sync, or
wait — with the reason, so the status and events can say why nothing happened.

Pure: the caller passes the app, the comparison outcome, the controller's memory of
earlier self-heals and the current monotonic time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from tether.model.application import (
    CONDITION_HISTORY_REWRITTEN,
    Application,
    ApplicationStatus,
    HealthStatusCode,
    OperationPhase,
    SyncStatusCode,
    find_condition,
)
from tether.model.fields import parse_duration
from tether.model.status import MISSING_DRIFT

CONTROLLER_INITIATOR = "controller"  # operationState.initiatedBy prefix of our own syncs
SELF_HEAL_BASE = 2.0  # seconds; the n-th repeated self-heal waits 2 s * 3^(n-1) ...
SELF_HEAL_FACTOR = 3.0
SELF_HEAL_MAX = 300.0  # ... up to 5 minutes
SELF_HEAL_FAILING_AFTER = 3  # repeated self-heals undone this often raise a condition
INTERRUPTED_MESSAGE = "interrupted: the controller stopped during the sync"
# Reasons the controller acts on (conditions, re-checks); the others are for people.
REASON_SUSPENDED = "suspended"
REASON_DETECT_ONLY = "detect-only: never writes"
REASON_AUTO_SYNC_OFF = "auto-sync is off"
REASON_IN_SYNC = "in sync"
REASON_SYNC_RUNNING = "a sync is running"
DEPENDENCY_REASON_PREFIX = "waiting for dependency"
# Self-heal held back on purpose (the reconciler says why in a SelfHealFailing condition).
REASON_NOT_REPAIRABLE = "drift not repairable"
REASON_NON_DETERMINISTIC = "drift from a non-deterministic render"
HEAL_BLOCKED_NOT_REPAIRABLE = "DriftNotRepairable"
HEAL_BLOCKED_NON_DETERMINISTIC = "NonDeterministicRender"
NON_DETERMINISTIC_CAUSE = "non-deterministic-render"


class Action(StrEnum):
    NONE = "none"
    AUTO_SYNC = "auto-sync"  # a new revision
    SELF_HEAL = "self-heal"  # same revision, live drift
    RETRY = "retry"  # the last sync of this revision failed and syncPolicy.retry allows more
    REBUILD = "rebuild"  # its cluster was replaced by an empty one: everything is Missing
    WAIT = "wait"  # something blocks a sync it would otherwise do


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""
    delay: float = 0.0  # seconds to wait before acting (backoff); 0 = now
    # Why self-heal is held back (HEAL_BLOCKED_*), for the SelfHealFailing condition.
    heal_blocked: str = ""

    @property
    def syncs(self) -> bool:
        return self.action in (Action.AUTO_SYNC, Action.SELF_HEAL, Action.RETRY, Action.REBUILD)

    @property
    def waits_for_dependencies(self) -> bool:
        return self.reason.startswith(DEPENDENCY_REASON_PREFIX)


@dataclass
class SelfHealMemory:
    """The controller's record of recent self-heals of one app (kept in memory only)."""

    attempts: int = 0
    last_at: float | None = None  # monotonic time of the last self-heal
    # Drift a self-heal of `unrepairable_revision` left exactly as it was (object -> paths)
    # and why: not healed again until the drift or the revision changes.
    unrepairable: dict[str, frozenset[str]] = field(default_factory=dict)
    unrepairable_revision: str | None = None
    unrepairable_message: str = ""

    def forget_unrepairable(self) -> None:
        self.unrepairable = {}
        self.unrepairable_revision = None
        self.unrepairable_message = ""


def self_heal_delay(attempts: int) -> float:
    """Wait before self-heal number `attempts + 1` in a row: 0, 2, 6, 18, ... ≤ 300 s.

    The first heal of a fresh drift is immediate; only a heal that did not hold (someone
    keeps changing the object back) backs off, so a fight with another writer is not a
    hot loop.
    """
    if attempts <= 0:
        return 0.0
    return min(SELF_HEAL_BASE * SELF_HEAL_FACTOR ** (attempts - 1), SELF_HEAL_MAX)


def retry_delay(app: Application, retry_count: int) -> float:
    """Backoff of `syncPolicy.retry` before attempt `retry_count + 1`."""
    retry = app.spec.sync_policy.retry
    if retry is None:
        return 0.0
    base = parse_duration(retry.backoff.duration)
    cap = parse_duration(retry.backoff.max_duration)
    return float(min(base * retry.backoff.factor ** max(retry_count - 1, 0), cap))


def last_attempted_revision(status: ApplicationStatus | None) -> str | None:
    """The revision of the newest sync anyone started (or the newest history entry)."""
    if status is None:
        return None
    if status.operation_state is not None and status.operation_state.revision:
        return status.operation_state.revision
    return status.history[-1].revision if status.history else None


def is_controller_operation(initiated_by: str | None) -> bool:
    return bool(initiated_by) and str(initiated_by).startswith(CONTROLLER_INITIATOR + "/")


def decide(
    app: Application,
    *,
    compared: ApplicationStatus,
    dependencies: Mapping[tuple[str, str], ApplicationStatus | None],
    memory: SelfHealMemory,
    now: float,
    cluster_replaced: bool = False,
) -> Decision:
    """The controller's next step for `app`, whose fresh comparison is `compared`.

    `cluster_replaced`: the destination cluster is another one than the app deployed to
    (its identity changed). An app of such a cluster whose every object is Missing is
    rebuilt from Git even without self-heal, as a disaster recovery: the objects did not
    drift, the cluster they lived in is gone."""
    if app.spec.suspend:
        return Decision(Action.NONE, REASON_SUSPENDED)
    if app.spec.detect_only:
        return Decision(Action.NONE, REASON_DETECT_ONLY)
    if not app.auto_sync_enabled:
        return Decision(Action.NONE, REASON_AUTO_SYNC_OFF)
    if compared.break_glass is not None and compared.break_glass.active:
        return Decision(Action.WAIT, "break-glass rollback active")
    rewritten = find_condition(compared.conditions, CONDITION_HISTORY_REWRITTEN)
    if rewritten is not None:
        return Decision(Action.WAIT, "history rewritten: auto-sync frozen")
    if compared.sync.status is not SyncStatusCode.OUT_OF_SYNC:
        return Decision(Action.NONE, REASON_IN_SYNC)
    state = compared.operation_state
    if state is not None and state.phase is OperationPhase.RUNNING:
        return Decision(Action.WAIT, REASON_SYNC_RUNNING)
    waiting = dependencies_not_ready(app, dependencies)
    if waiting:
        return Decision(Action.WAIT, waiting)
    if cluster_replaced and all_missing(compared):
        return Decision(Action.REBUILD, "its cluster came back empty: rebuilding from Git")
    head = compared.sync.revision
    if head is not None and head != last_attempted_revision(compared):
        return Decision(Action.AUTO_SYNC, f"new revision {head[:8]}")
    if state is not None and state.phase in (OperationPhase.FAILED, OperationPhase.ERROR):
        if state.message == INTERRUPTED_MESSAGE:
            return Decision(Action.RETRY, "resuming a sync the controller did not finish")
        retry = app.spec.sync_policy.retry
        if retry is not None and state.retry_count < retry.limit:
            return Decision(
                Action.RETRY,
                f"retry {state.retry_count + 1}/{retry.limit} of the failed sync",
                retry_delay(app, state.retry_count + 1),
            )
        return Decision(Action.NONE, f"the sync of {str(head)[:8]} failed; not retried")
    if not app.self_heal:
        return Decision(Action.NONE, "drift left alone: self-heal is off")
    drifted = drifted_objects(compared)
    if drifted and all(_cause_of(compared, obj) == NON_DETERMINISTIC_CAUSE for obj in drifted):
        objects = ", ".join(sorted(drifted))
        return Decision(
            Action.NONE,
            f"{REASON_NON_DETERMINISTIC} is not self-healed: {objects} changes on every render"
            " of the same commit, a sync would only rotate it (set the value in Git, e.g. the"
            " chart's values or an existingSecret)",
            heal_blocked=HEAL_BLOCKED_NON_DETERMINISTIC,
        )
    if (
        drifted
        and memory.unrepairable
        and memory.unrepairable_revision == head
        and all(
            paths <= memory.unrepairable.get(obj, frozenset()) for obj, paths in drifted.items()
        )
    ):
        return Decision(
            Action.NONE,
            f"{REASON_NOT_REPAIRABLE}: {memory.unrepairable_message}",
            heal_blocked=HEAL_BLOCKED_NOT_REPAIRABLE,
        )
    attempts = memory.attempts
    if memory.last_at is not None and now - memory.last_at > SELF_HEAL_MAX:
        attempts = 0  # the last heal held long enough: this is a new drift
    delay = self_heal_delay(attempts)
    if memory.last_at is not None:
        delay = max(0.0, memory.last_at + delay - now)
    return Decision(Action.SELF_HEAL, f"self-heal attempt {attempts + 1}", delay)


def all_missing(status: ApplicationStatus | None) -> bool:
    """Whether the app tracks objects and not one of them exists (hooks are no part)."""
    resources = status.resources if status else ()
    return bool(resources) and all(r.drift == (MISSING_DRIFT,) for r in resources)


def drifted_objects(status: ApplicationStatus | None) -> dict[str, frozenset[str]]:
    """Objects (by key) that exist and differ, with their drifted paths; objects to create
    or prune are not drift a heal could leave in place."""
    return {
        str(r.key): frozenset(r.drift)
        for r in (status.resources if status else ())
        if r.status is SyncStatusCode.OUT_OF_SYNC
        and r.drift
        and not any(path.startswith("(") for path in r.drift)
    }


def unrepaired_drift(
    before: Mapping[str, frozenset[str]], after: Mapping[str, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """Drift still there, path for path, right after the sync that was to heal it."""
    still = {obj: before[obj] & paths for obj, paths in after.items() if obj in before}
    return {obj: paths for obj, paths in still.items() if paths}


def _cause_of(status: ApplicationStatus, obj: str) -> str | None:
    for r in status.resources:
        if str(r.key) == obj:
            return r.drift_cause
    return None


def dependencies_not_ready(
    app: Application, dependencies: Mapping[tuple[str, str], ApplicationStatus | None]
) -> str:
    """Why `dependsOn` is not satisfied ('' when it is): every dependency must exist and be
    Synced + Healthy at its current revision with no sync running."""
    for ns, name in app.dependencies():
        status = dependencies.get((ns, name))
        if status is None:
            return f"{DEPENDENCY_REASON_PREFIX} {ns}/{name}: not found"
        running = (
            status.operation_state is not None
            and status.operation_state.phase is OperationPhase.RUNNING
        )
        if (
            status.sync.status is not SyncStatusCode.SYNCED
            or status.health.status is not HealthStatusCode.HEALTHY
            or running
        ):
            return (
                f"{DEPENDENCY_REASON_PREFIX} {ns}/{name}:"
                f" {status.sync.status.value}/{status.health.status.value}"
                + (", sync running" if running else "")
            )
    return ""


@dataclass
class DriftTracker:
    """Which objects of an app were drifted at the last compare, so that only new drift
    produces an event."""

    known: dict[str, frozenset[str]] = field(default_factory=dict)

    def new_drift(self, drifted: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
        """Objects (by name) whose set of drifted paths is new or grew since last time."""
        fresh = {
            obj: paths
            for obj, paths in drifted.items()
            if paths and not paths <= self.known.get(obj, frozenset())
        }
        self.known = dict(drifted)
        return fresh
