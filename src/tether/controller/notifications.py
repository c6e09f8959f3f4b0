"""What the controller tells the notifier (engine/notifier.py): the events it sees, with
the details tether knows and the peers leave out.

- a sync it ran: `sync-succeeded` (or `self-heal`: what was put back and who had changed
  it) with only the objects the sync changed (created/configured/pruned, from the compare
  it planned from), or `sync-failed` / `auto-sync-refused` with the reason;
- new drift: `drift-detected` with each object's paths, writer, cause, time and the
  ignore rule when the drift looks intentional;
- states, from the status whoever wrote it (a CLI rollback, a force push seen by the
  source poller): `history-rewritten`, `break-glass`, `self-heal-failing`,
  `health-degraded`, `out-of-sync` when they begin, `recovered` when they end (the
  notifier holds `health-degraded`/`out-of-sync` for the Alert's `for` and drops them if
  they end first). The first look at an app after a start records its states silently:
  a restart does not re-announce every standing problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from tether.core.autosync import CONTROLLER_INITIATOR, Action, Decision
from tether.core.diff import AppDiff, Verdict
from tether.core.drift_findings import DriftFinding
from tether.core.drift_suggestions import suggestion_yaml
from tether.core.notify_event import ChangedObject, DriftedObject, NotificationEvent
from tether.engine.compare import Comparison
from tether.engine.sync import SyncResult
from tether.model.application import (
    CONDITION_BREAK_GLASS,
    CONDITION_HISTORY_REWRITTEN,
    CONDITION_SELF_HEAL_FAILING,
    Application,
    ApplicationStatus,
    HealthStatusCode,
    SyncStatusCode,
)
from tether.model.keys import ResourceKey
from tether.model.notification import Trigger
from tether.model.urls import display_url

from .memory import AppMemory

STATE_TRIGGERS = {
    CONDITION_HISTORY_REWRITTEN: Trigger.HISTORY_REWRITTEN,
    CONDITION_BREAK_GLASS: Trigger.BREAK_GLASS,
    CONDITION_SELF_HEAL_FAILING: Trigger.SELF_HEAL_FAILING,
}


def _base(app: Application, trigger: Trigger, message: str, cluster: str) -> NotificationEvent:
    status = app.status
    return NotificationEvent(
        trigger=trigger,
        namespace=app.namespace,
        app=app.name,
        message=message,
        cluster=display_url(cluster),
        revision=(status.sync.revision or "") if status else "",
    )


def changed_objects(
    diff: AppDiff | None, pruned: Sequence[ResourceKey]
) -> tuple[ChangedObject, ...]:
    """What a sync planned from `diff` changed: unchanged (Synced) objects left out."""
    if diff is None:
        return ()
    gone = set(pruned)
    found = []
    for d in diff.objects:
        action = {Verdict.MISSING: "created", Verdict.OUT_OF_SYNC: "configured"}.get(d.verdict)
        if d.verdict is Verdict.EXTRANEOUS and d.key in gone:
            action = "pruned"
        if action:
            found.append(ChangedObject(action, d.key.kind, d.key.namespace, d.key.name))
    return tuple(found)


def drifted_objects(
    paths: Mapping[ResourceKey, Sequence[str]], findings: Sequence[DriftFinding]
) -> tuple[DriftedObject, ...]:
    """Each object with its paths and, from drift forensics, writer, cause and time."""
    by_key: dict[ResourceKey, list[DriftFinding]] = {}
    for finding in findings:
        by_key.setdefault(finding.key, []).append(finding)
    out = []
    for key in sorted(paths, key=str):
        found = by_key.get(key, [])
        first = found[0] if found else None
        out.append(
            DriftedObject(
                kind=key.kind,
                namespace=key.namespace,
                name=key.name,
                paths=tuple(sorted(p for p in paths[key] if p)),
                writer=(first.writer.manager if first and first.writer else ""),
                cause=first.cause.value if first else "unknown",
                when=(first.when or "") if first else "",
                suggested_ignore_rule=suggestion_yaml(found),
            )
        )
    return tuple(out)


def sync_event(
    app: Application,
    *,
    succeeded: bool,
    message: str,
    revision: str | None,
    initiated_by: str,
    self_heal: bool,
    diff: AppDiff | None,
    pruned: Sequence[ResourceKey],
    findings: Sequence[DriftFinding],
    cluster: str,
) -> NotificationEvent:
    trigger = Trigger.SELF_HEAL if self_heal else Trigger.SYNC_SUCCEEDED
    if not succeeded:
        # A failed heal is a failed sync; `self-heal-failing` has one source, the
        # SelfHealFailing condition (states_of), as the docs' trigger table says.
        trigger = Trigger.SYNC_FAILED
    event = _base(app, trigger, message, cluster)
    drift: tuple[DriftedObject, ...] = ()
    if self_heal and diff is not None:
        # What was put back, and who had changed it.
        put_back = {d.key: d.paths for d in diff.objects if not d.in_sync}
        drift = drifted_objects(put_back, findings)
    return replace(
        event,
        revision=revision or event.revision,
        initiated_by=initiated_by,
        changed=changed_objects(diff, pruned) if succeeded else (),
        drift=drift,
    )


def refused_event(app: Application, reason: str, cluster: str) -> NotificationEvent:
    return _base(app, Trigger.AUTO_SYNC_REFUSED, reason, cluster)


def drift_event(
    app: Application,
    fresh: Mapping[ResourceKey, Sequence[str]],
    findings: Sequence[DriftFinding],
    cluster: str,
) -> NotificationEvent:
    objects = drifted_objects(fresh, findings)
    first = objects[0]
    who = f" by {first.writer}" if first.writer else ""
    message = f"{first.label}: {', '.join(first.paths[:5])} changed{who} ({first.cause})"
    if len(objects) > 1:
        message = f"{len(objects)} objects of {app.namespace}/{app.name} changed"
    event = _base(app, Trigger.DRIFT_DETECTED, message, cluster)
    return replace(event, drift=objects)


def states_of(status: ApplicationStatus) -> dict[Trigger, str]:
    """The standing states worth a message, each with its one-line message."""
    found = {
        trigger: condition.message
        for condition in status.conditions
        if (trigger := STATE_TRIGGERS.get(condition.type)) is not None
    }
    if status.health.status is HealthStatusCode.DEGRADED:
        found[Trigger.HEALTH_DEGRADED] = status.health.message or "Degraded"
    if status.sync.status is SyncStatusCode.OUT_OF_SYNC:
        found[Trigger.OUT_OF_SYNC] = "out of sync with Git"
    return found


def state_events(
    app: Application,
    before: dict[Trigger, str] | None,
    status: ApplicationStatus,
    cluster: str,
) -> tuple[dict[Trigger, str], list[NotificationEvent]]:
    """(the states now, the events for what began or ended since `before`); nothing
    when `before` is None (the first look after a start)."""
    now = states_of(status)
    if before is None:
        return now, []
    events = [
        _base(app, trigger, message, cluster)
        for trigger, message in now.items()
        if trigger not in before
    ]
    for trigger in before:
        if trigger not in now:
            ended = _base(app, Trigger.RECOVERED, f"{trigger.value} no longer applies", cluster)
            events.append(replace(ended, recovers=trigger))
    return now, events


def history_events(
    app: Application, seen: int | None, status: ApplicationStatus, cluster: str, own: str
) -> tuple[int, list[NotificationEvent]]:
    """(the newest history id, a sync-succeeded per deployment recorded since `seen` that
    the controller did not run itself: `tether app sync`, `tether revert`, the dashboard);
    the controller's own syncs are announced with what they changed when they end."""
    newest = max((e.id for e in status.history), default=0)
    if seen is None:
        return newest, []
    events = []
    for entry in status.history:
        if entry.id <= seen or (entry.initiated_by or "").startswith(own):
            continue
        who = entry.initiated_by or "unknown"
        event = _base(
            app, Trigger.SYNC_SUCCEEDED, f"deployed {entry.revision[:8]} ({who})", cluster
        )
        events.append(replace(event, revision=entry.revision, initiated_by=who))
    return newest, events


