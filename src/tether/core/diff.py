"""Comparison of desired objects with live ones: per-object verdicts, drifted paths, and a
masked unified diff for people.

Strategy (DESIGN §3). With the server-side dry-run apply result of the desired object
(`predicted`, the object as the server would store it), compare `predicted` with live on
the fields the desired object mentions (the fields tether owns), and report as well every
field live has that `predicted` lacks (the apply would remove it: a field deleted from Git).
Without it (fallback), compare the normalized desired object with normalized live on the
desired fields, and report fields that live says tether applied (its `managedFields`
entry) but that desired no longer has. Fields that only live has and nobody asked for
(server defaults, controller-written fields, webhook sidecars) are not drift.

Whatever the strategy, keys of Secret and ConfigMap `data` that live has and desired lacks
are drift: a key removed from `stringData` must not stay live while the app shows Synced.

Secret values never appear in anything this module returns or prints.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import yaml

from tether.core.diff_ignored import IgnoredDifference, hidden_differences
from tether.core.diff_removals import (
    fields_the_apply_removes,
    owned_fields_missing_from_desired,
    value_at_path,
    without_descendants,
)
from tether.core.ignore import (
    IgnoreRule,
    managed_fields_of,
    path_to_pointer,
    same_json,
    strip_ignored,
)
from tether.core.listitems import (
    is_free_form_map,
    items_by_key,
    list_item_key,
    merge_key_fields,
)
from tether.core.masking import (
    DESIRED_TAG,
    SERVICE_ACCOUNT_TOKEN_TYPE,
    is_secret_key,
    mask_remaining,
    masked_pair,
    tag_changed,
    untag_changed,
)
from tether.core.normalize import (
    is_empty_value,
    normalize,
)
from tether.core.paths import ABSENT, Obj, Path
from tether.core.plan import annotations_of, compare_options
from tether.core.undeclared import manual_edit_paths
from tether.core.undeclared import strict_manual_edits as opts_in_to_strict
from tether.errors import InputError
from tether.model.keys import ResourceKey
from tether.model.names import FIELD_MANAGER


class Verdict(StrEnum):
    """The sync status of one object (all four) or of an application (Synced/OutOfSync)."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    MISSING = "Missing"  # desired, not live: needs create
    EXTRANEOUS = "Extraneous"  # tracked live object no longer desired: needs prune


@dataclass(frozen=True)
class ObjectDiff:
    """The comparison of one object.

    `paths` are RFC 6901 pointers of the drifted fields (list indices are those of the
    desired object, or of live for fields only live has). `desired` and `live` are the
    compared fields, normalized, for display; Secret values in them are masked.
    `manual_edits` are the pointers (live's indices) of undeclared manual edits: fields a
    person's tool wrote that the manifest does not declare (core.undeclared). They are in
    `paths` too, and make the object OutOfSync, only under StrictManualEdits.
    """

    key: ResourceKey
    verdict: Verdict
    paths: list[str] = field(default_factory=list)
    desired: Obj | None = None
    live: Obj | None = None
    manual_edits: list[str] = field(default_factory=list)
    ignored: list[IgnoredDifference] = field(default_factory=list)  # hidden by a rule

    @property
    def in_sync(self) -> bool:
        return self.verdict is Verdict.SYNCED


@dataclass(frozen=True)
class AppDiff:
    """The comparison of every object of an application, sorted by key."""

    verdict: Verdict
    objects: list[ObjectDiff]

    @property
    def in_sync(self) -> bool:
        return self.verdict is Verdict.SYNCED

    @property
    def out_of_sync(self) -> list[ObjectDiff]:
        """The objects that are not Synced (OutOfSync, Missing or Extraneous)."""
        return [diff for diff in self.objects if not diff.in_sync]


# --- public API ----------------------------------------------------------------------------


