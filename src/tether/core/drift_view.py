"""What a person reads about each object that differs (pure): its paths with writer,
cause and time, the unified diff (Secret values masked), the fields an ignoreDifferences
rule hides (with the rule), and the rule that would silence intentional drift. The
dashboard's diff page and its JSON show these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tether.core.diff import AppDiff, ObjectDiff, unified_diff
from tether.core.diff_ignored import IgnoredDifference
from tether.core.drift_findings import DriftFinding
from tether.core.drift_suggestions import suggestion_yaml


@dataclass(frozen=True)
class PathView:
    path: str
    writer: str | None
    cause: str | None
    when: str | None
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class ObjectView:
    key: str
    kind: str
    namespace: str
    name: str
    verdict: str
    paths: tuple[PathView, ...]
    manual_edits: tuple[PathView, ...]
    diff: str  # unified, live (-) to desired (+)
    ignore_rule: str  # YAML, "" when the drift does not look intentional
    ignored: tuple[IgnoredDifference, ...] = ()  # differences a rule leaves out

    def to_dict(self) -> dict[str, Any]:
        def path(p: PathView) -> dict[str, Any]:
            return {"path": p.path, "writer": p.writer, "cause": p.cause, "time": p.when}

        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "status": self.verdict,
            "paths": [path(p) for p in self.paths],
            "manualEdits": [path(p) for p in self.manual_edits],
            "diff": self.diff,
            "ignoreRule": self.ignore_rule,
            "ignored": [{"path": i.pointer, "rule": i.rule} for i in self.ignored],
        }


@dataclass(frozen=True)
class AppDriftView:
    """One app's comparison as the diff page shows it; `error` (one line) when the
    compare failed (nothing else is then known)."""

    namespace: str
    name: str
    revision: str | None
    sync: str
    objects: tuple[ObjectView, ...]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "application": f"{self.namespace}/{self.name}",
            "revision": self.revision,
            "sync": self.sync,
            "error": self.error,
            "objects": [o.to_dict() for o in self.objects],
        }


def _path_view(path: str, finding: DriftFinding | None) -> PathView:
    if finding is None:
        return PathView(path, None, None, None, ())
    writer = finding.writer.manager if finding.writer is not None else None
    return PathView(path, writer, finding.cause.value, finding.when, finding.evidence)


def object_view(diff: ObjectDiff, findings: Sequence[DriftFinding]) -> ObjectView:
    by_path = {f.path: f for f in findings if f.key == diff.key}
    whole = by_path.get("")  # a missing or extraneous object: one finding for all of it
    paths = tuple(_path_view(p, by_path.get(p)) for p in diff.paths) or (
        (_path_view("", whole),) if whole is not None else ()
    )
    edits = tuple(_path_view(p, by_path.get(p)) for p in diff.manual_edits if p not in diff.paths)
    return ObjectView(
        key=str(diff.key),
        kind=diff.key.kind,
        namespace=diff.key.namespace,
        name=diff.key.name,
        verdict=diff.verdict.value,
        paths=paths,
        manual_edits=edits,
        diff=unified_diff(diff),
        ignore_rule=suggestion_yaml(f for f in findings if f.key == diff.key),
        ignored=tuple(diff.ignored),
    )


def app_drift_views(diff: AppDiff, findings: Sequence[DriftFinding]) -> list[ObjectView]:
    """Every object that differs, carries undeclared manual edits or has differences an
    ignore rule hides, in diff order."""
    return [
        object_view(d, findings)
        for d in diff.objects
        if not d.in_sync or d.manual_edits or d.ignored
    ]


__all__ = ["AppDriftView", "ObjectView", "PathView", "app_drift_views", "object_view"]
