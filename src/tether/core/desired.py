"""Turn rendered manifests into the objects tether would apply (pure).

Namespaced objects without a namespace get the destination namespace; cluster-scoped
objects lose a namespace they should not have; every object is stamped with the
tracking annotation that names its app and describes the object itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from tether.errors import InputError
from tether.model.application import TRACKING_ANNOTATION, tracking_id
from tether.model.keys import ResourceKey, split_api_version

# (group, kind) -> namespaced?  None when the kind is unknown to the cluster.
ScopeLookup = Callable[[str, str], bool | None]


def crd_scopes(objects: Sequence[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """Scopes declared by CRDs inside the same render (their kinds are not served yet)."""
    scopes: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        if kind:
            scopes[(str(spec.get("group", "")), str(kind))] = spec.get("scope") != "Cluster"
    return scopes


def prepare_desired(
    objects: Sequence[dict[str, Any]],
    *,
    app_namespace: str,
    app_name: str,
    destination_namespace: str | None,
    scope: ScopeLookup,
) -> list[dict[str, Any]]:
    """Copies of `objects` with namespaces settled and tracking ids set."""
    declared = crd_scopes(objects)
    prepared: list[dict[str, Any]] = []
    for original in objects:
        obj = copy.deepcopy(original)
        group, _ = split_api_version(str(obj.get("apiVersion", "")))
        kind = str(obj.get("kind", ""))
        namespaced = scope(group, kind)
        if namespaced is None:
            namespaced = declared.get((group, kind))
        if namespaced is None:
            raise InputError(
                f"{kind} {obj.get('metadata', {}).get('name')}: the cluster does not serve"
                f" kind {kind} in {obj.get('apiVersion')} and no CRD in the app declares it",
                hint="install its CustomResourceDefinition first (or add it to the app)",
            )
        meta = obj.setdefault("metadata", {})
        if namespaced:
            if not meta.get("namespace"):
                if not destination_namespace:
                    raise InputError(
                        f"{kind} {meta.get('name')}: namespaced but neither the manifest"
                        " nor spec.destination.namespace names a namespace"
                    )
                meta["namespace"] = destination_namespace
        else:
            meta.pop("namespace", None)
        key = ResourceKey.of(obj)
        annotations = meta.setdefault("annotations", {})
        annotations[TRACKING_ANNOTATION] = tracking_id(
            app_namespace, app_name, key.group, key.kind, key.namespace, key.name
        )
        prepared.append(obj)
    return prepared
