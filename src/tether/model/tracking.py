"""Tracking ids: which Application an object belongs to, written on every object
tether applies (`tether.dev/tracking-id`) and read back to decide what is ours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether.errors import InputError
from tether.model.fields import (
    show,
)
from tether.model.keys import ResourceKey
from tether.model.names import TRACKING_ANNOTATION

# ----------------------------------------------------------------------- tracking ids


@dataclass(frozen=True)
class TrackingId:
    """`<app-ns>/<app-name>:<group>/<kind>:<ns>/<name>`: which application manages an
    object, and which object the annotation was written for. The second half matters:
    an annotation copied onto another object (kubectl get -o yaml | edit | apply) must
    not make that object prunable."""

    app_namespace: str
    app_name: str
    group: str
    kind: str
    namespace: str
    name: str

    @property
    def resource_key(self) -> ResourceKey:
        return ResourceKey(self.group, self.kind, self.namespace, self.name)

    def describes(self, obj: Mapping[str, Any]) -> bool:
        """True when the id names `obj` itself (cluster-scoped: empty namespace)."""
        return ResourceKey.of(dict(obj)) == self.resource_key

    def belongs_to(self, app_namespace: str, app_name: str) -> bool:
        return (self.app_namespace, self.app_name) == (app_namespace, app_name)

    def __str__(self) -> str:
        return tracking_id(
            self.app_namespace, self.app_name, self.group, self.kind, self.namespace, self.name
        )


def tracking_id(
    app_namespace: str, app_name: str, group: str, kind: str, ns: str, name: str
) -> str:
    """The tracking annotation value. The core group and cluster scope are empty strings:
    `tether-system/web:/ConfigMap:prod/cfg`,
    `tether-system/web:rbac.authorization.k8s.io/ClusterRole:/view`."""
    return f"{app_namespace}/{app_name}:{group}/{kind}:{ns}/{name}"


def parse_tracking_id(value: str) -> TrackingId:
    """Inverse of `tracking_id`; InputError when `value` is not one. Namespaces, groups,
    kinds and app names never contain ':' or '/', and object names never '/'; an object
    name may contain ':' (RBAC names such as `cert-manager-webhook:subjectaccessreviews`),
    so only the first two ':' separate."""
    parts = value.split(":", 2)
    if len(parts) == 3:
        app, group_kind, object_ref = (part.split("/") for part in parts)
        if len(app) == 2 and len(group_kind) == 2 and len(object_ref) == 2:
            (app_namespace, app_name), (group, kind), (namespace, name) = (
                app,
                group_kind,
                object_ref,
            )
            if app_namespace and app_name and kind and name:
                return TrackingId(app_namespace, app_name, group, kind, namespace, name)
    raise InputError(
        f"invalid tracking id {show(value)}: "
        "expected <app-ns>/<app-name>:<group>/<kind>:<ns>/<name>"
    )


def tracking_id_of(obj: Mapping[str, Any]) -> TrackingId | None:
    """The tracking id of a live object, or None when the object is not tether's: no
    annotation, a malformed one, or one that describes some other object."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(TRACKING_ANNOTATION)
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_tracking_id(value)
    except InputError:
        return None
    return parsed if parsed.describes(obj) else None


def is_managed_by(obj: Mapping[str, Any], app_namespace: str, app_name: str) -> bool:
    """Whether `obj` belongs to the application (the only objects it may ever prune)."""
    parsed = tracking_id_of(obj)
    return parsed is not None and parsed.belongs_to(app_namespace, app_name)


__all__ = [
    "TrackingId",
    "is_managed_by",
    "parse_tracking_id",
    "tracking_id",
    "tracking_id_of",
]
