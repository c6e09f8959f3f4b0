"""What the controller remembers about one app between reconciles (in memory only: a
restart forgets it, and every rule that reads it must be safe to start over)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.core.autosync import DriftTracker, SelfHealMemory
from tether.model.keys import ResourceKey
from tether.model.notification import Trigger


@dataclass
class AppMemory:
    """What the controller remembers about one app between reconciles."""

    heal: SelfHealMemory = field(default_factory=SelfHealMemory)
    drift: DriftTracker = field(default_factory=DriftTracker)
    seen: tuple[Any, ...] | None = None  # generation, labels, annotations of the last event
    was_live: set[ResourceKey] = field(default_factory=set)  # live objects at the last compare
    written_rv: int = 0  # resourceVersion of our last status write
    heal_before: dict[str, frozenset[str]] = field(default_factory=dict)  # drift a heal is for
    # Set by a self-heal sync (what each apply stored, the revision): the next reconcile's
    # compare tells which drift it left exactly as it was.
    heal_check: tuple[dict[ResourceKey, int], str | None] | None = None
    # The states worth a notification at the last reconcile (None: not looked at yet).
    states: dict[Trigger, str] | None = None
    history_seen: int | None = None  # the newest history entry id seen (None: not yet)


def spec_fingerprint(meta: dict[str, Any]) -> tuple[Any, ...]:
    """What of an Application's metadata asks for a reconcile when it changes."""
    return (
        meta.get("generation"),
        tuple(sorted((meta.get("labels") or {}).items())),
        tuple(sorted((meta.get("annotations") or {}).items())),
    )
