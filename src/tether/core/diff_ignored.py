"""What an ignore rule hides (pure): the fields that differ between what a sync would
make and live, which the comparison leaves out because an `ignoreDifferences` rule
selects them. Without the rule they would be drift; the diff page shows them as ignored,
with the rule that hid them, so nobody wonders why a visible difference is "Synced"."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.core.ignore import IgnoreRule, path_to_pointer, same_json
from tether.core.paths import Obj, Path
from tether.model.keys import ResourceKey

MAX_SHOWN = 200  # per object: a rule over a whole subtree is summed up by its first fields


@dataclass(frozen=True)
class IgnoredDifference:
    pointer: str  # RFC 6901, of the field that differs
    rule: str  # the ignoreDifferences entry that hid it, as the Application spells it


def describe_rule(rule: IgnoreRule) -> str:
    """The rule in its Application form, on one line."""
    spec: dict[str, Any] = {"group": rule.group, "kind": rule.kind}
    if rule.name:
        spec["name"] = rule.name
    if rule.namespace:
        spec["namespace"] = rule.namespace
    for key, values in (
        ("jsonPointers", rule.json_pointers),
        ("jqPathExpressions", rule.jq_path_expressions),
        ("managedFieldsManagers", rule.managed_fields_managers),
    ):
        if values:
            spec[key] = list(values)
    return json.dumps(spec, separators=(", ", ": "))


_ABSENT = object()


def _at(obj: object, path: Path) -> object:
    node = obj
    for part in path:
        in_map = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_map or in_list):
            return _ABSENT
        node = node[part]  # type: ignore[index]
    return node


def hidden_differences(
    rules: Sequence[IgnoreRule],
    target: Obj,
    live: Obj,
    managed_fields: Sequence[Mapping[str, Any]],
) -> list[IgnoredDifference]:
    """Every field a matching rule selects (on either side) whose value differs between
    `target` (what a sync would make) and `live`: the first rule that selects it names it."""
    key = ResourceKey.of(target)
    found: dict[str, IgnoredDifference] = {}
    for rule in rules:
        if not rule.matches(key):
            continue
        described = describe_rule(rule)
        paths = {*rule.paths_in(target, managed_fields), *rule.paths_in(live, managed_fields)}
        for path in sorted(paths, key=lambda p: [str(x) for x in p]):
            if len(found) >= MAX_SHOWN:
                return list(found.values())
            pointer = path_to_pointer(path)
            if pointer in found or not pointer:
                continue
            left, right = _at(target, path), _at(live, path)
            if left is _ABSENT or right is _ABSENT:
                differs = left is not right
            else:
                differs = not same_json(left, right)
            if differs:
                found[pointer] = IgnoredDifference(pointer, described)
    return list(found.values())


__all__ = ["IgnoredDifference", "describe_rule", "hidden_differences"]
