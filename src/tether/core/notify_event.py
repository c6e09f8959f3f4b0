"""One notification as tether knows it (pure): what happened to which app, on which
cluster, at which revision (commit subject and author), started by whom, the objects a
sync changed (unchanged ones left out) and, for drift, each object's paths with the
writer, cause and time, and the ignore rule when the drift looks intentional. Payload
formats (core/notify_formats) are built from this; nothing here holds a Secret value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tether.model.notification import TRIGGER_SEVERITY, Severity, Trigger

MAX_OBJECTS = 20  # per message: the rest is counted ("and 7 more")


@dataclass(frozen=True)
class ChangedObject:
    action: str  # created | configured | pruned
    kind: str
    namespace: str
    name: str

    @property
    def label(self) -> str:
        return object_label(self.kind, self.namespace, self.name)


def object_label(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


@dataclass(frozen=True)
class DriftedObject:
    kind: str
    namespace: str
    name: str
    paths: tuple[str, ...]
    writer: str  # the field manager that wrote it ("" unknown)
    cause: str  # manual-edit, controller, ...
    when: str  # RFC 3339, "" unknown
    suggested_ignore_rule: str = ""  # YAML, when the drift looks intentional

    @property
    def label(self) -> str:
        return object_label(self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class NotificationEvent:
    trigger: Trigger
    namespace: str  # the Application's
    app: str
    message: str  # one line for people
    cluster: str = ""  # the API server the app deploys to (no credentials)
    revision: str = ""
    commit_subject: str = ""
    commit_author: str = ""
    initiated_by: str = ""  # git poll, webhook, manual sync by whom, self-heal, rollback
    changed: tuple[ChangedObject, ...] = ()
    drift: tuple[DriftedObject, ...] = ()
    dashboard_url: str = ""
    at: str = ""  # RFC 3339
    severity: Severity | None = None  # None: the trigger's default
    suppressed: int = 0  # a rate-limit summary: how many messages were not sent
    summary: str = ""  # the Alert's own line
    recovers: Trigger | None = None  # `recovered`: the trigger whose condition cleared

    @property
    def level(self) -> Severity:
        return self.severity or TRIGGER_SEVERITY[self.trigger]

    @property
    def title(self) -> str:
        if self.suppressed:
            return f"{self.suppressed} more tether notifications suppressed"
        return f"{self.trigger.value}: {self.namespace}/{self.app}"

    def object_keys(self) -> frozenset[str]:
        """The objects this event is about (what dedupe compares). A drift's time is part
        of it: the same field edited again later is a new incident, not a duplicate."""
        return frozenset(
            [f"{o.action}:{o.label}" for o in self.changed]
            + [f"{d.label}:{','.join(d.paths)}@{d.when}" for d in self.drift]
        )


def merge_drift(events: Sequence[NotificationEvent]) -> NotificationEvent:
    """One message for the drift of one incident (a `kubectl edit` of 3 objects)."""
    first = events[0]
    objects: dict[str, DriftedObject] = {}
    for event in events:
        for drifted in event.drift:
            known = objects.get(drifted.label)
            paths = tuple(dict.fromkeys((*(known.paths if known else ()), *drifted.paths)))
            objects[drifted.label] = replace(drifted, paths=paths)
    merged = tuple(objects.values())
    writers = sorted({d.writer for d in merged if d.writer})
    message = (
        f"{len(merged)} objects of {first.namespace}/{first.app} changed"
        + (f" by {', '.join(writers)}" if writers else "")
        if len(merged) > 1
        else first.message
    )
    return replace(events[-1], drift=merged, message=message)


def objects_text(event: NotificationEvent, limit: int = MAX_OBJECTS) -> list[str]:
    """One line per changed or drifted object, at most `limit` and a count of the rest."""
    lines = [f"{o.action} {o.label}" for o in event.changed]
    for d in event.drift:
        who = ", ".join(x for x in (d.writer and f"by {d.writer}", d.cause, d.when) if x)
        lines.append(
            f"{d.label}: {', '.join(d.paths[:5]) or 'whole object'}" + (f" ({who})" if who else "")
        )
    if len(lines) > limit:
        lines = [*lines[:limit], f"and {len(lines) - limit} more"]
    return lines


def facts(event: NotificationEvent) -> list[tuple[str, str]]:
    """The name/value pairs every format shows (empty values left out)."""
    revision = event.revision[:12]
    if revision and event.commit_subject:
        revision += f" {event.commit_subject}"
    if event.commit_author:
        revision += f" ({event.commit_author})"
    pairs = [
        ("Application", f"{event.namespace}/{event.app}"),
        ("Cluster", event.cluster),
        ("Revision", revision),
        ("Triggered by", event.initiated_by),
        ("Severity", event.level.value),
    ]
    return [(k, v) for k, v in pairs if v]


__all__ = [
    "MAX_OBJECTS",
    "ChangedObject",
    "DriftedObject",
    "NotificationEvent",
    "facts",
    "merge_drift",
    "objects_text",
]
