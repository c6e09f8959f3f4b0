"""Field managers that are a person's tool, and taking their fields over (pure).

Under server-side apply a forced apply takes back every field the manifest sets, but a
field the manifest does not set and another manager owns is never removed: a ConfigMap
key added with `kubectl edit` stays although the compare flags it. Flux moves kubectl's
managedFields entries to its own manager before applying; tether does the same, more
narrowly: only fields of a person's tools, only those the desired object sets or the
compare flagged, and never a field an `ignoreDifferences` rule protects (that field is
left to its writer). Fields of controllers (HPA, kube-controller-manager, operators) are
never touched.

What the real API server does with a rewritten `metadata.managedFields` (tried on
kube-apiserver): it stores the list as given; entries with the same
manager and operation are not merged but collapse to the LAST one (the ownership of the
others is silently lost), so taken fields are merged into tether's single Apply entry
here; an entry of the `scale` subresource names fields of the main resource and can be
folded into a main-resource Apply entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tether.core.ignore import (
    FieldName,
    FieldSegment,
    ItemByIndex,
    ItemByKey,
    ItemByValue,
    ignored_paths,
    parse_field_segment,
    parse_ignore_rules,
    same_json,
)
from tether.core.paths import Obj, Path, resolve_pointer
from tether.model.keys import ResourceKey

Fields = dict[str, Any]  # a fieldsV1 trie

# Managers kubectl's subcommands record (kubectl-edit, kubectl-patch, kubectl-set, ...,
# plain `kubectl` for `kubectl scale`, `create` and `apply --server-side`), and the
# manager the API server gives fields that existed before an object's first apply.
PERSON_TOOL_PREFIX: Final = "kubectl"
BEFORE_FIRST_APPLY: Final = "before-first-apply"
# Subresources whose fieldsV1 name fields of the main resource (`kubectl scale`).
_FOLDABLE_SUBRESOURCES: Final = frozenset({"", "scale"})
_ABSENT: Final = object()


def is_person_tool_entry(entry: Mapping[str, Any]) -> bool:
    """Whether a managedFields entry records a person's tool: a kubectl Update (edit,
    patch, set, label, annotate, scale, client-side apply, create), a person's
    `kubectl apply --server-side`, or the fields of `before-first-apply`."""
    manager = str(entry.get("manager") or "")
    operation = entry.get("operation")
    if str(entry.get("subresource") or "") not in _FOLDABLE_SUBRESOURCES:
        return False  # status is a controller's, whoever wrote it
    if manager == BEFORE_FIRST_APPLY:
        return operation == "Update"
    if manager == PERSON_TOOL_PREFIX or manager.startswith(PERSON_TOOL_PREFIX + "-"):
        return operation in ("Update", "Apply")
    return False


def merge_fields(left: Mapping[str, Any], right: Mapping[str, Any]) -> Fields:
    """The union of two fieldsV1 sets."""
    merged: Fields = {key: _copy(value) for key, value in left.items()}
    for key, value in right.items():
        if key in merged and isinstance(merged[key], Mapping) and isinstance(value, Mapping):
            merged[key] = merge_fields(merged[key], value)
        else:
            merged[key] = _copy(value)
    return merged


def _copy(value: Any) -> Any:
    return merge_fields(value, {}) if isinstance(value, Mapping) else value


@dataclass(frozen=True)
class Takeover:
    """A rewritten managedFields list and what moved to tether."""

    managed_fields: list[Obj]
    taken: tuple[tuple[str, Path], ...]  # (former manager, concrete path in live)


def plan_takeover(
    live: Obj,
    desired: Obj | None,
    *,
    drifted: Iterable[str] = (),
    protected: Iterable[Path] = (),
    manager: str = "tether",
) -> Takeover | None:
    """The managedFields that make the fields of a person's tools `manager`'s, or None
    when no such field needs taking.

    A field is taken when `desired` sets it (a forced apply takes it anyway; taking it
    also lets a later removal from Git remove it) or it is at or under a `drifted`
    pointer (what the compare flagged, e.g. a ConfigMap key only live has). A field at,
    under or above a `protected` path (an ignore rule's) stays with its writer, as does
    everything else. Taken fields join `manager`'s Apply entry: one entry per manager and
    operation, since the API server keeps only the last of duplicates.
    """
    entries = [e for e in (live.get("metadata") or {}).get("managedFields") or [] if _valid(e)]
    ours = next(
        (
            e
            for e in entries
            if e.get("manager") == manager
            and e.get("operation") == "Apply"
            and not e.get("subresource")
        ),
        None,
    )
    # A fieldset names fields in the schema of its apiVersion: only entries written
    # through the same version as tether's can be merged into it.
    version = str((ours or {}).get("apiVersion") or (desired or live).get("apiVersion") or "")
    drifted_paths = [p for p in (resolve_pointer(live, d) for d in drifted) if p is not None]
    selection = _Selection(drifted_paths, list(protected))
    taken_fields: Fields = dict((ours or {}).get("fieldsV1") or {})
    taken: list[tuple[str, Path]] = []
    rewritten: list[Obj] = []
    times: list[str] = []
    for entry in entries:
        if entry is ours:
            continue
        if not is_person_tool_entry(entry) or str(entry.get("apiVersion") or "") != version:
            rewritten.append(entry)
            continue
        take, keep = _split(entry["fieldsV1"], live, desired, (), selection)
        if not take:
            rewritten.append(entry)
            continue
        taken_fields = merge_fields(taken_fields, take)
        taken.extend((str(entry.get("manager")), path) for path in _leaf_paths(take, live, ()))
        if entry.get("time"):
            times.append(str(entry["time"]))
        if keep:
            rewritten.append({**entry, "fieldsV1": keep})
    if not taken:
        return None
    merged: Obj = {
        **(ours or {}),
        "manager": manager,
        "operation": "Apply",
        "apiVersion": version,
        "fieldsType": "FieldsV1",
        "fieldsV1": taken_fields,
    }
    merged.pop("subresource", None)
    latest = max([*times, str((ours or {}).get("time") or "")])
    if latest:
        merged["time"] = latest
    return Takeover([merged, *rewritten], tuple(taken))


def _valid(entry: object) -> bool:
    return (
        isinstance(entry, Mapping)
        and entry.get("fieldsType", "FieldsV1") == "FieldsV1"
        and isinstance(entry.get("fieldsV1"), Mapping)
    )


@dataclass(frozen=True)
class _Selection:
    drifted: Sequence[Path]
    protected: Sequence[Path]

    def drifted_at_or_above(self, path: Path) -> bool:
        return any(path[: len(d)] == d for d in self.drifted)

    def protected_at_or_above(self, path: Path) -> bool:
        return any(path[: len(p)] == p for p in self.protected)

    def protected_below(self, path: Path) -> bool:
        return any(len(p) > len(path) and p[: len(path)] == path for p in self.protected)


def _split(
    fields: Mapping[str, Any], live: Any, desired: Any, path: Path, selection: _Selection
) -> tuple[Fields, Fields]:
    """(fields to take, fields to keep) of one fieldsV1 node resolved against live."""
    take: Fields = {}
    keep: Fields = {}
    for name, child in fields.items():
        if name == ".":
            continue
        segment = parse_field_segment(name)
        index = _locate(live, segment) if segment is not None else None
        if segment is None or index is None or not isinstance(child, Mapping):
            keep[name] = child  # unknown form, or a field live no longer has: left as it is
            continue
        child_path = (*path, index)
        live_child = live[index]
        desired_child = _desired_child(desired, segment)
        if selection.protected_at_or_above(child_path):
            keep[name] = child
        elif selection.drifted_at_or_above(child_path) and not selection.protected_below(
            child_path
        ):
            take[name] = child
        elif not any(key != "." for key in child):  # a leaf: the whole value
            (take if desired_child is not _ABSENT else keep)[name] = child
        else:
            child_take, child_keep = _split(child, live_child, desired_child, child_path, selection)
            if "." in child:
                # Owning the container itself goes with tether when Git has the container.
                (child_take if desired_child is not _ABSENT else child_keep)["."] = child["."]
            if child_take:
                take[name] = child_take
            if child_keep:
                keep[name] = child_keep
    return take, keep


def _leaf_paths(fields: Mapping[str, Any], live: Any, path: Path) -> list[Path]:
    """Concrete paths of the taken fields' tops (for messages)."""
    out: list[Path] = []
    for name, child in fields.items():
        if name == ".":
            continue
        segment = parse_field_segment(name)
        index = _locate(live, segment) if segment is not None else None
        if index is None:
            continue
        child_path = (*path, index)
        children = [key for key in child if key != "."] if isinstance(child, Mapping) else []
        if not children or "." in child:
            out.append(child_path)
        else:
            out.extend(_leaf_paths(child, live[index], child_path))
    return out


def _locate(node: Any, segment: FieldSegment) -> str | int | None:
    """Where a fieldsV1 segment is in `node` (a dict key or a list index), else None."""
    if isinstance(segment, FieldName):
        return segment.name if isinstance(node, dict) and segment.name in node else None
    if not isinstance(node, list):
        return None
    for index, item in enumerate(node):
        if _segment_matches(segment, index, item):
            return index
    return None


def _segment_matches(segment: FieldSegment, index: int, item: Any) -> bool:
    if isinstance(segment, ItemByIndex):
        return segment.index == index
    if isinstance(segment, ItemByValue):
        return same_json(item, segment.value)
    if isinstance(segment, ItemByKey):
        return isinstance(item, dict) and all(
            same_json(item.get(name, _LIST_KEY_DEFAULTS.get(name)), value)
            for name, value in segment.keys
        )
    return False


# The server fills in list-map key fields manifests usually omit (as core.ignore does).
_LIST_KEY_DEFAULTS: Final[dict[str, Any]] = {"protocol": "TCP"}


def _desired_child(desired: Any, segment: FieldSegment) -> Any:
    """The desired counterpart of a live field (`_ABSENT` when Git does not set it)."""
    if desired is _ABSENT or desired is None:
        return _ABSENT
    index = _locate(desired, segment)
    if index is None:
        return _ABSENT
    return desired[index]


def describe_takeover(takeover: Takeover) -> str:
    """`kubectl-edit: /data/added, /data/x; kubectl: /spec/replicas` (for progress)."""
    by_manager: dict[str, list[str]] = {}
    for manager, path in takeover.taken:
        by_manager.setdefault(manager, []).append(
            "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)
        )
    return "; ".join(f"{m}: {', '.join(paths)}" for m, paths in sorted(by_manager.items()))


def takeover_for(
    live: Obj,
    desired: Obj | None,
    drifted: Sequence[str],
    ignore_specs: Sequence[Mapping[str, Any]],
    *,
    manager: str = "tether",
) -> Takeover | None:
    """`plan_takeover` with the app's `ignoreDifferences` as the protected fields: what a
    rule ignores (pointers, jq, managedFieldsManagers) is left to whoever wrote it."""
    key = ResourceKey.of(desired if desired is not None else live)
    rules = [rule for rule in parse_ignore_rules(ignore_specs) if rule.matches(key)]
    managed = (live.get("metadata") or {}).get("managedFields") or []
    protected = ignored_paths(rules, live, managed_fields=managed) if rules else []
    return plan_takeover(live, desired, drifted=drifted, protected=protected, manager=manager)
