"""Who owns a field (pure): `metadata.managedFields` decoded against the live object, the
owner of a JSON pointer (exact, nearest owned ancestor, else nearest owned descendant), and
diff pointers (desired's list indices) mapped onto the live object's list items."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tether.core.drift_findings import FieldWriter
from tether.core.ignore import FieldName, decode_fields_v1, managed_fields_of, resolve_field_path
from tether.core.paths import Obj, Path, pointer_parts

# Keys that identify list items (strategic-merge keys of the common lists), used to map a
# desired list index onto the live one.
_MERGE_KEYS: Final = ("name", "mountPath", "containerPort", "port", "devicePath", "key", "type")


@dataclass(frozen=True)
class Owner:
    entry: Mapping[str, Any]
    owned: Path  # the owned field, resolved in live
    relation: str  # exact, ancestor or descendant

    @property
    def writer(self) -> FieldWriter:
        return writer_of(self.entry)


def attribute_path(live: Obj, pointer: str) -> FieldWriter | None:
    """The manager owning `pointer` (live's list indices) or its nearest owned relative."""
    owner = find_owner(live, pointer_parts(pointer))
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


def find_owner(live: Obj, target: tuple[str, ...]) -> Owner | None:
    if not target:
        return None  # every field descends from the root: "owner of the object" means nothing
    best: tuple[tuple[int, int, str], Owner] | None = None
    for entry, owned, parts in _owned_fields(live):
        relation = _relation(parts, target)
        if relation is None:
            continue
        # Exact beats ancestor beats descendant; then the closest; then the latest write
        # (time sorts as text: the API server always writes RFC 3339 in UTC).
        rank = (_RELATION_RANK[relation], abs(len(owned) - len(target)))
        time = str(entry.get("time") or "")
        if best is None or _better(rank, time, best[0]):
            best = ((*rank, time), Owner(entry, owned, relation))
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


def writer_of(entry: Mapping[str, Any]) -> FieldWriter:
    time = entry.get("time")
    subresource = entry.get("subresource")
    return FieldWriter(
        manager=str(entry.get("manager", "")),
        operation=str(entry.get("operation", "")),
        time=str(time) if time else None,
        subresource=str(subresource) if subresource else None,
    )


def live_parts(pointer: str, desired: Obj | None, live: Obj) -> tuple[str, ...]:
    """The pointer's parts with desired's list indices replaced by live's (by merge key)."""
    parts = pointer_parts(pointer)
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
