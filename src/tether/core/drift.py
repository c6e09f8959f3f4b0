"""Drift attribution (pure): who changed each drifted field, when, and why it probably happened.

Input is what a compare already has: the `ObjectDiff` (drifted RFC 6901 pointers), the
desired object, the live object with its `metadata.managedFields`, the server-side dry-run
result (`predicted`), and, when the caller has them, recent core/v1 Events.

1. **Attribution.** The owner of a drifted path is the `managedFields` entry whose decoded
   field set contains the path, else its nearest owned ancestor (a list item owned as a
   whole), else its nearest owned descendant. `fieldsV1` names list items by key
   (`k:{"name":"api"}`), so owned fields are resolved against the live object; diff
   pointers use desired's list indices, so they are first mapped onto live's by merge key.
2. **Cause.** Decided from the owner (human tool, autoscaler, other controller, tether
   itself), the object (Secret data, hook annotations, apiVersion) and predicted vs desired
   (fields added at admission). Every finding carries the evidence that decided it.
3. **Suggestion.** For drift that is intentional, the `ignoreDifferences` entry that would
   silence it, ready to paste.

Secret values never appear in evidence: only key names. No clock: nothing here reads "now".
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import yaml

from tether.core.diff import ObjectDiff, Verdict
from tether.core.ignore import (
    FieldName,
    FieldPath,
    Path,
    decode_fields_v1,
    managed_fields_of,
    path_to_pointer,
    resolve_field_path,
)
from tether.core.normalize import secret_data
from tether.core.plan import hook_of
from tether.core.undeclared import is_human_manager
from tether.model.keys import ResourceKey
from tether.model.names import HOOK_ANNOTATION_PREFIXES

Obj = dict[str, Any]
Event = Mapping[str, Any]

TETHER_FIELD_MANAGER: Final = "tether"

_AUTOSCALER_MANAGERS: Final = frozenset(
    {
        "horizontal-pod-autoscaler",
        "keda-operator",
        "vpa-updater",
        "vpa-recommender",
        "cluster-autoscaler",
    }
)
# In-tree, the HPA runs inside kube-controller-manager and is the only controller there that
# writes the scale subresource, so that manager + `scale` means an HPA.
_KCM: Final = "kube-controller-manager"

# Removed API versions: (apiVersion, kind or "*") -> (replacement, Kubernetes release that
# stopped serving it).
_REMOVED_APIS: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("extensions/v1beta1", "Ingress"): ("networking.k8s.io/v1", "1.22"),
    ("extensions/v1beta1", "NetworkPolicy"): ("networking.k8s.io/v1", "1.16"),
    ("extensions/v1beta1", "*"): ("apps/v1", "1.16"),
    ("apps/v1beta1", "*"): ("apps/v1", "1.16"),
    ("apps/v1beta2", "*"): ("apps/v1", "1.16"),
    ("policy/v1beta1", "PodDisruptionBudget"): ("policy/v1", "1.25"),
    ("autoscaling/v2beta1", "*"): ("autoscaling/v2", "1.25"),
    ("autoscaling/v2beta2", "*"): ("autoscaling/v2", "1.26"),
    ("batch/v1beta1", "CronJob"): ("batch/v1", "1.25"),
    ("networking.k8s.io/v1beta1", "Ingress"): ("networking.k8s.io/v1", "1.22"),
}

# Keys that identify list items (strategic-merge keys of the common lists), used to map a
# desired list index onto the live one.
_MERGE_KEYS: Final = ("name", "mountPath", "containerPort", "port", "devicePath", "key", "type")

_EVENT_WINDOW_SECONDS: Final = 300
_MAX_EVENTS: Final = 3
_MAX_VALUE_CHARS: Final = 80


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


NON_DETERMINISTIC_HINT: Final = (
    "the chart generates this value on every render (randAlphaNum/lookup): set it in"
    " values, or use an existingSecret"
)


INTENTIONAL_CAUSES: Final = frozenset(
    {DriftCause.AUTOSCALER, DriftCause.ADMISSION_MUTATION, DriftCause.CONTROLLER_WRITE}
)


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


# --- attribution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Owner:
    entry: Mapping[str, Any]
    owned: Path  # the owned field, resolved in live
    relation: str  # exact, ancestor or descendant

    @property
    def writer(self) -> FieldWriter:
        return _writer_of(self.entry)


def attribute_path(live: Obj, pointer: str) -> FieldWriter | None:
    """The manager owning `pointer` (live's list indices) or its nearest owned relative."""
    owner = _find_owner(live, _pointer_parts(pointer))
    return owner.writer if owner is not None else None


# Owned fields of the live objects attributed recently, resolved once per object: an
# object with many drifted paths would otherwise decode its managedFields per path. The
# cache holds the object itself, so its id cannot be reused while the entry lives.
_OWNED_CACHE: OrderedDict[int, tuple[Obj, list[tuple[Mapping[str, Any], Path, tuple[str, ...]]]]]
_OWNED_CACHE = OrderedDict()
_OWNED_CACHE_SIZE: Final = 1024
_STRING_DATA: Final = FieldName("stringData")
_DATA: Final = FieldName("data")


def _owned_fields(live: Obj) -> list[tuple[Mapping[str, Any], Path, tuple[str, ...]]]:
    cached = _OWNED_CACHE.get(id(live))
    if cached is not None and cached[0] is live:
        return cached[1]
    owned_fields: list[tuple[Mapping[str, Any], Path, tuple[str, ...]]] = []
    is_secret = live.get("kind") == "Secret" and live.get("apiVersion") == "v1"
    for entry in managed_fields_of(live):
        fields = entry.get("fieldsV1")
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1" or not isinstance(fields, Mapping):
            continue
        for field_path in decode_fields_v1(fields):
            owned = resolve_field_path(live, field_path)
            if owned is None and is_secret and field_path[:1] == (_STRING_DATA,):
                # An applied `stringData` key is stored in `data`: it owns that key.
                owned = resolve_field_path(live, (_DATA, *field_path[1:]))
            if owned is not None:
                owned_fields.append((entry, owned, tuple(str(part) for part in owned)))
    _OWNED_CACHE[id(live)] = (live, owned_fields)
    while len(_OWNED_CACHE) > _OWNED_CACHE_SIZE:
        _OWNED_CACHE.popitem(last=False)
    return owned_fields


def _find_owner(live: Obj, target: tuple[str, ...]) -> _Owner | None:
    if not target:
        return None  # every field descends from the root: "owner of the object" means nothing
    best: tuple[tuple[int, int, str], _Owner] | None = None
    for entry, owned, parts in _owned_fields(live):
        relation = _relation(parts, target)
        if relation is None:
            continue
        # Exact beats ancestor beats descendant; then the closest; then the latest write
        # (time sorts as text: the API server always writes RFC 3339 in UTC).
        rank = (_RELATION_RANK[relation], abs(len(owned) - len(target)))
        time = str(entry.get("time") or "")
        if best is None or _better(rank, time, best[0]):
            best = ((*rank, time), _Owner(entry, owned, relation))
    return best[1] if best is not None else None


_RELATION_RANK: Final = {"exact": 0, "ancestor": 1, "descendant": 2}


def _better(rank: tuple[int, int], time: str, incumbent: tuple[int, int, str]) -> bool:
    if rank != incumbent[:2]:
        return rank < incumbent[:2]
    return time > incumbent[2]


def _relation(owned: tuple[str, ...], target: tuple[str, ...]) -> str | None:
    if owned == target:
        return "exact"
    if target[: len(owned)] == owned:
        return "ancestor"
    if owned[: len(target)] == target:
        return "descendant"
    return None


def _writer_of(entry: Mapping[str, Any]) -> FieldWriter:
    time = entry.get("time")
    subresource = entry.get("subresource")
    return FieldWriter(
        manager=str(entry.get("manager", "")),
        operation=str(entry.get("operation", "")),
        time=str(time) if time else None,
        subresource=str(subresource) if subresource else None,
    )


def _pointer_parts(pointer: str) -> tuple[str, ...]:
    if not pointer:
        return ()
    return tuple(
        raw.replace("~1", "/").replace("~0", "~") if "~" in raw else raw
        for raw in pointer[1:].split("/")
    )


def _live_parts(pointer: str, desired: Obj | None, live: Obj) -> tuple[str, ...]:
    """The pointer's parts with desired's list indices replaced by live's (by merge key)."""
    parts = _pointer_parts(pointer)
    out: list[str] = []
    want: Any = desired
    have: Any = live
    for part in parts:
        if isinstance(have, list) and part.isdigit():
            index = int(part)
            wanted = want[index] if isinstance(want, list) and index < len(want) else None
            live_index = _matching_index(wanted, have)
            # A pointer to a field only live has already uses live's index.
            live_index = index if live_index is None else live_index
            out.append(str(live_index))
            want = wanted
            have = have[live_index] if live_index < len(have) else None
        else:
            out.append(part)
            want = want.get(part) if isinstance(want, dict) else None
            have = have.get(part) if isinstance(have, dict) else None
    return tuple(out)


def _matching_index(wanted: object, items: list[Any]) -> int | None:
    if not isinstance(wanted, dict):
        return None
    for key in _MERGE_KEYS:
        if key in wanted:
            for index, item in enumerate(items):
                if isinstance(item, dict) and item.get(key) == wanted[key]:
                    return index
            return None
    return None


# --- classification -------------------------------------------------------------------------


def _is_scaling_path(parts: tuple[str, ...]) -> bool:
    return bool(parts) and (parts[-1] in ("replicas", "resources") or "resources" in parts)


def _is_autoscaler(writer: FieldWriter, parts: tuple[str, ...]) -> bool:
    if not _is_scaling_path(parts):
        return False
    if writer.manager in _AUTOSCALER_MANAGERS:
        return True
    return writer.manager == _KCM and writer.subresource == "scale"


def _is_secret_data(key: ResourceKey, parts: tuple[str, ...]) -> bool:
    return key.group == "" and key.kind == "Secret" and len(parts) >= 2 and parts[0] == "data"


def api_version_skew(desired: Obj | None, live: Obj | None) -> list[str]:
    """Why the manifest's apiVersion is a problem (empty when it is not)."""
    if desired is None:
        return []
    wanted = str(desired.get("apiVersion", ""))
    kind = str(desired.get("kind", ""))
    reasons = []
    removed = _REMOVED_APIS.get((wanted, kind)) or _REMOVED_APIS.get((wanted, "*"))
    if removed is not None:
        replacement, release = removed
        reasons.append(
            f"manifest uses {wanted} {kind}, removed in Kubernetes {release}: use {replacement}"
        )
    if live is not None and live.get("apiVersion") and live.get("apiVersion") != wanted:
        reasons.append(
            f"manifest apiVersion {wanted} differs from live apiVersion {live['apiVersion']}"
        )
    return reasons


_ABSENT: Final = object()


def _at(obj: Any, pointer: str) -> Any:
    """The value at an RFC 6901 pointer, or `_ABSENT` (a plain walk: attribution resolves
    tens of thousands of pointers, and jsonpointer's general machinery dominated it)."""
    if not pointer:
        return obj
    node = obj
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~") if "~" in raw else raw
        if isinstance(node, dict):
            if part not in node:
                return _ABSENT
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node) or (part != "0" and part[0] == "0"):
                return _ABSENT
            node = node[int(part)]
        else:
            return _ABSENT
    return node