def compare_object(
    desired: Obj | None,
    live: Obj | None,
    *,
    predicted: Obj | None = None,
    rules: Sequence[IgnoreRule] = (),
    compare_status: bool = False,
    field_manager: str = FIELD_MANAGER,
    strict_manual_edits: bool = False,
) -> ObjectDiff:
    """Compare one desired object with its live counterpart (see the module docstring).
    Undeclared manual edits count as drift with `strict_manual_edits` (the app's option)
    or when the desired object opts in with its own compare-options annotation."""
    reference = desired if desired is not None else live
    if reference is None:
        raise ValueError("compare_object needs a desired or a live object")
    key = ResourceKey.of(reference)
    # managedFields is dropped by normalization but needed by rules and by the fallback.
    managed_fields = managed_fields_of(live)
    normalized = (
        _normalized(desired, compare_status),
        _normalized(live, compare_status),
        _normalized(predicted, compare_status),
    )
    stripped = strip_ignored(
        rules, normalized[0], normalized[1], predicted=normalized[2], managed_fields=managed_fields
    )
    if stripped.desired is None:
        return _display_only(key, Verdict.EXTRANEOUS, None, stripped.live)
    if stripped.live is None:
        return _display_only(key, Verdict.MISSING, stripped.desired, None)
    # What the rules hide, for people: differences left out of the verdict on purpose.
    target_of_sync = normalized[2] if normalized[2] is not None else normalized[0]
    ignored = (
        hidden_differences(rules, target_of_sync, normalized[1], managed_fields)
        if rules and target_of_sync is not None and normalized[1] is not None
        else []
    )

    comparison = _Comparison(
        key, stripped.desired, target_is_predicted=stripped.predicted is not None
    )
    target = stripped.predicted if stripped.predicted is not None else stripped.desired
    target_view, live_view = comparison.compare_node(stripped.desired, target, stripped.live, ())
    if stripped.predicted is not None:
        removed = fields_the_apply_removes(stripped.live, stripped.predicted, key.kind)
    else:
        removed = owned_fields_missing_from_desired(
            stripped.desired, stripped.live, managed_fields, field_manager
        )
    # Only what the diff does not see already (a key added to a ConfigMap's data is
    # ordinary drift: free-form maps are compared key by key).
    seen = [*comparison.paths, *removed]
    edits = [
        edit
        for edit in manual_edit_paths(stripped.desired, stripped.live, managed_fields)
        if not any(edit[: len(p)] == p or p[: len(edit)] == edit for p in seen)
    ]
    if strict_manual_edits or opts_in_to_strict(desired):
        removed = [*removed, *edits]
    for path in removed:
        comparison.record(path)
        _graft(live_view, stripped.live, path)

    paths = without_descendants(list(comparison.paths))
    verdict = Verdict.OUT_OF_SYNC if paths else Verdict.SYNCED
    desired_view, live_view = _masked_views(key, _as_obj(target_view), _as_obj(live_view))
    pointers = [path_to_pointer(p) for p in paths]
    return ObjectDiff(
        key,
        verdict,
        pointers,
        desired_view,
        live_view,
        [path_to_pointer(p) for p in edits],
        ignored,
    )


def compare_app(
    desired_objects: Sequence[Obj],
    live_objects: Mapping[ResourceKey, Obj],
    predicted: Mapping[ResourceKey, Obj] | None = None,
    rules: Sequence[IgnoreRule] = (),
    *,
    compare_status: bool = False,
    field_manager: str = FIELD_MANAGER,
    strict_manual_edits: bool = False,
) -> AppDiff:
    """Compare every desired object; live objects nobody desires any more are Extraneous.

    `live_objects` holds the live objects tracked by this application; `predicted` the
    dry-run results of the desired objects that have one (the others use the fallback).
    """
    predicted = predicted or {}
    desired_by_key: dict[ResourceKey, Obj] = {}
    for obj in desired_objects:
        key = ResourceKey.of(obj)
        if key in desired_by_key:
            raise InputError(f"{key} is rendered more than once", hint="remove the duplicate")
        desired_by_key[key] = obj
    diffs = [
        compare_object(
            desired_by_key.get(key),
            live_objects.get(key),
            predicted=predicted.get(key),
            rules=rules,
            compare_status=compare_status,
            field_manager=field_manager,
            strict_manual_edits=strict_manual_edits,
        )
        for key in sorted(desired_by_key.keys() | live_objects.keys())
    ]
    # An extraneous object whose compare-options say IgnoreExtraneous (Argo CD's option:
    # often one an operator generated and labelled) does not count for the app.
    in_sync = all(
        diff.in_sync
        or (
            diff.verdict is Verdict.EXTRANEOUS
            and "IgnoreExtraneous" in compare_options(annotations_of(live_objects[diff.key]))
        )
        for diff in diffs
    )
    return AppDiff(Verdict.SYNCED if in_sync else Verdict.OUT_OF_SYNC, diffs)


