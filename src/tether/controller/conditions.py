"""What the controller adds to an Application's status and Events: the conditions of its
decision (dependencies, self-heal, sync error), the source condition of a failed fetch,
an Event when a warning condition appears or clears, and one per newly drifted object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tether.core.autosync import (
    REASON_AUTO_SYNC_OFF,
    REASON_IN_SYNC,
    REASON_SUSPENDED,
    SELF_HEAL_FAILING_AFTER,
    Action,
    Decision,
)
from tether.core.diff import Verdict
from tether.core.drift_findings import DriftCause
from tether.core.metrics import ControllerCounters
from tether.core.notify_event import NotificationEvent
from tether.engine.compare import Comparison
from tether.engine.events import NORMAL, WARNING, record_event
from tether.kube import KubeClient
from tether.model.application import (
    CONDITION_BREAK_GLASS,
    CONDITION_COMPARISON_ERROR,
    CONDITION_HISTORY_REWRITTEN,
    CONDITION_SELF_HEAL_FAILING,
    CONDITION_SOURCE_ERROR,
    CONDITION_SYNC_ERROR,
    CONDITION_WAITING_FOR_DEPENDENCIES,
    FIELD_MANAGER,
    Application,
    ApplicationStatus,
    Condition,
    ConditionStatus,
    remove_condition,
    set_condition,
)
from tether.model.keys import ResourceKey

from .memory import AppMemory
from .notifications import drift_event
from .selfheal import heal_blocked

EVENTFUL_CONDITIONS = (
    CONDITION_SOURCE_ERROR,
    CONDITION_HISTORY_REWRITTEN,
    CONDITION_BREAK_GLASS,
    CONDITION_SELF_HEAL_FAILING,
    CONDITION_COMPARISON_ERROR,
    CONDITION_SYNC_ERROR,
)


def controller_conditions(
    status: ApplicationStatus, decision: Decision, heal_attempts: int, now: str
) -> ApplicationStatus:
    """The conditions the controller's decision sets or clears (dependencies, self-heal,
    a sync error that a sync or an in-sync compare resolves)."""
    conditions = list(status.conditions)
    if decision.waits_for_dependencies:
        conditions = set_condition(
            conditions,
            Condition(
                CONDITION_WAITING_FOR_DEPENDENCIES,
                ConditionStatus.TRUE,
                "DependenciesNotReady",
                decision.reason,
            ),
            now,
        )
    else:
        conditions = remove_condition(conditions, CONDITION_WAITING_FOR_DEPENDENCIES)
    failing = decision.action is Action.SELF_HEAL and heal_attempts >= SELF_HEAL_FAILING_AFTER
    if decision.heal_blocked:
        conditions = set_condition(
            conditions,
            Condition(
                CONDITION_SELF_HEAL_FAILING,
                ConditionStatus.TRUE,
                decision.heal_blocked,
                decision.reason,
            ),
            now,
        )
    elif failing:
        conditions = set_condition(
            conditions,
            Condition(
                CONDITION_SELF_HEAL_FAILING,
                ConditionStatus.TRUE,
                "DriftKeepsReturning",
                f"self-heal ran {heal_attempts} times and the drift came back;"
                f" next attempt in {decision.delay:.0f}s (see `tether drift`)",
            ),
            now,
        )
    elif decision.reason in (REASON_IN_SYNC, REASON_AUTO_SYNC_OFF, REASON_SUSPENDED) or (
        decision.syncs and heal_blocked(conditions)
    ):
        # A heal or sync that goes ahead: what held self-heal back no longer does.
        conditions = remove_condition(conditions, CONDITION_SELF_HEAL_FAILING)
    if decision.reason == REASON_IN_SYNC or decision.action is Action.AUTO_SYNC:
        conditions = remove_condition(conditions, CONDITION_SYNC_ERROR)
    return dataclasses.replace(status, conditions=tuple(conditions))


def source_condition(status: ApplicationStatus, error: str | None, now: str) -> ApplicationStatus:
    """A failed fetch leaves the app compared against the last fetched commit, and
    says so: drift is still seen while Git is unreachable."""
    if error is None:
        conditions = remove_condition(status.conditions, CONDITION_SOURCE_ERROR)
    else:
        conditions = set_condition(
            status.conditions,
            Condition(CONDITION_SOURCE_ERROR, ConditionStatus.TRUE, "FetchFailed", error),
            now,
        )
    return dataclasses.replace(status, conditions=tuple(conditions))


async def condition_events(
    kube: KubeClient, app: Application, before: ApplicationStatus | None, after: ApplicationStatus
) -> None:
    """An event when a warning condition appears or clears (not on every reconcile)."""
    old = {c.type: c for c in (before.conditions if before else ())}
    new = {c.type: c for c in after.conditions}
    for ctype in EVENTFUL_CONDITIONS:
        if ctype in new and ctype not in old:
            await record_event(kube, app, WARNING, ctype, new[ctype].message)
        elif ctype in old and ctype not in new:
            await record_event(kube, app, NORMAL, f"{ctype}Cleared", f"{ctype} no longer applies")


async def drift_events(
    kube: KubeClient,
    counters: ControllerCounters,
    app: Application,
    comparison: Comparison,
    memory: AppMemory,
    notify: Callable[[NotificationEvent, Application], None] = lambda _e, _a: None,
) -> None:
    """An event and a count per newly drifted object (not on every reconcile), and one
    notification for all of them."""
    diff, status = comparison.diff, comparison.status
    if diff is None:
        return
    # Drift is a change to a live object, or the deletion of one we saw; an object
    # that was never created yet (Missing before the first sync) is not drift.
    # An undeclared manual edit is drift too, though it leaves the object Synced.
    drifted = {
        str(d.key): frozenset(d.paths) | frozenset(d.manual_edits) or frozenset({"(deleted)"})
        for d in diff.objects
        if d.verdict is Verdict.OUT_OF_SYNC
        or (d.verdict is Verdict.MISSING and d.key in memory.was_live)
        or (d.verdict is Verdict.SYNCED and d.manual_edits)
    }
    memory.was_live = set(comparison.live)
    fresh = memory.drift.new_drift(drifted)
    # The compare already attributed each drifted object (status.resources[]).
    resources = {str(r.key): r for r in (status.resources if status else ())}
    keys = {str(d.key): d.key for d in diff.objects}
    announced: dict[ResourceKey, list[str]] = {}
    for obj in sorted(fresh):
        found = resources.get(obj)
        cause = (found.drift_cause if found else None) or "unknown"
        writer = found.drift_writer if found else None
        if writer == FIELD_MANAGER and cause != DriftCause.NON_DETERMINISTIC_RENDER.value:
            # tether's own write (a sync interrupted by a restart, say) is not drift:
            # the next sync finishes it; an event would blame nobody for nothing.
            continue
        counters.drift_events[(app.namespace, app.name, cause)] += 1
        if obj in keys:
            announced[keys[obj]] = sorted(fresh[obj])  # "(deleted)" for a deleted object
        await record_event(
            kube,
            app,
            WARNING,
            "DriftDetected",
            f"{obj}: {', '.join(sorted(fresh[obj])[:5])} changed (cause {cause}"
            + (f", writer {writer}" if writer else "")
            + ")",
        )
    if announced:
        notify(drift_event(app, announced, comparison.findings, kube.server), app)