def controller_sync_event(
    app: Application,
    decision: Decision,
    comparison: Comparison,
    message: str,
    result: SyncResult | None,
    cluster: str,
) -> NotificationEvent:
    """The event of a sync the controller ran (`result` None: it failed)."""
    return sync_event(
        app,
        succeeded=result is not None,
        message=message.splitlines()[0] if message else "",
        revision=result.revision if result is not None else comparison.revision,
        initiated_by=f"{CONTROLLER_INITIATOR}/{decision.action.value}",
        self_heal=decision.action is Action.SELF_HEAL,
        diff=comparison.diff,
        pruned=result.pruned if result is not None else (),
        findings=comparison.findings,
        cluster=cluster,
    )


def observed_events(
    app: Application, status: ApplicationStatus, memory: AppMemory, cluster: str
) -> list[NotificationEvent]:
    """What began or ended, and deployments others made, since the last look (updates
    `memory`)."""
    memory.states, changes = state_events(app, memory.states, status, cluster)
    memory.history_seen, deployed = history_events(
        app, memory.history_seen, status, cluster, CONTROLLER_INITIATOR
    )
    return [*deployed, *changes]


__all__ = [
    "changed_objects",
    "controller_sync_event",
    "drift_event",
    "history_events",
    "observed_events",
    "refused_event",
    "state_events",
    "states_of",
    "sync_event",
]
