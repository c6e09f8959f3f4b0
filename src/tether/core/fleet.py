"""What a person sees of each Application at a glance (pure): the one-line message that
says what is wrong, the badges, the drift count and the last sync's outcome. The CLI's
`app list` and the dashboard's fleet page both show these rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.model.application import (
    CONDITION_HISTORY_REWRITTEN,
    KIND,
    Application,
    ApplicationStatus,
    ResourceStatus,
    SyncStatusCode,
)
from tether.model.urls import scrub_userinfo

# Conditions that say why an app is not what it should be, most telling first: the
# message shows the first one present (then a non-Healthy health message).
MESSAGE_ORDER = (
    "InvalidSpec",
    "ProjectViolation",
    "ComparisonError",
    "SourceError",
    "SyncError",
    "SelfHealFailing",
    "HistoryRewritten",
    "BreakGlass",
    "AdoptionRequired",
    "EmptyRender",
    "SharedResource",
    "WaitingForDependencies",
)
MESSAGE_WIDTH = 70


def status_message(status: ApplicationStatus, width: int = MESSAGE_WIDTH) -> str:
    """One line saying what is wrong with an app, truncated to `width` ('' when nothing)."""
    found = {c.type: c.message for c in status.conditions}
    text = next((found[t] for t in MESSAGE_ORDER if found.get(t)), "")
    if not text and status.health.status.value not in ("Healthy", "Unknown"):
        text = status.health.message or ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def drifted(resource: ResourceStatus) -> bool:
    return resource.status is SyncStatusCode.OUT_OF_SYNC or bool(resource.drift)


@dataclass(frozen=True)
class AppRow:
    namespace: str
    name: str
    sync: str
    health: str
    drift: int  # objects out of sync
    badges: tuple[str, ...]
    revision: str  # short
    full_revision: str
    out_of_sync_since: str | None
    last_sync: str  # phase of the last operation ("" when none)
    last_sync_message: str
    message: str
    labels: tuple[tuple[str, str], ...]

    def matches(self, text: str) -> bool:
        """Whether a free-text filter finds this row (name, namespace, message, labels)."""
        needle = text.strip().lower()
        haystack = " ".join(
            [self.namespace, self.name, self.message, *(f"{k}={v}" for k, v in self.labels)]
        ).lower()
        return needle in haystack


def badges(app: Application) -> tuple[str, ...]:
    status = app.status or ApplicationStatus()
    found = []
    if app.auto_sync_enabled:
        found.append("auto-sync")
    if app.self_heal:
        found.append("self-heal")
    if app.spec.suspend:
        found.append("suspended")
    if status.break_glass is not None and status.break_glass.active:
        found.append("break-glass")
    if any(c.type == CONDITION_HISTORY_REWRITTEN for c in status.conditions):
        found.append("history-rewritten")
    return tuple(found)


def app_row(app: Application) -> AppRow:
    status = app.status or ApplicationStatus()
    operation = status.operation_state
    return AppRow(
        namespace=app.namespace,
        name=app.name,
        sync=status.sync.status.value,
        health=status.health.status.value,
        drift=sum(1 for r in status.resources if drifted(r)),
        badges=badges(app),
        revision=(status.sync.revision or "")[:8],
        full_revision=status.sync.revision or "",
        out_of_sync_since=status.out_of_sync_since,
        last_sync=operation.phase.value if operation is not None else "",
        last_sync_message=(operation.message or "") if operation is not None else "",
        message=status_message(status),
        labels=tuple(sorted(app.labels.items())),
    )


@dataclass(frozen=True)
class CommitView:
    """What a person reads of a commit next to its short SHA."""

    subject: str
    author: str
    authored_at: str


@dataclass(frozen=True)
class EventRow:
    time: str
    type: str  # Normal | Warning
    reason: str
    object: str  # Kind/name
    message: str
    count: int


def deploy_duration(started: str | None, finished: str) -> str:
    """How long a deployment took, for people ("4.2 s", "3 m 10 s"); "" when unknown."""
    try:
        begin = dt.datetime.fromisoformat(started or "")
        end = dt.datetime.fromisoformat(finished)
    except ValueError:
        return ""
    seconds = (end - begin).total_seconds()
    if seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} m {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} m"


def app_events(
    app: Application, events: Sequence[Mapping[str, Any]], limit: int = 30
) -> list[EventRow]:
    """The recent Events about the app itself and about the objects it manages, newest
    first; repository credentials in a message are masked."""
    status = app.status or ApplicationStatus()
    about = {(KIND, app.namespace, app.name)} | {
        (r.kind, r.namespace, r.name) for r in status.resources
    }
    rows = []
    for event in events:
        involved = event.get("involvedObject") or {}
        subject = (
            str(involved.get("kind", "")),
            str(involved.get("namespace", "")),
            str(involved.get("name", "")),
        )
        if subject not in about:
            continue
        meta = event.get("metadata") or {}
        when = (
            event.get("lastTimestamp")
            or event.get("eventTime")
            or event.get("firstTimestamp")
            or meta.get("creationTimestamp")
            or ""
        )
        count = event.get("count")
        rows.append(
            EventRow(
                time=str(when),
                type=str(event.get("type", "")),
                reason=str(event.get("reason", "")),
                object=f"{subject[0]}/{subject[2]}",
                message=scrub_userinfo(str(event.get("message", ""))),
                count=count if isinstance(count, int) else 1,
            )
        )
    rows.sort(key=lambda r: r.time, reverse=True)
    return rows[:limit]


__all__ = [
    "MESSAGE_ORDER",
    "AppRow",
    "CommitView",
    "EventRow",
    "app_events",
    "app_row",
    "badges",
    "drifted",
    "status_message",
]