def _resolves(obj: Obj | None, pointer: str) -> bool:
    return obj is not None and _at(obj, pointer) is not _ABSENT


@dataclass(frozen=True)
class _Context:
    """What one object offers for classifying its paths."""

    key: ResourceKey
    desired: Obj | None
    live: Obj | None
    predicted: Obj | None
    events: tuple[Event, ...]
    field_manager: str
    skew: tuple[str, ...]
    unstable: frozenset[str] = frozenset()

    @property
    def is_secret(self) -> bool:
        return self.key.group == "" and self.key.kind == "Secret"


def explain_object(
    diff: ObjectDiff,
    *,
    desired: Obj | None,
    live: Obj | None,
    predicted: Obj | None,
    events: Sequence[Event] = (),
    field_manager: str = TETHER_FIELD_MANAGER,
    unstable: Collection[str] = (),
) -> list[DriftFinding]:
    """One finding per drifted path of `diff` (one for the whole object when it is Missing
    or Extraneous); nothing when it is Synced. `unstable` are the pointers on which two
    renders of the same commit differ (see `unstable_paths`)."""
    if diff.verdict is Verdict.SYNCED and not diff.manual_edits:
        return []
    if desired is not None and "stringData" in desired and diff.key.kind == "Secret":
        # Compared as stored: `stringData` folded into `data` (the drifted pointers' form).
        folded = {k: v for k, v in desired.items() if k != "stringData"}
        desired = {**folded, "data": secret_data(desired)}
    ctx = _Context(
        diff.key,
        desired,
        live,
        predicted,
        tuple(_events_about(diff.key, events)),
        field_manager,
        tuple(api_version_skew(desired, live)),
        frozenset(unstable),
    )
    if diff.verdict is Verdict.EXTRANEOUS:
        return [_explain_extraneous(ctx)]
    if diff.verdict is Verdict.MISSING or live is None:
        return [_explain_missing(ctx)]
    edits = set(diff.manual_edits)
    drifted = [p for p in diff.paths if p not in edits]
    if diff.verdict is Verdict.OUT_OF_SYNC and not drifted and not edits:
        drifted = [""]
    return [
        *(_explain_path(ctx, live, pointer) for pointer in drifted),
        *(_explain_manual_edit(ctx, live, pointer) for pointer in diff.manual_edits),
    ]


