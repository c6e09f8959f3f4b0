"""Non-deterministic renders (pure): which drifted fields two renders of one commit
disagree on.

A chart that generates a value on every render (`randAlphaNum` for a password, `lookup`
that sees no cluster) makes the app OutOfSync after every render, and a sync "fixes" it by
rotating the value. Such drift is written by tether itself, so only drift whose writer is
tether is worth a second render; the fields on which the two renders differ get the cause
`non-deterministic-render` (core.drift).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tether.core.drift_findings import DriftCause, DriftFinding
from tether.core.ignore import same_json
from tether.core.normalize import normalize
from tether.core.paths import ABSENT, Obj, value_at
from tether.model.keys import ResourceKey
from tether.model.names import FIELD_MANAGER


def self_written_drift(
    findings: Iterable[DriftFinding], *, field_manager: str = FIELD_MANAGER
) -> dict[ResourceKey, list[str]]:
    """Drifted pointers nobody explains but tether's own last write, per object."""
    out: dict[ResourceKey, list[str]] = {}
    for finding in findings:
        if (
            finding.path
            and finding.cause is DriftCause.UNKNOWN
            and finding.writer is not None
            and finding.writer.manager == field_manager
        ):
            out.setdefault(finding.key, []).append(finding.path)
    return out


def unstable_paths(
    first: Sequence[Mapping[str, Any]],
    second: Sequence[Mapping[str, Any]],
    wanted: Mapping[ResourceKey, Sequence[str]],
) -> dict[ResourceKey, frozenset[str]]:
    """Of the `wanted` pointers, those on which two renders of the same source differ.

    Objects are matched by group, kind, name and namespace as rendered (before the
    destination namespace is filled in); values are compared normalized, so a Secret's
    `stringData` and `data` are one field.
    """
    before = _by_identity(first)
    after = _by_identity(second)
    out: dict[ResourceKey, frozenset[str]] = {}
    for key, pointers in wanted.items():
        identity = (key.group, key.kind, key.name)
        left = _pick(before.get(identity, []), key.namespace)
        right = _pick(after.get(identity, []), key.namespace)
        if left is None or right is None:
            continue
        differing = frozenset(
            p for p in pointers if not _same(value_at(left, p), value_at(right, p))
        )
        if differing:
            out[key] = differing
    return out


def _by_identity(objects: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], list[Obj]]:
    found: dict[tuple[str, str, str], list[Obj]] = {}
    for obj in objects:
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping):
            continue
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        identity = (group, str(obj.get("kind", "")), str(meta.get("name", "")))
        found.setdefault(identity, []).append(normalize(obj))
    return found


def _pick(candidates: list[Obj], namespace: str) -> Obj | None:
    """The candidate in `namespace`, or the only one (a render often names none)."""
    for obj in candidates:
        if str((obj.get("metadata") or {}).get("namespace") or "") == namespace:
            return obj
    return candidates[0] if len(candidates) == 1 else None


def _same(left: Any, right: Any) -> bool:
    if left is ABSENT or right is ABSENT:
        return left is right
    return same_json(left, right)
