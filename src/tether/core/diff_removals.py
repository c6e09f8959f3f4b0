"""Fields a server-side apply would remove (pure): what the live object has, the dry-run
result lacks and tether's field manager owned; the rest of a free-form map is not ours."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tether.core.ignore import (
    managed_field_paths,
    resolve_field_path,
)
from tether.core.listitems import (
    is_free_form_map,
    items_by_key,
    list_item_key,
    merge_key_fields,
)
from tether.core.normalize import (
    is_empty_value,
)
from tether.core.paths import ABSENT, Obj, Path


def fields_the_apply_removes(live: Obj, predicted: Obj, kind: str) -> list[Path]:
    """Fields live has and the dry-run result lacks: applying desired would delete them."""
    return list(_missing_from(live, predicted, (), kind))


def _missing_from(live: Any, predicted: Any, path: Path, kind: str) -> Iterator[Path]:
    if isinstance(live, dict) and isinstance(predicted, dict):
        free_form = is_free_form_map(path, kind)
        for name, live_value in live.items():
            if name not in predicted:
                if not is_empty_value(live_value, in_free_form_map=free_form):
                    yield (*path, name)
            else:
                yield from _missing_from(live_value, predicted[name], (*path, name), kind)
    elif isinstance(live, list) and isinstance(predicted, list):
        key_fields = merge_key_fields(path, live)
        predicted_items = items_by_key(predicted, key_fields) if key_fields else {}
        for index, live_item in enumerate(live):
            if key_fields is not None:
                match = predicted_items.get(list_item_key(live_item, key_fields), ABSENT)
            else:
                match = predicted[index] if index < len(predicted) else ABSENT
            if match is ABSENT:
                yield (*path, index)
            else:
                yield from _missing_from(live_item, match, (*path, index), kind)


def owned_fields_missing_from_desired(
    desired: Obj, live: Obj, managed_fields: Sequence[Mapping[str, Any]], field_manager: str
) -> list[Path]:
    """Fallback: fields tether applied earlier (live `managedFields`) that desired dropped."""
    missing = []
    for field_path in managed_field_paths(managed_fields, {field_manager}, operation="Apply"):
        live_path = resolve_field_path(live, field_path)
        if live_path is None or resolve_field_path(desired, field_path) is not None:
            continue
        if not is_empty_value(value_at_path(live, live_path), in_free_form_map=True):
            missing.append(live_path)
    return missing


def value_at_path(obj: Any, path: Path) -> Any:
    for part in path:
        obj = obj[part]
    return obj


def without_descendants(paths: list[Path]) -> list[Path]:
    """Drop paths inside another reported path (a removed list item reports only itself)."""
    reported = set(paths)
    return [
        path for path in paths if not any(path[:length] in reported for length in range(len(path)))
    ]
