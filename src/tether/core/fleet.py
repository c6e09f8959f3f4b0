"""What a person sees of each Application at a glance (pure): the one-line message that
says what is wrong, the badges, the drift count and the last sync's outcome. The CLI's
`app list` and the dashboard's fleet page both show these rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.model.application import (
    CONDITION_EMPTY_RENDER,
    CONDITION_HISTORY_REWRITTEN,
    KIND,
    Application,
    ApplicationStatus,
    HealthStatusCode,
    ResourceStatus,
    SyncStatusCode,
)
from tether.model.names import (
    COLUMN_EMPTY_RENDER,
    COLUMN_HEALTH,
    COLUMN_MESSAGE,
    COLUMN_OUT_OF_SYNC_SINCE,
    COLUMN_REVISION,
    COLUMN_SYNC,
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
# status.message keeps the line whole (kubectl shows it as it is); readers clip it.
STORED_MESSAGE_WIDTH = 1024


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def status_message(status: ApplicationStatus, width: int = MESSAGE_WIDTH) -> str:
    """One line saying what is wrong with an app, truncated to `width` ('' when nothing)."""
    found = {c.type: c.message for c in status.conditions}
    text = next((found[t] for t in MESSAGE_ORDER if found.get(t)), "")
    if not text and status.health.status.value not in ("Healthy", "Unknown"):
        text = status.health.message or ""
    return clip(" ".join(text.split()), width)


@dataclass(frozen=True)
class ListLine:
    """An Application as one line of `tether app list`, read either from the whole
    object or from the server's table of the CRD's printer columns (the same fields:
    status.message is `status_message` as the status writer stored it)."""

    namespace: str
    name: str
    sync: str
    health: str
    revision: str  # whole
    out_of_sync_since: str | None
    message: str  # whole: the reader clips it to its width
    empty_render: bool  # the render was empty (SYNC shows it)


def list_line(app: Application) -> ListLine:
    status = app.status or ApplicationStatus()
    return ListLine(
        namespace=app.namespace,
        name=app.name,
        sync=status.sync.status.value,
        health=status.health.status.value,
        revision=status.sync.revision or "",
        out_of_sync_since=status.out_of_sync_since,
        message=status_message(status, STORED_MESSAGE_WIDTH),
        empty_render=any(c.type == CONDITION_EMPTY_RENDER for c in status.conditions),
    )


def list_line_from_cells(namespace: str, name: str, cells: Mapping[str, Any]) -> ListLine | None:
    """The line from a table row (`cells` by column name); None when the row cannot say
    what the whole object would: no status yet (only the spec can tell whether it is
    valid, and no controller said so), a status written by a tether that did not store
    status.message, or a CRD in the cluster without the Message column."""
    sync, message = cells.get(COLUMN_SYNC), cells.get(COLUMN_MESSAGE)
    if sync is None or message is None:
        return None
    since = cells.get(COLUMN_OUT_OF_SYNC_SINCE)
    return ListLine(
        namespace=namespace,
        name=name,
        sync=_known(sync, _SYNC_CODES),
        health=_known(cells.get(COLUMN_HEALTH), _HEALTH_CODES),
        revision=str(cells.get(COLUMN_REVISION) or ""),
        out_of_sync_since=str(since) if since else None,
        message=" ".join(str(message or "").split()),
        empty_render=cells.get(COLUMN_EMPTY_RENDER) is not None,
    )


_SYNC_CODES = frozenset(code.value for code in SyncStatusCode)
_HEALTH_CODES = frozenset(code.value for code in HealthStatusCode)


def _known(cell: Any, codes: frozenset[str]) -> str:
    """The cell when it is one of the codes (the CRD's enum), else Unknown."""
    return cell if isinstance(cell, str) and cell in codes else "Unknown"


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
    "MESSAGE_WIDTH",
    "STORED_MESSAGE_WIDTH",
    "AppRow",
    "CommitView",
    "EventRow",
    "ListLine",
    "app_events",
    "app_row",
    "badges",
    "clip",
    "drifted",
    "list_line",
    "list_line_from_cells",
    "status_message",
]
