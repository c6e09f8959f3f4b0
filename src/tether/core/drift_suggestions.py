"""What to do about drift (pure): the `ignoreDifferences` entry that silences intentional
drift, merged into one YAML block, and one cause per drifted object for the status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from tether.core.drift_findings import (
    DriftCause,
    DriftFinding,
    FieldWriter,
)
from tether.core.undeclared import is_human_manager
from tether.model.keys import ResourceKey


def ignore_suggestion(
    key: ResourceKey, pointer: str, cause: DriftCause, writer: FieldWriter | None
) -> dict[str, Any] | None:
    """The `ignoreDifferences` entry that silences intentional drift, scoped to the object.

    A manager rule follows the field wherever the autoscaler or controller writes it; a
    webhook has no manager of its own (the API server records what it adds under no
    manager), hence pointers.
    A rotated Secret key is intentional when a controller rotates it, not when a person does.
    """
    scope: dict[str, Any] = {"group": key.group, "kind": key.kind, "name": key.name}
    if cause in (DriftCause.AUTOSCALER, DriftCause.CONTROLLER_WRITE) and writer is not None:
        return {**scope, "managedFieldsManagers": [writer.manager]}
    rotated_by_controller = writer is not None and not is_human_manager(writer.manager)
    if cause is DriftCause.ADMISSION_MUTATION or (
        cause is DriftCause.SECRET_ROTATION and rotated_by_controller
    ):
        return {**scope, "jsonPointers": [pointer]} if pointer else None
    return None


def suggestion_yaml(findings: Iterable[DriftFinding]) -> str:
    """The findings' suggestions as one `ignoreDifferences:` YAML block, entries of the same
    object and kind of rule merged ("" when there is nothing to suggest)."""
    merged: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for finding in findings:
        suggestion = finding.suggestion
        if suggestion is None:
            continue
        list_field = "jsonPointers" if "jsonPointers" in suggestion else "managedFieldsManagers"
        scope = (suggestion["group"], suggestion["kind"], suggestion.get("name", ""), list_field)
        entry = merged.setdefault(scope, {**suggestion, list_field: []})
        for item in suggestion[list_field]:
            if item not in entry[list_field]:
                entry[list_field].append(item)
    if not merged:
        return ""
    return yaml.safe_dump(
        {"ignoreDifferences": list(merged.values())}, sort_keys=False, default_flow_style=False
    )


def object_causes(findings: Iterable[DriftFinding]) -> dict[ResourceKey, tuple[str, str | None]]:
    """One (cause, writer) per drifted object for `status.resources[]`: the cause most of
    its paths share (a known cause beats `unknown`), with that cause's latest writer."""
    by_key: dict[ResourceKey, list[DriftFinding]] = {}
    for finding in findings:
        by_key.setdefault(finding.key, []).append(finding)
    out: dict[ResourceKey, tuple[str, str | None]] = {}
    for key, found in by_key.items():
        counts: dict[DriftCause, int] = {}
        for finding in found:
            counts[finding.cause] = counts.get(finding.cause, 0) + 1
        cause = max(counts, key=lambda c: (c is not DriftCause.UNKNOWN, counts[c], str(c)))
        writers = [f.writer for f in found if f.cause is cause and f.writer is not None]
        latest = max(writers, key=lambda w: w.time or "", default=None)
        out[key] = (str(cause), latest.manager if latest is not None else None)
    return out