def explain_app(
    diffs: Iterable[tuple[ObjectDiff, Obj | None, Obj | None, Obj | None]],
    events: Sequence[Event] = (),
    *,
    field_manager: str = TETHER_FIELD_MANAGER,
    unstable: Mapping[ResourceKey, Collection[str]] | None = None,
) -> list[DriftFinding]:
    """Findings for every object: tuples of (diff, desired, live, predicted); `unstable`
    holds, per object, the pointers two renders of the same commit disagree on."""
    findings: list[DriftFinding] = []
    for diff, desired, live, predicted in diffs:
        findings.extend(
            explain_object(
                diff,
                desired=desired,
                live=live,
                predicted=predicted,
                events=events,
                field_manager=field_manager,
                unstable=(unstable or {}).get(diff.key, ()),
            )
        )
    return findings


def _explain_extraneous(ctx: _Context) -> DriftFinding:
    live = ctx.live or {}
    created = (live.get("metadata") or {}).get("creationTimestamp")
    when = str(created) if created else None
    if hook_of(live) is not None:
        evidence = [
            "live object is not in the render and carries hook annotations: "
            + ", ".join(f"{name}={value}" for name, value in _hook_annotations(live)),
            "a hook without a delete policy that removes it stays after its sync",
        ]
        return _finding(ctx, "", DriftCause.HOOK_LEFTOVER, None, when, evidence)
    evidence = ["tracked by this application but no longer rendered from Git (a prune deletes it)"]
    return _finding(ctx, "", DriftCause.UNKNOWN, None, when, evidence)


