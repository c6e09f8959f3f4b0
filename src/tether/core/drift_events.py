"""Kubernetes Events as drift evidence (pure): the Events about one object, their time, and
whether one happened near a field's write."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from tether.core.drift_findings import (
    Event,
)
from tether.model.keys import ResourceKey

_EVENT_WINDOW_SECONDS: Final = 300


def events_about(key: ResourceKey, events: Sequence[Event]) -> list[Event]:
    """The object's own events, plus HPA rescale events of its namespace (those name the HPA,
    not its target)."""
    found = []
    for event in events:
        involved = event.get("involvedObject") or {}
        if str(involved.get("namespace") or "") != key.namespace:
            continue
        same_object = involved.get("kind") == key.kind and involved.get("name") == key.name
        if same_object or event.get("reason") == "SuccessfulRescale":
            found.append(event)
    return found


def event_time_of(event: Event) -> str | None:
    for name in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if event.get(name):
            return str(event[name])
    created = (event.get("metadata") or {}).get("creationTimestamp")
    return str(created) if created else None


def happened_near(event_time: str | None, write_time: str | None) -> bool:
    """Whether an event is close enough to the write to be about it (unknown times are)."""
    event_at, write_at = _parse_time(event_time), _parse_time(write_time)
    if event_at is None or write_at is None:
        return True
    return abs((event_at - write_at).total_seconds()) <= _EVENT_WINDOW_SECONDS


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
