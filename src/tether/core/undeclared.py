"""Undeclared manual edits (pure): live fields Git does not declare, written by a person.

Under server-side apply a field the manifest does not set belongs to whoever wrote it,
and a forced apply of the manifest leaves it alone: `kubectl patch` of a field a CRD
defaults, an env var added with `kubectl edit`, a limit set with `kubectl set resources`
change what runs while the dry-run apply — and so the diff — sees nothing to do. Argo CD
and Flux report such an app Synced. The managedFields say who wrote each field, so these
fields are found here: owned by a person's tool (kubectl's managers, the dashboards),
present in the compared live object (ignoreDifferences rules and normalization have run),
absent from the desired object. Controllers' and autoscalers' fields never count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from tether.core.ignore import FieldName, FieldPath, decode_fields_v1, resolve_field_path
from tether.core.paths import Obj, Path
from tether.core.plan import annotations_of, compare_options

STRICT_MANUAL_EDITS: Final = "StrictManualEdits"

# Field managers are derived from the client's user agent: these are people at a terminal
# (kubectl-edit, kubectl-patch, kubectl-set, kubectl for scale/create,
# kubectl-client-side-apply, ...) or in a dashboard, not controllers.
_PERSON_MANAGERS: Final = frozenset({"kubectl", "mozilla", "k9s", "lens", "openlens", "headlamp"})
_PERSON_PREFIXES: Final = ("kubectl-",)
# Subresources whose fields are the main resource's (`kubectl scale` writes `scale`).
_MAIN_RESOURCE: Final = frozenset({"", "scale"})
# Fields a person's tool writes about itself, not about what runs: client-side apply's
# record, and `kubectl rollout restart`'s stamp (a restart changes no setting, and
# removing the stamp would only restart the pods again).
_BOOKKEEPING: Final = frozenset(
    {"kubectl.kubernetes.io/last-applied-configuration", "kubectl.kubernetes.io/restartedAt"}
)


def is_human_manager(manager: str) -> bool:
    """Whether a field manager is a person's tool (kubectl, a dashboard in a browser)."""
    name = manager.lower()
    return name in _PERSON_MANAGERS or name.startswith(_PERSON_PREFIXES)


def is_person_entry(entry: Mapping[str, Any]) -> bool:
    """A managedFields entry of a person's tool about the main resource (not status)."""
    if str(entry.get("subresource") or "") not in _MAIN_RESOURCE:
        return False
    return is_human_manager(str(entry.get("manager") or ""))


def manual_edit_paths(
    desired: Obj, live: Obj, managed_fields: Sequence[Mapping[str, Any]]
) -> list[Path]:
    """The paths of `live` a person's tool owns that `desired` does not declare, in
    `live`'s terms (list indices are live's), outermost only, in managedFields order."""
    found: dict[Path, None] = {}
    for entry in managed_fields:
        fields = entry.get("fieldsV1")
        if not is_person_entry(entry) or not isinstance(fields, Mapping):
            continue
        for field_path in decode_fields_v1(fields):
            if _is_bookkeeping(field_path) or resolve_field_path(desired, field_path) is not None:
                continue  # declared: a different value is ordinary drift, the diff's job
            path = resolve_field_path(live, field_path)
            if path is not None:
                found[path] = None
    paths = list(found)
    return [p for p in paths if not any(p[: len(o)] == o and p != o for o in paths)]


def _is_bookkeeping(field_path: FieldPath) -> bool:
    last = field_path[-1] if field_path else None
    return isinstance(last, FieldName) and last.name in _BOOKKEEPING


def strict_manual_edits(obj: Mapping[str, Any] | None) -> bool:
    """Whether a manifest opts in with the annotation
    `tether.dev/compare-options: StrictManualEdits=true` (or argocd.argoproj.io's)."""
    return obj is not None and strict_in_annotations(annotations_of(obj))


def strict_in_annotations(annotations: Mapping[str, Any]) -> bool:
    """Whether the `…/compare-options` annotation (of an Application or a manifest) says
    StrictManualEdits=true."""
    return compare_options(annotations).get(STRICT_MANUAL_EDITS, "false").lower() == "true"


__all__ = [
    "STRICT_MANUAL_EDITS",
    "is_human_manager",
    "is_person_entry",
    "manual_edit_paths",
    "strict_in_annotations",
    "strict_manual_edits",
]
