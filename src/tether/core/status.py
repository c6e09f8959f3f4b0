"""The Application status a comparison leads to (pure: `now` is a parameter)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tether.core.diff import AppDiff, Verdict
from tether.core.health import ResourceHealth
from tether.model.application import (
    CONDITION_ADOPTION_REQUIRED,
    CONDITION_BREAK_GLASS,
    CONDITION_CLUSTER_UNREACHABLE,
    CONDITION_COMPARISON_ERROR,
    CONDITION_EMPTY_RENDER,
    CONDITION_HISTORY_REWRITTEN,
    CONDITION_INVALID_SPEC,
    CONDITION_PROJECT_VIOLATION,
    CONDITION_SHARED_RESOURCE,
    ApplicationStatus,
    Condition,
    ConditionStatus,
    HealthStatus,
    HealthStatusCode,
    HistoryEntry,
    ResourceStatus,
    SyncStatus,
    SyncStatusCode,
    remove_condition,
    set_condition,
)
from tether.model.keys import ResourceKey
from tether.model.status import MISSING_DRIFT
from tether.model.urls import scrub_userinfo

# A comparison that fails says why with one of these; a successful one clears them all.
_FAILURE_CONDITIONS = (
    CONDITION_COMPARISON_ERROR,
    CONDITION_PROJECT_VIOLATION,
    CONDITION_INVALID_SPEC,
    CONDITION_CLUSTER_UNREACHABLE,
)


def _health(h: ResourceHealth | None) -> HealthStatus | None:
    if h is None:
        return None
    return HealthStatus(HealthStatusCode(str(h.status)), h.message or None)


def resource_statuses(
    diff: AppDiff,
    health: Mapping[ResourceKey, ResourceHealth | None],
    versions: Mapping[ResourceKey, str],
    causes: Mapping[ResourceKey, tuple[str, str | None]] | None = None,
) -> tuple[ResourceStatus, ...]:
    out = []
    for obj in diff.objects:
        key = obj.key
        sync = (
            SyncStatusCode.SYNCED if obj.verdict is Verdict.SYNCED else SyncStatusCode.OUT_OF_SYNC
        )
        # Undeclared manual edits are listed as drift even while the object is Synced.
        drift: tuple[str, ...] = (*obj.paths, *(p for p in obj.manual_edits if p not in obj.paths))
        if obj.verdict is Verdict.MISSING:
            drift = (MISSING_DRIFT,)
        elif obj.verdict is Verdict.EXTRANEOUS:
            drift = ("(extraneous: needs prune)",)
        out.append(
            ResourceStatus(
                kind=key.kind,
                name=key.name,
                group=key.group,
                version=versions.get(key, ""),
                namespace=key.namespace,
                status=sync,
                health=_health(health.get(key)),
                drift=drift,
                drift_cause=(causes or {}).get(key, (None, None))[0],
                drift_writer=(causes or {}).get(key, (None, None))[1],
            )
        )
    return tuple(out)


def compared_status(
    previous: ApplicationStatus | None,
    *,
    revision: str | None,
    diff: AppDiff,
    health: Mapping[ResourceKey, ResourceHealth | None],
    app_health: ResourceHealth,
    versions: Mapping[ResourceKey, str],
    now: str,
    warnings: Mapping[str, str] | None = None,
    causes: Mapping[ResourceKey, tuple[str, str | None]] | None = None,
) -> ApplicationStatus:
    """Status after a successful comparison; `comparedAt` moves only when something changed."""
    base = previous or ApplicationStatus()
    sync_code = SyncStatusCode.SYNCED if diff.in_sync else SyncStatusCode.OUT_OF_SYNC
    conditions = [c for c in base.conditions if c.type not in _FAILURE_CONDITIONS]
    # Conditions a comparison can raise; each is cleared by the next one that finds no cause.
    for ctype in (
        CONDITION_SHARED_RESOURCE,
        CONDITION_HISTORY_REWRITTEN,
        CONDITION_ADOPTION_REQUIRED,
        CONDITION_EMPTY_RENDER,
    ):
        message = (warnings or {}).get(ctype)
        if message:
            conditions = set_condition(
                conditions, Condition(ctype, ConditionStatus.TRUE, ctype, message), now
            )
        else:
            conditions = remove_condition(conditions, ctype)
    break_glass = base.break_glass
    if break_glass is not None and break_glass.active and sync_code is SyncStatusCode.SYNCED:
        # Git renders what the break-glass rollback applied: the emergency is over.
        break_glass = dataclasses.replace(break_glass, active=False)
        conditions = remove_condition(conditions, CONDITION_BREAK_GLASS)
    out_of_sync_since = None
    if sync_code is SyncStatusCode.OUT_OF_SYNC:
        was_out = base.sync.status is SyncStatusCode.OUT_OF_SYNC and base.out_of_sync_since
        out_of_sync_since = base.out_of_sync_since if was_out else now
    history = base.history
    app_code = (_health(app_health) or HealthStatus(HealthStatusCode.HEALTHY)).status
    if (
        history
        and sync_code is SyncStatusCode.SYNCED
        and history[-1].revision == revision
        and history[-1].health != app_code
        and app_code in (HealthStatusCode.HEALTHY, HealthStatusCode.DEGRADED)
    ):
        # The running deployment's health as it is now: a sync that ended before its
        # rollout finished (no final health gate) shows Healthy once it is.
        history = (*history[:-1], dataclasses.replace(history[-1], health=app_code))
    candidate = dataclasses.replace(
        base,
        history=history,
        sync=SyncStatus(sync_code, revision, base.sync.compared_at),
        health=_health(app_health) or HealthStatus(HealthStatusCode.HEALTHY),
        out_of_sync_since=out_of_sync_since,
        resources=resource_statuses(diff, health, versions, causes),
        conditions=tuple(conditions),
        break_glass=break_glass,
    )
    if candidate != base or not base.sync.compared_at:
        candidate = dataclasses.replace(candidate, sync=SyncStatus(sync_code, revision, now))
    return candidate


def empty_render_warning(
    path: str, revision: str | None, *, objects: int, shared: int
) -> str | None:
    """The EmptyRender message when a render gives the app nothing to manage: no objects
    at all (an unsupported source, a placeholder file) or only other apps' objects."""
    where = f"render of {path or '.'} at {revision[:8] if revision else 'the local directory'}"
    if objects == 0:
        return f"{where} produced no objects"
    if shared >= objects:
        return f"{where}: every object belongs to other apps"
    return None


