"""Secret values never shown (pure): a Secret's data masked as `***`, a pair of
desired/live copies masked with a per-key changed/unchanged marker, and the
last-applied-configuration annotation (which holds the values too) masked alike."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from tether.core.normalize import (
    LAST_APPLIED_ANNOTATION,
    secret_data,
)
from tether.core.paths import Obj
from tether.model.keys import ResourceKey

SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"


MASK = "***"


MASK_UNCHANGED = "*** (unchanged)"


MASK_CHANGED = "*** (changed)"


def mask_secret(obj: Obj) -> Obj:
    """A copy of a Secret with every `data`/`stringData` value replaced by `***`.

    Other objects are returned as copies, unchanged.
    """
    masked = copy.deepcopy(obj)
    if _is_secret(obj):
        for section in ("data", "stringData"):
            values = masked.get(section)
            if isinstance(values, dict):
                masked[section] = dict.fromkeys(values, MASK)
        _mask_last_applied(masked)
    return masked


def masked_pair(desired: Obj | None, live: Obj | None) -> tuple[Obj | None, Obj | None]:
    """Masked copies of a desired and a live Secret, each value marked changed or unchanged.

    A key whose value is the same on both sides shows `*** (unchanged)` on both; a key whose
    value differs, or that one side lacks, shows `*** (changed)`. Nothing else is revealed
    (not even the length of a value). `stringData` is compared folded into `data`.
    """
    if not any(obj is not None and _is_secret(obj) for obj in (desired, live)):
        return copy.deepcopy(desired), copy.deepcopy(live)
    desired_values = secret_data(desired) if desired is not None else {}
    live_values = secret_data(live) if live is not None else {}

    def marker(secret_key: str) -> str:
        if secret_key in desired_values and secret_key in live_values:
            same = desired_values[secret_key] == live_values[secret_key]
            return MASK_UNCHANGED if same else MASK_CHANGED
        return MASK_CHANGED

    return _mask_with(desired, marker), _mask_with(live, marker)


def _is_secret(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"


def is_secret_key(key: ResourceKey) -> bool:
    return key.kind == "Secret" and key.group == ""


def _mask_with(obj: Obj | None, marker: Callable[[str], str]) -> Obj | None:
    if obj is None:
        return None
    masked = copy.deepcopy(obj)
    for section in ("data", "stringData"):
        values = masked.get(section)
        if isinstance(values, dict):
            masked[section] = {secret_key: marker(secret_key) for secret_key in values}
    _mask_last_applied(masked)
    return masked


def mask_remaining(obj: Obj | None) -> Obj | None:
    """Mask whatever is not masked yet (a defence for hand-built ObjectDiffs)."""
    if obj is None:
        return None
    masked = copy.deepcopy(obj)
    for section in ("data", "stringData"):
        values = masked.get(section)
        if isinstance(values, dict):
            for secret_key, value in values.items():
                if not (isinstance(value, str) and value.startswith(MASK)):
                    values[secret_key] = MASK
    _mask_last_applied(masked)
    return masked


# Private-use characters: they cannot clash with anything a manifest would contain.
DESIRED_TAG = "\ue000desired"


def untag_changed(obj: Obj | None) -> Obj | None:
    """The live side of a Secret diff: a changed value is just `***` there."""
    if obj is None:
        return None
    for section in ("data", "stringData"):
        values = obj.get(section)
        if isinstance(values, dict):
            for secret_key, value in values.items():
                if value == MASK_CHANGED:
                    values[secret_key] = MASK
    return obj


def tag_changed(obj: Obj | None, tag: str) -> Obj | None:
    if obj is None:
        return None
    for section in ("data", "stringData"):
        values = obj.get(section)
        if isinstance(values, dict):
            for secret_key, value in values.items():
                if value == MASK_CHANGED:
                    values[secret_key] = MASK_CHANGED + tag
    return obj


def _mask_last_applied(obj: Obj) -> None:
    # kubectl's last-applied annotation carries the whole Secret, values included.
    annotations = (obj.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED_ANNOTATION in annotations:
        annotations[LAST_APPLIED_ANNOTATION] = MASK
