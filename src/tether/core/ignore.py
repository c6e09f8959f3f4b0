"""`ignoreDifferences` rules (Argo CD semantics) and the `managedFields` decoder they need.

A rule selects objects by group/kind (globs), name and namespace (exact, optional) and names
fields to leave out of the comparison in three ways: RFC 6901 JSON pointers, jq path
expressions, and field managers (every field a listed manager owns in live
`metadata.managedFields`). The selected fields are removed from every side of the
comparison (desired, live and the dry-run result) before they are compared.

The time limit on jq evaluation is the caller's job (the engine runs this in a worker it can
abandon); `max_paths` guards against an expression that selects a whole object tree.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jq
import jsonpointer

from tether.core.paths import Obj, Path, resolve_pointer
from tether.errors import InputError
from tether.model.keys import ResourceKey

"""A concrete location in an object: dict keys and list indices."""

DEFAULT_MAX_PATHS = 10_000

# Defaults the server fills in for list-map key fields that manifests usually omit, so that a
# `managedFields` key like `{"containerPort":80,"protocol":"TCP"}` still finds the item.
_LIST_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}


# --- rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    """One `ignoreDifferences` entry. An empty `group` is the core API group, as in Argo CD."""

    kind: str
    group: str = ""
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()
    _jq_programs: tuple[Any, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.kind:
            raise InputError(
                "ignoreDifferences: every rule needs a kind", hint="use kind: '*' for all kinds"
            )
        for pointer in self.json_pointers:
            _check_json_pointer(pointer)
        programs = tuple(_compile_jq_path(expr) for expr in self.jq_path_expressions)
        object.__setattr__(self, "_jq_programs", programs)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> IgnoreRule:
        """Build a rule from its Application form (`jsonPointers`, `jqPathExpressions`...)."""
        return cls(
            kind=_string_field(spec, "kind"),
            group=_string_field(spec, "group"),
            name=_string_field(spec, "name"),
            namespace=_string_field(spec, "namespace"),
            json_pointers=_string_list_field(spec, "jsonPointers"),
            jq_path_expressions=_string_list_field(spec, "jqPathExpressions"),
            managed_fields_managers=_string_list_field(spec, "managedFieldsManagers"),
        )

    def matches(self, key: ResourceKey) -> bool:
        """Whether this rule applies to the object with this key."""
        return (
            (self.group == "*" or fnmatch.fnmatchcase(key.group, self.group))
            and fnmatch.fnmatchcase(key.kind, self.kind)
            and (not self.name or self.name == key.name)
            and (not self.namespace or self.namespace == key.namespace)
        )

    def paths_in(self, obj: Obj, managed_fields: Sequence[Mapping[str, Any]]) -> Iterator[Path]:
        """The concrete paths of `obj` this rule ignores (they may repeat)."""
        for pointer in self.json_pointers:
            path = resolve_pointer(obj, pointer)
            if path is not None:
                yield path
        for expression, program in zip(self.jq_path_expressions, self._jq_programs, strict=True):
            yield from _jq_paths(obj, expression, program)
        if self.managed_fields_managers:
            for field_path in managed_field_paths(managed_fields, self.managed_fields_managers):
                path = resolve_field_path(obj, field_path)
                if path is not None:
                    yield path


def parse_ignore_rules(specs: Iterable[Mapping[str, Any]]) -> list[IgnoreRule]:
    """Rules from an Application's `spec.ignoreDifferences` list."""
    rules = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            raise InputError(f"ignoreDifferences[{index}]: expected a mapping")
        rules.append(IgnoreRule.from_spec(spec))
    return rules


def _string_field(spec: Mapping[str, Any], name: str) -> str:
    value = spec.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"ignoreDifferences: {name} must be a string")
    return value


