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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tether.core.diff import ObjectDiff, Verdict
from tether.core.drift_events import (
    event_time_of,
    events_about,
    happened_near,
)
from tether.core.drift_findings import (
    DriftCause,
    DriftFinding,
    Event,
    FieldWriter,
)
from tether.core.drift_suggestions import (
    ignore_suggestion,
)
from tether.core.drift_versions import (
    api_version_skew,
    leading_names,
    top_level_fields,
)
from tether.core.ignore import (
    decode_fields_v1,
    managed_fields_of,
    path_to_pointer,
)
from tether.core.managedfields import (
    Owner,
    find_owner,
    live_parts,
    writer_of,
)
from tether.core.normalize import secret_data
from tether.core.paths import ABSENT, Obj, pointer_parts, value_at
from tether.core.plan import hook_of
from tether.core.undeclared import is_human_manager
from tether.model.keys import ResourceKey
from tether.model.names import FIELD_MANAGER, HOOK_ANNOTATION_PREFIXES

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


_MAX_EVENTS: Final = 3
_MAX_VALUE_CHARS: Final = 80


NON_DETERMINISTIC_HINT: Final = (
    "the chart generates this value on every render (randAlphaNum/lookup): set it in"
    " values, or use an existingSecret"
)


INTENTIONAL_CAUSES: Final = frozenset(
    {DriftCause.AUTOSCALER, DriftCause.ADMISSION_MUTATION, DriftCause.CONTROLLER_WRITE}
)


# --- attribution ------------------------------------------------------------------------------


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


def _resolves(obj: Obj | None, pointer: str) -> bool:
    return obj is not None and value_at(obj, pointer) is not ABSENT


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
    field_manager: str = FIELD_MANAGER,
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
        tuple(events_about(diff.key, events)),
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
    field_manager: str = FIELD_MANAGER,
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
    parts = live_parts(pointer, ctx.desired, live)
    owner = find_owner(live, parts)
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
            writer = writer_of(other)
    evidence.extend(_event_evidence(ctx, writer, parts, cause))
    when = writer.time if writer is not None else None
    return _finding(ctx, pointer, cause, writer, when, evidence)


def _explain_manual_edit(ctx: _Context, live: Obj, pointer: str) -> DriftFinding:
    """A field a person's tool wrote that Git does not declare (core.undeclared): the
    pointer is live's already."""
    owner = find_owner(live, pointer_parts(pointer))
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
    owner: Owner | None,
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
        if not isinstance(fields, Mapping) or parts[0] not in top_level_fields(fields):
            continue
        if best is None or time > str(best.get("time") or ""):
            best = entry
    return best


def _other_version_evidence(
    ctx: _Context, live: Obj, pointer: str, entry: Mapping[str, Any]
) -> list[str]:
    writer = writer_of(entry)
    version = entry.get("apiVersion")
    owned = sorted(
        {
            path_to_pointer(leading_names(field_path, 2))
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


def _ownership_evidence(owner: Owner) -> str:
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


def _raw_evidence(ctx: _Context, live: Obj, pointer: str, owner: Owner | None) -> list[str]:
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
    value = value_at(obj, pointer)
    if value is ABSENT:
        return "absent"
    if ctx.is_secret:
        return "present (value hidden)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


# --- events ---------------------------------------------------------------------------------


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
        if not happened_near(event_time_of(event), write_time):
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
        f"{involved.get('kind')}/{involved.get('name')} at {event_time_of(event)}"
    )
    # Messages about a Secret could quote its content: leave them out.
    message = "" if ctx.is_secret else str(event.get("message") or "")
    return f"{text}: {message}" if message else text


# --- suggestions ----------------------------------------------------------------------------


def _finding(
    ctx: _Context,
    pointer: str,
    cause: DriftCause,
    writer: FieldWriter | None,
    when: str | None,
    evidence: list[str],
) -> DriftFinding:
    suggestion = ignore_suggestion(ctx.key, pointer, cause, writer)
    return DriftFinding(ctx.key, pointer, cause, writer, when, tuple(evidence), suggestion)