def empty_render_note(status: ApplicationStatus | None) -> str:
    """What a sync's message adds when the render was empty ("" otherwise): a sync of
    nothing is never a plain success."""
    found = [c for c in (status.conditions if status else ()) if c.type == CONDITION_EMPTY_RENDER]
    if not found:
        return ""
    if found[0].message.endswith("every object belongs to other apps"):
        return ": every object belongs to other apps"
    return ": the render is empty"


def failed_status(
    previous: ApplicationStatus | None, *, message: str, now: str, condition: str | None = None
) -> ApplicationStatus:
    """Status after a comparison that could not be made: Unknown, with a ComparisonError
    (or the more specific `condition`, e.g. ProjectViolation, which replaces it)."""
    # Other conditions stay as they were: nothing new is known about them.
    base = previous or ApplicationStatus()
    ctype = condition or CONDITION_COMPARISON_ERROR
    others = [t for t in _FAILURE_CONDITIONS if t != ctype]
    conditions = [c for c in base.conditions if c.type not in others]
    shown = scrub_userinfo(message)  # a repoURL's credentials never reach the status
    conditions = set_condition(
        conditions, Condition(ctype, ConditionStatus.TRUE, ctype, shown), now
    )
    return dataclasses.replace(
        base,
        sync=SyncStatus(SyncStatusCode.UNKNOWN, base.sync.revision, now),
        conditions=tuple(conditions),
    )


def merge_status(
    started_from: ApplicationStatus | None,
    computed: ApplicationStatus,
    current: ApplicationStatus | None,
) -> ApplicationStatus:
    """Three-way merge of a status computed from an older read into the current one.

    A field the computation changed (computed != started_from) wins; every other field
    keeps its current value, so history, an operation or a break-glass mark written by
    someone else since the read is never lost.
    """
    base = started_from or ApplicationStatus()
    now = current or ApplicationStatus()
    changes = {
        f.name: getattr(computed, f.name)
        for f in dataclasses.fields(ApplicationStatus)
        if getattr(computed, f.name) != getattr(base, f.name)
    }
    if "history" in changes:
        changes["history"] = _merge_history(base.history, computed.history, now.history)
    return dataclasses.replace(now, **changes)


def _merge_history(
    base: tuple[HistoryEntry, ...],
    computed: tuple[HistoryEntry, ...],
    current: tuple[HistoryEntry, ...],
) -> tuple[HistoryEntry, ...]:
    """History merged entry by entry (by id): an entry appended or trimmed by someone
    else since the read survives a computation that only updated another entry."""
    before = {e.id: e for e in base}
    after = {e.id: e for e in computed}
    merged = {e.id: e for e in current if not (e.id in before and e.id not in after)}
    for entry_id, entry in after.items():
        if before.get(entry_id) != entry and (entry_id in merged or entry_id not in before):
            merged[entry_id] = entry
    return tuple(merged[i] for i in sorted(merged))