def _hook_annotations(obj: Obj) -> list[tuple[str, str]]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return sorted(
        (str(name), str(value))
        for name, value in annotations.items()
        if str(name).startswith(HOOK_ANNOTATION_PREFIXES)
    )


def _explain_missing(ctx: _Context) -> DriftFinding:
    if ctx.skew:
        return _finding(ctx, "", DriftCause.API_VERSION_SKEW, None, None, list(ctx.skew))
    evidence = ["in Git but absent from the cluster: never created, or deleted outside tether"]
    return _finding(ctx, "", DriftCause.UNKNOWN, None, None, evidence)


def _explain_path(ctx: _Context, live: Obj, pointer: str) -> DriftFinding:
    parts = _live_parts(pointer, ctx.desired, live)
    owner = _find_owner(live, parts)
    writer = owner.writer if owner is not None else None
    evidence = [_ownership_evidence(owner)] if owner is not None else []
    if writer is not None and writer.manager != ctx.field_manager:
        cause = _cause_of_foreign_write(ctx, writer, parts, evidence)
    elif pointer in ctx.unstable:
        evidence.append(
            f"last written by {ctx.field_manager} itself, and two renders of the same commit"
            f" differ here: {NON_DETERMINISTIC_HINT}"
        )
        cause = DriftCause.NON_DETERMINISTIC_RENDER
    else:
        other = _write_through_other_version(ctx, live, parts) if owner is None else None
        cause = _cause_without_foreign_write(ctx, live, pointer, owner, other, evidence)
        if cause is DriftCause.API_VERSION_SKEW and other is not None:
            writer = _writer_of(other)
    evidence.extend(_event_evidence(ctx, writer, parts, cause))
    when = writer.time if writer is not None else None
    return _finding(ctx, pointer, cause, writer, when, evidence)