def _string_list_field(spec: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = spec.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InputError(f"ignoreDifferences: {name} must be a list of strings")
    return tuple(value)


# --- removing ignored fields ---------------------------------------------------------------


class StrippedObjects(NamedTuple):
    """Copies of the compared objects with the ignored fields removed."""

    desired: Obj | None
    live: Obj | None
    predicted: Obj | None


def strip_ignored(
    rules: Sequence[IgnoreRule],
    desired: Obj | None,
    live: Obj | None,
    *,
    predicted: Obj | None = None,
    managed_fields: Sequence[Mapping[str, Any]] | None = None,
    max_paths: int = DEFAULT_MAX_PATHS,
) -> StrippedObjects:
    """Remove every field the matching rules ignore from desired, live and predicted.

    Paths are evaluated on each object separately (a list item can sit at a different index
    on each side). `managed_fields` defaults to live's `metadata.managedFields`; pass it
    explicitly when `live` has already been normalized (normalization drops it).
    """
    reference = desired if desired is not None else live
    if reference is None:
        return StrippedObjects(None, None, predicted)
    key = ResourceKey.of(reference)
    applicable = [rule for rule in rules if rule.matches(key)]
    if managed_fields is None:
        managed_fields = managed_fields_of(live)

    def strip(obj: Obj | None) -> Obj | None:
        if obj is None or not applicable:
            return obj
        paths = ignored_paths(applicable, obj, managed_fields=managed_fields, max_paths=max_paths)
        return remove_paths(obj, paths)

    return StrippedObjects(strip(desired), strip(live), strip(predicted))


def ignored_paths(
    rules: Sequence[IgnoreRule],
    obj: Obj,
    *,
    managed_fields: Sequence[Mapping[str, Any]] = (),
    max_paths: int = DEFAULT_MAX_PATHS,
) -> list[Path]:
    """The distinct paths of `obj` the rules ignore (rules are assumed to match `obj`)."""
    found: dict[Path, None] = {}  # ordered set
    for rule in rules:
        for path in rule.paths_in(obj, managed_fields):
            found[path] = None
            if len(found) > max_paths:
                raise InputError(
                    f"ignoreDifferences selects more than {max_paths} fields of "
                    f"{ResourceKey.of(obj)}",
                    hint="narrow the jqPathExpressions or jsonPointers of the rule",
                )
    return list(found)


def remove_paths(obj: Obj, paths: Iterable[Path]) -> Obj:
    """A copy of `obj` without the given paths (paths that do not exist are skipped)."""
    result = copy.deepcopy(obj)
    # Deepest and highest index first, so that removing a list item never shifts the index
    # of a path still to be removed.
    for path in sorted(set(paths), key=_removal_order, reverse=True):
        _remove_path(result, path)
    return result


def path_to_pointer(path: Path) -> str:
    """`("metadata", "labels", "a/b")` -> `/metadata/labels/a~1b` (RFC 6901)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _removal_order(path: Path) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, part) if isinstance(part, int) else (1, part) for part in path)


def _remove_path(obj: Obj, path: Path) -> None:
    if not path:
        return
    parent: Any = obj
    for part in path[:-1]:
        parent = _child(parent, part)
        if parent is None:
            return
    last = path[-1]
    if isinstance(parent, dict) and isinstance(last, str):
        parent.pop(last, None)
    elif isinstance(parent, list) and isinstance(last, int) and -len(parent) <= last < len(parent):
        del parent[last]


def _child(node: object, part: str | int) -> Any:
    if isinstance(node, dict) and isinstance(part, str):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
        return node[part]
    return None


def managed_fields_of(obj: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The `metadata.managedFields` entries of an object ([] when absent or malformed)."""
    metadata = obj.get("metadata") if obj is not None else None
    entries = metadata.get("managedFields") if isinstance(metadata, Mapping) else None
    if not isinstance(entries, list):
        return []
    return [entry for entry in entries if isinstance(entry, Mapping)]


# --- JSON pointers -----------------------------------------------------------------------------


def _check_json_pointer(pointer: str) -> None:
    try:
        jsonpointer.JsonPointer(pointer)
    except jsonpointer.JsonPointerException as exc:
        raise InputError(
            f"ignoreDifferences: invalid JSON pointer {pointer!r}: {exc}",
            hint="pointers start with '/', e.g. /spec/replicas",
        ) from exc


# --- jq -------------------------------------------------------------------------------------


def _compile_jq_path(expression: str) -> Any:
    try:
        return jq.compile(f"path({expression})")
    except ValueError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise InputError(
            f"ignoreDifferences: invalid jq path expression {expression!r}: {reason}",
            hint='e.g. .spec.template.spec.containers[] | select(.name == "app") | .image',
        ) from exc


def _jq_paths(obj: Obj, expression: str, program: Any) -> Iterator[Path]:
    try:
        results = program.input_value(obj).all()
    except ValueError as exc:
        if "Invalid path expression" in str(exc):
            # The message quotes the offending value, which may be a Secret value: leave it out.
            raise InputError(
                f"ignoreDifferences: jq expression {expression!r} does not select paths",
                hint="use a path expression such as .metadata.labels.x, not a computed value",
            ) from exc
        # A runtime error on this object (e.g. iterating a field it does not have) means the
        # expression selects nothing here, as in Argo CD.
        return
    for result in results:
        if isinstance(result, list) and all(_is_path_part(part) for part in result):
            yield tuple(result)


def _is_path_part(part: object) -> bool:
    # Slices (`.[1:]`) come back as {"start":..,"end":..}: not a single field, skipped.
    return isinstance(part, str) or (isinstance(part, int) and not isinstance(part, bool))


# --- managedFields (fieldsV1) ---------------------------------------------------------------


@dataclass(frozen=True)
class FieldName:
    """`f:replicas`: a field of a struct or a key of a map."""

    name: str


@dataclass(frozen=True)
class ItemByKey:
    """`k:{"name":"app"}`: the list item whose key fields have these values."""

    keys: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class ItemByValue:
    """`v:"x"`: the item of a set-like list equal to this value."""

    value: Any


@dataclass(frozen=True)
class ItemByIndex:
    """`i:0`: a list item by position."""

    index: int


FieldSegment = FieldName | ItemByKey | ItemByValue | ItemByIndex
FieldPath = tuple[FieldSegment, ...]
"""A path in `fieldsV1` terms: list items are named by their keys, not their positions."""


def managed_field_paths(
    managed_fields: Sequence[Mapping[str, Any]],
    managers: Collection[str],
    *,
    operation: str | None = None,
) -> list[FieldPath]:
    """The fields owned by any of `managers` (optionally only for one operation: Apply/Update)."""
    paths: list[FieldPath] = []
    for entry in managed_fields:
        if entry.get("manager") not in managers:
            continue
        if operation is not None and entry.get("operation") != operation:
            continue
        fields = entry.get("fieldsV1")
        if entry.get("fieldsType", "FieldsV1") == "FieldsV1" and isinstance(fields, Mapping):
            paths.extend(decode_fields_v1(fields))
    return paths


def decode_fields_v1(fields: Mapping[str, Any]) -> list[FieldPath]:
    """The owned fields of a `fieldsV1` set.

    A leaf (`{}`) owns the whole value at its path. A list item that carries `.` is owned
    as a whole (the manager created it), so its path is returned instead of its fields. On
    a struct or map, `.` only records that the manager created the container, which says
    nothing about the other keys in it, so only its listed children are returned.
    """
    paths: list[FieldPath] = []
    _collect_owned(fields, (), paths)
    return paths


def _collect_owned(node: Mapping[str, Any], prefix: FieldPath, out: list[FieldPath]) -> None:
    children = {name: child for name, child in node.items() if name != "."}
    is_list_item = bool(prefix) and not isinstance(prefix[-1], FieldName)
    if prefix and (not children or (is_list_item and "." in node)):
        out.append(prefix)
        return
    for name, child in children.items():
        segment = parse_field_segment(name)
        if segment is not None and isinstance(child, Mapping):
            _collect_owned(child, (*prefix, segment), out)


def parse_field_segment(text: str) -> FieldSegment | None:
    """Decode one `fieldsV1` key (`f:`, `k:`, `v:`, `i:`); None for an unknown form."""
    prefix, _, rest = text.partition(":")
    try:
        if prefix == "f":
            return FieldName(rest)
        if prefix == "k":
            keys = json.loads(rest)
            return ItemByKey(tuple(sorted(keys.items()))) if isinstance(keys, dict) else None
        if prefix == "v":
            return ItemByValue(json.loads(rest))
        if prefix == "i":
            return ItemByIndex(int(rest))
    except ValueError:
        return None
    return None


def resolve_field_path(obj: Obj, field_path: FieldPath) -> Path | None:
    """The concrete path of a `fieldsV1` path in `obj`, or None when `obj` lacks it."""
    path: list[str | int] = []
    node: Any = obj
    for segment in field_path:
        index = _locate(node, segment)
        if index is None:
            return None
        path.append(index)
        node = node[index]
    return tuple(path)


def _locate(node: object, segment: FieldSegment) -> str | int | None:
    if isinstance(segment, FieldName):
        return segment.name if isinstance(node, dict) and segment.name in node else None
    if not isinstance(node, list):
        return None
    if isinstance(segment, ItemByIndex):
        return segment.index if 0 <= segment.index < len(node) else None
    for index, item in enumerate(node):
        if isinstance(segment, ItemByValue) and same_json(item, segment.value):
            return index
        if isinstance(segment, ItemByKey) and _item_has_keys(item, segment.keys):
            return index
    return None


def _item_has_keys(item: object, keys: tuple[tuple[str, Any], ...]) -> bool:
    if not isinstance(item, dict):
        return False
    return all(
        same_json(item.get(name, _LIST_KEY_DEFAULTS.get(name)), value) for name, value in keys
    )


def same_json(left: object, right: object) -> bool:
    """JSON equality: unlike Python's `==`, `true` is not `1`."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and left == right