def unified_diff(diff: ObjectDiff, *, context: int = 3) -> str:
    """A unified diff of the compared fields, live (`-`) to desired (`+`); "" when equal.

    Secret values are masked, also when `diff` was not built by `compare_object`.
    """
    live, desired = diff.live, diff.desired
    is_secret = is_secret_key(diff.key)
    if is_secret:
        # A changed value reads "***" on the live side and "*** (changed)" on the desired
        # side: the line shows up as changed, and the marker is said once.
        live = untag_changed(mask_remaining(live))
        desired = tag_changed(mask_remaining(desired), DESIRED_TAG)
    label = _label(diff.key)
    lines = difflib.unified_diff(
        _yaml_lines(live),
        _yaml_lines(desired),
        fromfile=f"live/{label}",
        tofile=f"desired/{label}",
        n=context,
    )
    text = "".join(lines)
    if is_secret:
        text = text.replace(DESIRED_TAG, "")
    return text


# --- the comparison walk ---------------------------------------------------------------------


# Lists with set semantics: other writers may add items (finalizers added by controllers).
_SET_LISTS: frozenset[Path] = frozenset({("metadata", "finalizers")})


class _Comparison:
    """Walks the desired object's shape over a target (predicted or desired) and live."""

    def __init__(self, key: ResourceKey, desired: Obj, *, target_is_predicted: bool) -> None:
        self.kind = key.kind
        self.target_is_predicted = target_is_predicted
        self.paths: dict[Path, None] = {}  # an ordered set
        self.whole_maps = _whole_map_paths(key, desired)

    def record(self, path: Path) -> None:
        self.paths[path] = None

    def compare_node(
        self, shape: Any, target: Any, live: Any, path: Path, *, is_value: bool = False
    ) -> tuple[Any, Any]:
        """Compare one node; returns the (target, live) views of what was compared.

        `is_value` marks map values of free-form maps and list items: there `0`, `false` and
        `""` are values, not omitted fields.
        """
        if path in self.whole_maps and isinstance(live, dict):
            # Compared key by key even when desired has no (or an empty) map here.
            return self._compare_maps(_dict_or_empty(shape), _dict_or_empty(target), live, path)
        target_empty = _is_unset(target, is_value)
        live_empty = _is_unset(live, is_value)
        if target_empty and live_empty:
            # Equal ("unset" on both sides): leave it out of the views, so that an explicit
            # default such as `initialDelaySeconds: 0` does not show up as a difference.
            return ABSENT, ABSENT
        if target_empty and not self.target_is_predicted and _says_nothing(target):
            # Desired `resources: {}` or `volumes: []` asks for nothing: what live has there
            # belongs to others. (A dry-run result that lacks a live field is different:
            # the apply would remove it.)
            return ABSENT, ABSENT
        if target_empty or live_empty:
            self.record(path)
            return target, live
        if isinstance(target, dict) and isinstance(live, dict):
            return self._compare_maps(
                shape if isinstance(shape, dict) else target, target, live, path
            )
        if isinstance(target, list) and isinstance(live, list):
            return self._compare_lists(
                shape if isinstance(shape, list) else target, target, live, path
            )
        if not same_json(target, live):
            self.record(path)
        return target, live

    def _compare_maps(self, shape: Obj, target: Obj, live: Obj, path: Path) -> tuple[Obj, Obj]:
        values_are_free_form = is_free_form_map(path, self.kind)
        target_view: Obj = {}
        live_view: Obj = {}
        # A whole map (Secret `data`) is compared even when desired has none left.
        whole_maps_here = [p[-1] for p in sorted(self.whole_maps) if p[:-1] == path]
        for name in [*shape, *(name for name in whole_maps_here if name not in shape)]:
            target_value, live_value = self.compare_node(
                shape.get(name, ABSENT),
                target.get(name, ABSENT),
                live.get(name, ABSENT),
                (*path, name),
                is_value=values_are_free_form,
            )
            _put(target_view, name, target_value)
            _put(live_view, name, live_value)
        if path in self.whole_maps:
            for name in sorted(live.keys() - shape.keys()):
                self.record((*path, name))
                live_view[name] = live[name]
        return target_view, live_view

    def _compare_lists(
        self, shape: list[Any], target: list[Any], live: list[Any], path: Path
    ) -> tuple[list[Any], list[Any]]:
        if path in _SET_LISTS:
            return self._compare_sets(target, live, path)
        key_fields = merge_key_fields(path, shape)
        if key_fields is not None:
            return self._compare_keyed_lists(shape, target, live, path, key_fields)
        return self._compare_atomic_lists(shape, target, live, path)

    def _compare_sets(
        self, target: list[Any], live: list[Any], path: Path
    ) -> tuple[list[Any], list[Any]]:
        for index, item in enumerate(target):
            if not any(same_json(item, other) for other in live):
                self.record((*path, index))
        return target, live

    def _compare_keyed_lists(
        self,
        shape: list[Any],
        target: list[Any],
        live: list[Any],
        path: Path,
        key_fields: tuple[str, ...],
    ) -> tuple[list[Any], list[Any]]:
        """Match items by key; live items nobody desired are someone else's, not drift."""
        target_items = items_by_key(target, key_fields)
        live_items = items_by_key(live, key_fields)
        target_view: list[Any] = []
        live_view: list[Any] = []
        for index, shape_item in enumerate(shape):
            item_key = list_item_key(shape_item, key_fields)
            target_item, live_item = self.compare_node(
                shape_item,
                target_items.get(item_key, ABSENT),
                live_items.get(item_key, ABSENT),
                (*path, index),
                is_value=True,
            )
            _append(target_view, target_item)
            _append(live_view, live_item)
        return target_view, live_view

    def _compare_atomic_lists(
        self, shape: list[Any], target: list[Any], live: list[Any], path: Path
    ) -> tuple[list[Any], list[Any]]:
        """Match items by position; the list is replaced as a whole, so length matters."""
        for index in range(max(len(target), len(live))):
            if index >= len(target) or index >= len(live):
                self.record((*path, index))
                continue
            item_shape = shape[index] if index < len(shape) else target[index]
            self.compare_node(item_shape, target[index], live[index], (*path, index), is_value=True)
        return target, live