def _explain_manual_edit(ctx: _Context, live: Obj, pointer: str) -> DriftFinding:
    """A field a person's tool wrote that Git does not declare (core.undeclared): the
    pointer is live's already."""
    owner = _find_owner(live, _pointer_parts(pointer))
    writer = owner.writer if owner is not None else None
    evidence = [_ownership_evidence(owner)] if owner is not None else []
    evidence += [
        f"live: {_describe_value(ctx, live, pointer)}; Git does not set this field, so a"
        " sync leaves it to its writer and the app still looks Synced",
        "to have it removed, set the compare option StrictManualEdits=true (a sync then"
        " takes the field back and drops it); to keep it, declare it in Git",
    ]
    when = writer.time if writer is not None else None
    return _finding(ctx, pointer, DriftCause.UNDECLARED_MANUAL_EDIT, writer, when, evidence)


def _cause_of_foreign_write(
    ctx: _Context, writer: FieldWriter, parts: tuple[str, ...], evidence: list[str]
) -> DriftCause:
    """Another manager than tether owns the field: the manager's kind decides."""
    human = is_human_manager(writer.manager)
    if human:
        # A person's tool is a manual edit, Secrets included: rotation is what a
        # controller (a rotator, an operator) does.
        tool = "kubectl" if writer.manager.lower().startswith("kubectl") else "a dashboard"
        what = f"Secret key {parts[1]!r}" if _is_secret_data(ctx.key, parts) else "this field"
        evidence.append(
            f"someone changed {what} by hand with {tool} (field manager {writer.manager})"
        )
        return DriftCause.MANUAL_EDIT
    if _is_secret_data(ctx.key, parts):
        evidence.append(
            f"Secret key {parts[1]!r} was rewritten by {writer.manager}, a controller, not by"
            f" {ctx.field_manager}: a rotation"
        )
        return DriftCause.SECRET_ROTATION
    if _is_autoscaler(writer, parts):
        via = f" through the {writer.subresource} subresource" if writer.subresource else ""
        evidence.append(f"{writer.manager} is an autoscaler and wrote this scaling field{via}")
        return DriftCause.AUTOSCALER
    evidence.append(f"{writer.manager} ({writer.operation}) is another controller")
    evidence.extend(f"also: {reason}" for reason in ctx.skew)
    return DriftCause.CONTROLLER_WRITE


