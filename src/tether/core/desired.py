"""Turn rendered manifests into the objects tether would apply (pure).

Namespaced objects without a namespace get the destination namespace; cluster-scoped
objects lose a namespace they should not have; every object is stamped with the
tracking annotation that names its app and describes the object itself.

Charts render `labels: null` / `annotations: null` (an empty `with` block): such a map
declares nothing and is dropped. Malformed metadata is an InputError naming the object.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tether.core.plan import generate_name_of, is_hook, object_key
from tether.errors import InputError
from tether.model.application import TRACKING_ANNOTATION, tracking_id
from tether.model.keys import printable, split_api_version

# (group, kind) -> namespaced?  None when the kind is unknown to the cluster.
ScopeLookup = Callable[[str, str], bool | None]


def crd_scopes(objects: Sequence[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """Scopes declared by CRDs inside the same render (their kinds are not served yet)."""
    scopes: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec")
        names = spec.get("names") if isinstance(spec, dict) else None
        kind = names.get("kind") if isinstance(names, dict) else None
        if kind and isinstance(spec, dict):
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
        meta = _metadata(obj, kind)
        label = printable(f"{kind} {describe_name(meta)}")
        namespaced = scope(group, kind)
        if namespaced is None:
            namespaced = declared.get((group, kind))
        if namespaced is None:
            raise InputError(
                f"{label}: the cluster does not serve"
                f" kind {kind} in {obj.get('apiVersion')} and no CRD in the app declares it",
                hint=_unserved_hint(group, kind),
            )
        if not meta.get("name") and (generate_name_of(obj) is None or not is_hook(obj)):
            raise InputError(
                f"{label}: metadata.name is missing"
                + (
                    " (metadata.generateName is only allowed for hooks)"
                    if "generateName" in meta
                    else ""
                ),
                hint="set metadata.name",
            )
        if namespaced:
            if not meta.get("namespace"):
                if not destination_namespace:
                    raise InputError(
                        f"{label}: namespaced but neither the manifest"
                        " nor spec.destination.namespace names a namespace"
                    )
                meta["namespace"] = destination_namespace
        else:
            meta.pop("namespace", None)
        # A generateName hook's id is settled when a sync creates it under its real name.
        key = object_key(obj)
        annotations = meta.setdefault("annotations", {})
        annotations[TRACKING_ANNOTATION] = tracking_id(
            app_namespace, app_name, key.group, key.kind, key.namespace, key.name
        )
        prepared.append(obj)
    return prepared


def without_tracking_id(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as a detect-only app compares it with a live object another tool manages:
    without tether's tracking id (it would be drift on every such object)."""
    metadata = dict(obj.get("metadata") or {})
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if k != TRACKING_ANNOTATION
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return {**obj, "metadata": metadata}


def describe_name(metadata: Mapping[str, Any]) -> str:
    """The name for messages: `ns/name`, `ns/prefix*` for a generateName, `(no name)`."""
    name = metadata.get("name")
    prefix = metadata.get("generateName")
    if name:
        shown = str(name)
    elif isinstance(prefix, str) and prefix:
        shown = f"{prefix}*"
    else:
        shown = "(no name)"
    namespace = metadata.get("namespace")
    return f"{namespace}/{shown}" if isinstance(namespace, str) and namespace else shown


def _metadata(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """`obj`'s metadata, made a map with map-valued labels and annotations (or none)."""
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise InputError(f"{kind or 'object'}: metadata must be a map, got {_shape(meta)}")
    for field in ("name", "generateName", "namespace"):
        if field in meta and meta[field] is None:
            del meta[field]  # `name: null` beside a generateName: no name (not "None")
        elif field in meta and not isinstance(meta[field], str):
            raise InputError(
                f"{kind or 'object'}: metadata.{field} must be a string, got {_shape(meta[field])}"
            )
        elif field in ("name", "namespace") and _not_a_path_segment(meta.get(field)):
            # A path segment of the API (the server refuses these), and '/' would make the
            # tracking id ambiguous: the object could never be recognised as ours again.
            raise InputError(
                f"{kind or 'object'}: metadata.{field} {printable(str(meta[field]))!r} may not"
                " contain '/' or be '.' or '..'"
            )
    for field in ("labels", "annotations"):
        value = meta.get(field, {})
        if value is None:
            del meta[field]  # `labels:` with nothing under it declares no labels
        elif not isinstance(value, dict):
            raise InputError(
                f"{kind} {describe_name(meta)}: metadata.{field} must be a map, got {_shape(value)}"
            )
    return meta


def _not_a_path_segment(value: Any) -> bool:
    return isinstance(value, str) and ("/" in value or value in (".", ".."))


def _shape(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _unserved_hint(group: str, kind: str) -> str:
    if group == "argoproj.io" and kind in ("Application", "ApplicationSet", "AppProject"):
        return (
            f"this is an Argo CD {kind}: tether reads tether.dev/v1alpha1 Applications and"
            " Projects (same field names; set apiVersion: tether.dev/v1alpha1, and"
            " destination.namespace instead of destination.server)"
        )
    return "install its CustomResourceDefinition first (or add it to the app)"
