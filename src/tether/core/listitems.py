"""Which list items are the same item (pure): the list-map keys Kubernetes merges lists
by (containers by name, ports by port and protocol, ...), and the free-form maps whose
values are data, not fields."""

from __future__ import annotations

import json
from typing import Any

from tether.core.normalize import (
    FREE_FORM_MAP_FIELDS,
)
from tether.core.paths import Path

# Lists whose items are matched by key rather than position (Kubernetes list-map keys).
# `protocol` is defaulted to TCP when the key is read, so `(port, protocol)` is always usable.
_MERGE_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    **dict.fromkeys(
        (
            "containers",
            "initContainers",
            "ephemeralContainers",
            "env",
            "volumes",
            "imagePullSecrets",
            "resourceClaims",
            "webhooks",
            "versions",
            "secrets",
        ),
        (("name",),),
    ),
    "volumeMounts": (("mountPath",),),
    "volumeDevices": (("devicePath",),),
    "hostAliases": (("ip",),),
    "topologySpreadConstraints": (("topologyKey", "whenUnsatisfiable"),),
    "conditions": (("type",),),
    "readinessGates": (("conditionType",),),
    "ownerReferences": (("uid",),),
}


_CONTAINER_PORT_KEYS = (("containerPort", "protocol"), ("name",))


_SERVICE_PORT_KEYS = (("port", "protocol"), ("name",))


_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})


_LIST_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}


def is_free_form_map(path: Path, kind: str) -> bool:
    if not path:
        return False
    if kind == "Service" and path == ("spec", "selector"):
        return True
    return path[-1] in FREE_FORM_MAP_FIELDS


def merge_key_fields(path: Path, items: list[Any]) -> tuple[str, ...] | None:
    """The key fields that identify the items of this list, or None to match by position."""
    if not path or not isinstance(path[-1], str):
        return None
    name = path[-1]
    if name == "ports" and path == ("spec", "ports"):
        candidates: tuple[tuple[str, ...], ...] = _SERVICE_PORT_KEYS
    elif name == "ports" and len(path) >= 3 and path[-3] in _CONTAINER_LISTS:
        candidates = _CONTAINER_PORT_KEYS
    else:
        # Unknown lists of named items are matched by name (CRD lists, webhook configs...).
        candidates = _MERGE_KEYS.get(name, (("name",),))
    for fields in candidates:
        if _identifies_items(items, fields):
            return fields
    return None


def _identifies_items(items: list[Any], fields: tuple[str, ...]) -> bool:
    keys = [list_item_key(item, fields) for item in items]
    return bool(keys) and None not in keys and len(set(keys)) == len(keys)


def list_item_key(item: Any, fields: tuple[str, ...]) -> str | None:
    """The key of a list item as JSON text (so `true` and `1` stay different keys)."""
    if not isinstance(item, dict):
        return None
    key = [item.get(name, _LIST_KEY_DEFAULTS.get(name)) for name in fields]
    if any(part is None or isinstance(part, dict | list) for part in key):
        return None
    return json.dumps(key)


def items_by_key(items: list[Any], fields: tuple[str, ...]) -> dict[str | None, Any]:
    index: dict[str | None, Any] = {}
    for item in items:
        item_key = list_item_key(item, fields)
        if item_key is not None:
            index.setdefault(item_key, item)
    return index