def _cause_without_foreign_write(
    ctx: _Context,
    live: Obj,
    pointer: str,
    owner: _Owner | None,
    other: Mapping[str, Any] | None,
    evidence: list[str],
) -> DriftCause:
    """Nobody but tether owns the field: admission, apiVersion conversion, or unexplained.

    `other` is a write through another apiVersion that may hide the owner (see
    `_write_through_other_version`).
    """
    if _resolves(ctx.predicted, pointer) and not _resolves(ctx.desired, pointer):
        evidence.append(
            "present in the server-side dry-run result, absent from the desired manifest: "
            "added at admission (mutating webhook or defaulting)"
        )
        return DriftCause.ADMISSION_MUTATION
    if ctx.skew or other is not None:
        evidence.extend(ctx.skew)
        if owner is not None and owner.entry.get("apiVersion") != live.get("apiVersion"):
            evidence.append(
                f"{owner.writer.manager} wrote it through {owner.entry.get('apiVersion')}"
            )
        if other is not None:
            evidence.extend(_other_version_evidence(ctx, live, pointer, other))
        return DriftCause.API_VERSION_SKEW
    evidence.extend(_raw_evidence(ctx, live, pointer, owner))
    return DriftCause.UNKNOWN


def _write_through_other_version(
    ctx: _Context, live: Obj, parts: tuple[str, ...]
) -> Mapping[str, Any] | None:
    """The latest write through another apiVersion that probably changed `parts`.

    A `managedFields` entry names fields in the schema of the apiVersion it was written
    through, so an entry of another version cannot be matched against live (autoscaling/v2
    `spec.metrics` is autoscaling/v1 `spec.targetCPUUtilizationPercentage`): when no entry
    owns a drifted field, such a write is the likely cause. Candidates are other managers'
    writes to the same top-level field (`spec`) not older than tether's last write, since
    that write (a forced apply) took every field of the manifest back.
    """
    if not parts:
        return None
    live_version = live.get("apiVersion")
    ours = [
        str(entry.get("time") or "")
        for entry in managed_fields_of(live)
        if entry.get("manager") == ctx.field_manager and entry.get("subresource") != "status"
    ]
    last_ours = max(ours, default="")
    best: Mapping[str, Any] | None = None
    for entry in managed_fields_of(live):
        version = entry.get("apiVersion")
        time = str(entry.get("time") or "")
        if (
            not version
            or version == live_version
            or entry.get("manager") == ctx.field_manager
            or entry.get("subresource") == "status"
            or (time and last_ours and time < last_ours)
        ):
            continue
        fields = entry.get("fieldsV1")
        if not isinstance(fields, Mapping) or parts[0] not in _top_level_fields(fields):
            continue
        if best is None or time > str(best.get("time") or ""):
            best = entry
    return best


def _top_level_fields(fields: Mapping[str, Any]) -> set[str]:
    return {name[2:] for name in fields if name.startswith("f:")}


def _leading_names(field_path: FieldPath, depth: int) -> tuple[str, ...]:
    """The first `depth` field names of a `fieldsV1` path (up to its first list item)."""
    names: list[str] = []
    for segment in field_path[:depth]:
        if not isinstance(segment, FieldName):
            break
        names.append(segment.name)
    return tuple(names)


def _other_version_evidence(
    ctx: _Context, live: Obj, pointer: str, entry: Mapping[str, Any]
) -> list[str]:
    writer = _writer_of(entry)
    version = entry.get("apiVersion")
    owned = sorted(
        {
            path_to_pointer(_leading_names(field_path, 2))
            for field_path in decode_fields_v1(entry.get("fieldsV1") or {})
        }
    )
    details = writer.operation + (f", at {writer.time}" if writer.time else "")
    human = " (a person's tool)" if is_human_manager(writer.manager) else ""
    manifest = (ctx.desired or {}).get("apiVersion")
    return [
        f"no managedFields entry in {live.get('apiVersion')} owns {pointer}",
        f"{writer.manager}{human} wrote {', '.join(owned)} through {version} ({details}); "
        f"the manifest uses {manifest}: fields written through another apiVersion do not "
        "line up with the manifest's",
    ]


