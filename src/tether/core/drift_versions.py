"""API version skew (pure): a manifest written in a removed or other API version, and the
fields a write through another version of the same kind owns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tether.core.ignore import (
    FieldName,
    FieldPath,
)
from tether.core.paths import Obj

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


def top_level_fields(fields: Mapping[str, Any]) -> set[str]:
    return {name[2:] for name in fields if name.startswith("f:")}


def leading_names(field_path: FieldPath, depth: int) -> tuple[str, ...]:
    """The first `depth` field names of a `fieldsV1` path (up to its first list item)."""
    names: list[str] = []
    for segment in field_path[:depth]:
        if not isinstance(segment, FieldName):
            break
        names.append(segment.name)
    return tuple(names)
