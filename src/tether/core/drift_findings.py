"""What drift attribution finds (pure): the cause vocabulary, who wrote a field, one finding."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tether.model.keys import ResourceKey

Event = Mapping[str, Any]


class DriftCause(StrEnum):
    MANUAL_EDIT = "manual-edit"
    AUTOSCALER = "autoscaler"
    ADMISSION_MUTATION = "admission-mutation"
    CONTROLLER_WRITE = "controller-write"
    HOOK_LEFTOVER = "hook-leftover"
    API_VERSION_SKEW = "api-version-skew"
    SECRET_ROTATION = "secret-rotation"
    NON_DETERMINISTIC_RENDER = "non-deterministic-render"
    UNDECLARED_MANUAL_EDIT = "undeclared-manual-edit"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FieldWriter:
    """The field manager that owns a field now, and its last write."""

    manager: str
    operation: str  # Apply or Update
    time: str | None
    subresource: str | None  # e.g. scale, status; None for the main resource


@dataclass(frozen=True)
class DriftFinding:
    """One drifted path (or the whole object, `path == ""`) with its probable cause."""

    key: ResourceKey
    path: str
    cause: DriftCause
    writer: FieldWriter | None
    when: str | None
    evidence: tuple[str, ...]
    suggestion: dict[str, Any] | None