def _says_nothing(value: Any) -> bool:
    """Absent, null or an empty container: unlike `0` or `""`, not a value to enforce."""
    return value is ABSENT or value is None or value in ({}, [])


def _dict_or_empty(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _is_unset(value: Any, is_value: bool) -> bool:
    return value is ABSENT or is_empty_value(value, in_free_form_map=is_value)


def _whole_map_paths(key: ResourceKey, desired: Obj) -> frozenset[tuple[str, ...]]:
    """Maps compared key by key in both directions: Secret and ConfigMap payloads."""
    if key.group != "":
        return frozenset()
    if key.kind == "ConfigMap":
        return frozenset({("data",), ("binaryData",)})
    if key.kind == "Secret" and desired.get("type") != SERVICE_ACCOUNT_TOKEN_TYPE:
        # A service-account token Secret's data is written by the token controller.
        return frozenset({("data",)})
    return frozenset()


# --- fields the apply would remove -----------------------------------------------------------


# --- display views -------------------------------------------------------------------------


def _display_only(
    key: ResourceKey, verdict: Verdict, desired: Obj | None, live: Obj | None
) -> ObjectDiff:
    desired_view, live_view = _masked_views(key, desired, live)
    return ObjectDiff(key, verdict, [], desired_view, live_view)


def _masked_views(
    key: ResourceKey, desired: Obj | None, live: Obj | None
) -> tuple[Obj | None, Obj | None]:
    if is_secret_key(key):
        return masked_pair(desired, live)
    return desired, live


def _graft(view: Any, source: Obj, path: Path) -> None:
    """Copy a live-only field into the live view, when the way there is made of maps only.

    Fields inside lists are still reported in `paths`; they are just not shown.
    """
    if not isinstance(view, dict) or not all(isinstance(part, str) for part in path):
        return
    node: Obj = view
    for part in path[:-1]:
        child = node.setdefault(str(part), {})
        if not isinstance(child, dict):
            return
        node = child
    node[str(path[-1])] = copy.deepcopy(value_at_path(source, path))


def _put(view: Obj, name: str, value: Any) -> None:
    if value is not ABSENT:
        view[name] = value


def _append(view: list[Any], value: Any) -> None:
    if value is not ABSENT:
        view.append(value)


def _as_obj(view: Any) -> Obj | None:
    return view if isinstance(view, dict) else None


def _yaml_lines(obj: Obj | None) -> list[str]:
    if obj is None:
        return []
    text = yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return text.splitlines(keepends=True)


def _label(key: ResourceKey) -> str:
    group_kind = f"{key.group}/{key.kind}" if key.group else key.kind
    return "/".join(part for part in (group_kind, key.namespace, key.name) if part)


# --- Secret masking ------------------------------------------------------------------------


# --- helpers -------------------------------------------------------------------------------


def _normalized(obj: Obj | None, compare_status: bool) -> Obj | None:
    return None if obj is None else normalize(obj, compare_status=compare_status)