def _ownership_evidence(owner: _Owner) -> str:
    writer = owner.writer
    details = [writer.operation]
    if writer.subresource:
        details.append(f"subresource {writer.subresource}")
    if writer.time:
        details.append(f"at {writer.time}")
    where = (
        "" if owner.relation == "exact" else f" via {owner.relation} {path_to_pointer(owner.owned)}"
    )
    return f"owned by {writer.manager} ({', '.join(details)}){where}"


def _raw_evidence(ctx: _Context, live: Obj, pointer: str, owner: _Owner | None) -> list[str]:
    """What is known when nothing explains the drift, so a person can take it from there."""
    evidence = []
    if owner is None:
        evidence.append(f"no managedFields entry owns {pointer or '/'} or a field around it")
    else:
        evidence.append(
            f"last written by {ctx.field_manager} itself: the desired value probably changed "
            "in Git since the last sync, or a write left no field manager"
        )
    sides = {"desired": ctx.desired, "predicted": ctx.predicted, "live": live}
    for name, obj in sides.items():
        if obj is not None:
            evidence.append(f"{name}: {_describe_value(ctx, obj, pointer)}")
    managers = sorted(
        {f"{e.get('manager')} ({e.get('operation')})" for e in managed_fields_of(live)}
    )
    evidence.append("managers on the object: " + (", ".join(managers) or "none"))
    return evidence


def _describe_value(ctx: _Context, obj: Obj, pointer: str) -> str:
    value = _at(obj, pointer)
    if value is _ABSENT:
        return "absent"
    if ctx.is_secret:
        return "present (value hidden)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


# --- events ---------------------------------------------------------------------------------


def _events_about(key: ResourceKey, events: Sequence[Event]) -> list[Event]:
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


def _event_evidence(
    ctx: _Context, writer: FieldWriter | None, parts: tuple[str, ...], cause: DriftCause
) -> list[str]:
    lines = []
    write_time = writer.time if writer else None
    for event in ctx.events:
        is_rescale = event.get("reason") == "SuccessfulRescale"
        if is_rescale and not (cause is DriftCause.AUTOSCALER or _is_scaling_path(parts)):
            continue
        if write_time is None and not (is_rescale and cause is DriftCause.AUTOSCALER):
            # No time to anchor on (writes through /scale carry none): an old event of
            # the object (a rollout's ScalingReplicaSet) would only mislead.
            continue
        if not _near(_event_time(event), write_time):
            continue
        lines.append(_describe_event(ctx, event))
        if len(lines) == _MAX_EVENTS:
            break
    return lines


def _describe_event(ctx: _Context, event: Event) -> str:
    source = event.get("source") or {}
    component = event.get("reportingComponent") or source.get("component") or "unknown"
    involved = event.get("involvedObject") or {}
    text = (
        f"event {event.get('reason')} from {component} on "
        f"{involved.get('kind')}/{involved.get('name')} at {_event_time(event)}"
    )
    # Messages about a Secret could quote its content: leave them out.
    message = "" if ctx.is_secret else str(event.get("message") or "")
    return f"{text}: {message}" if message else text


def _event_time(event: Event) -> str | None:
    for name in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if event.get(name):
            return str(event[name])
    created = (event.get("metadata") or {}).get("creationTimestamp")
    return str(created) if created else None


def _near(event_time: str | None, write_time: str | None) -> bool:
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


# --- suggestions ----------------------------------------------------------------------------


def _finding(
    ctx: _Context,
    pointer: str,
    cause: DriftCause,
    writer: FieldWriter | None,
    when: str | None,
    evidence: list[str],
) -> DriftFinding:
    suggestion = _suggestion(ctx.key, pointer, cause, writer)
    return DriftFinding(ctx.key, pointer, cause, writer, when, tuple(evidence), suggestion)


def _suggestion(
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
