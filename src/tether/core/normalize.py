"""Normalization of the known comparison traps, so that objects the server treats as equal
compare equal.

Each rule rewrites both sides of a comparison the same way (desired, live and the dry-run
result), so a rule never hides a real change: it only removes differences of spelling
(`0.5` vs `500m`, `'8080'` vs `8080`, `stringData` vs `data`) and fields that only the
server or a controller writes (`metadata.uid`, `status`, aggregated ClusterRole `rules`).
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from tether.core.paths import Obj
from tether.core.quantity import normalize_quantity
from tether.model.keys import split_api_version

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

# Written by the API server on every object; never part of what tether applies.
SERVER_METADATA_FIELDS = (
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
)

# Maps whose values are free-form strings: an empty string there is a value, not an
# omitted field (a label `tier: ""` is a real label).
FREE_FORM_MAP_FIELDS = frozenset(
    {"labels", "annotations", "data", "binaryData", "stringData", "matchLabels", "nodeSelector"}
)

_WORKLOAD_POD_SPEC_PATHS: tuple[tuple[str, ...], ...] = (
    ("spec", "template", "spec"),  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, ...
    ("spec", "jobTemplate", "spec", "template", "spec"),  # CronJob
    ("template", "spec"),  # PodTemplate
)
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_LIFECYCLE_HANDLERS = ("postStart", "preStop")
_RESOURCE_LIST_FIELDS = ("requests", "limits")
_LIMIT_RANGE_FIELDS = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
_HPA_METRIC_SOURCES = ("resource", "containerResource", "pods", "object", "external")
_HPA_TARGET_QUANTITIES = ("value", "averageValue")


def normalize(obj: Mapping[str, Any], *, compare_status: bool = False) -> Obj:
    """A normalized deep copy of `obj`; the input is not modified."""
    result: Obj = copy.deepcopy(dict(obj))
    kind = str(result.get("kind", ""))
    group, _ = split_api_version(str(result.get("apiVersion", "")))
    if group == "" and kind in _PAYLOAD_MAPS:
        _empty_null_payload_values(result, _PAYLOAD_MAPS[kind])
    _drop_nulls(result)
    _strip_server_fields(result, compare_status=compare_status)
    if group == "" and kind == "Secret":
        _fold_secret_string_data(result)
    _normalize_quantities(result, group, kind)
    _normalize_int_or_string_fields(result, kind)
    if group == "autoscaling" and kind == "HorizontalPodAutoscaler":
        _sort_hpa_metrics(result)
    if group == "rbac.authorization.k8s.io" and kind == "ClusterRole":
        _drop_aggregated_rules(result)
    return result


def is_empty_value(value: object, *, in_free_form_map: bool = False) -> bool:
    """True for values the API server treats as "not set".

    `null`, `{}` and `[]` are always unset; `0`, `false` and `""` are unset too for struct
    fields, because the server drops zero values of `omitempty` fields (a probe's
    `initialDelaySeconds: 0` is stored as nothing). In free-form maps (labels, data...)
    they are real values.
    """
    if value is None or value in ({}, []):
        return True
    if in_free_form_map:
        return False
    return value is False or value == "" or (type(value) in (int, float) and value == 0)


def canonical_int_or_string(value: object) -> object:
    """`'8080'` -> `8080` for an IntOrString field; `'25%'` and `'http'` stay strings."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


def pod_specs(obj: Obj) -> Iterator[Obj]:
    """The pod specs inside a Pod or a workload (including unknown kinds with a pod template)."""
    if obj.get("kind") == "Pod" and isinstance(obj.get("spec"), dict):
        yield obj["spec"]
        return
    for path in _WORKLOAD_POD_SPEC_PATHS:
        spec = _get_in(obj, path)
        if isinstance(spec, dict) and isinstance(spec.get("containers"), list):
            yield spec


# --- payload maps ----------------------------------------------------------------------

# The payload maps of Secret and ConfigMap: a key whose value is `null` is a key with an
# empty value to the API server (Go decodes null into an empty []byte or string), so it
# equals `""` and is not an absent key.
_PAYLOAD_MAPS: dict[str, tuple[str, ...]] = {
    "Secret": ("data", "stringData"),
    "ConfigMap": ("data", "binaryData"),
}


def _empty_null_payload_values(obj: Obj, fields: tuple[str, ...]) -> None:
    for field in fields:
        payload = obj.get(field)
        if isinstance(payload, dict):
            for key, value in payload.items():
                if value is None:
                    payload[key] = ""


# --- server-written fields ------------------------------------------------------------


def _drop_nulls(node: Any) -> None:
    """`null` in a manifest means "not set": remove it so it equals an absent field."""
    if isinstance(node, dict):
        for key in [key for key, value in node.items() if value is None]:
            del node[key]
        for value in node.values():
            _drop_nulls(value)
    elif isinstance(node, list):
        for item in node:
            _drop_nulls(item)


def _strip_server_fields(obj: Obj, *, compare_status: bool) -> None:
    if not compare_status:
        obj.pop("status", None)
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return
    for field in SERVER_METADATA_FIELDS:
        metadata.pop(field, None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        # Holds a full copy of the object (Secret values included) as applied by kubectl.
        annotations.pop(LAST_APPLIED_ANNOTATION, None)


def _drop_aggregated_rules(cluster_role: Obj) -> None:
    """An aggregated ClusterRole's `rules` are written by the controller, not by the user."""
    if cluster_role.get("aggregationRule"):
        cluster_role.pop("rules", None)


# --- Secret ----------------------------------------------------------------------------


def secret_data(secret: Mapping[str, Any]) -> dict[str, Any]:
    """A Secret's payload as the server would store it: `stringData` folded into `data`."""
    folded: Obj = {key: secret[key] for key in ("data", "stringData") if key in secret}
    _fold_secret_string_data(folded)
    data = folded.get("data")
    return dict(data) if isinstance(data, dict) else {}


def _fold_secret_string_data(secret: Obj) -> None:
    """Merge `stringData` into base64 `data`, as the API server does on write.

    A `stringData` key replaces a `data` key of the same name. Existing `data` values are
    re-encoded in the padded standard alphabet, the form the server returns.
    """
    data = secret.get("data")
    folded: dict[str, Any] = dict(data) if isinstance(data, dict) else {}
    for key, value in folded.items():
        folded[key] = _canonical_base64(value)
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict):
        for key, value in string_data.items():
            folded[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
    if folded or "data" in secret:
        secret["data"] = folded


def _canonical_base64(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        # The server decodes leniently (line breaks allowed) and always re-encodes padded.
        decoded = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return value  # not base64: the server will reject it, leave the text as written
    return base64.b64encode(decoded).decode("ascii")


# --- quantities ------------------------------------------------------------------------


def _normalize_quantities(obj: Obj, group: str, kind: str) -> None:
    for pod_spec in pod_specs(obj):
        _normalize_pod_spec_quantities(pod_spec)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if group == "apps" and kind == "StatefulSet":
        for template in _dicts(spec.get("volumeClaimTemplates")):
            _normalize_resource_requirements(_get_in(template, ("spec", "resources")))
    if group != "":
        if group == "autoscaling" and kind == "HorizontalPodAutoscaler":
            _normalize_hpa_quantities(spec)
        return
    if kind == "PersistentVolumeClaim":
        _normalize_resource_requirements(spec.get("resources"))
    elif kind == "PersistentVolume":
        _normalize_quantity_map(spec.get("capacity"))
    elif kind == "ResourceQuota":
        _normalize_quantity_map(spec.get("hard"))
    elif kind == "LimitRange":
        for limit in _dicts(spec.get("limits")):
            for field in _LIMIT_RANGE_FIELDS:
                _normalize_quantity_map(limit.get(field))
    status = obj.get("status")
    if isinstance(status, dict):  # only present when status is compared
        for field in ("capacity", "allocatedResources", "hard", "used"):
            _normalize_quantity_map(status.get(field))


def _normalize_pod_spec_quantities(spec: Obj) -> None:
    for container in _containers(spec):
        _normalize_resource_requirements(container.get("resources"))
    _normalize_resource_requirements(spec.get("resources"))  # pod-level resources
    _normalize_quantity_map(spec.get("overhead"))
    for volume in _dicts(spec.get("volumes")):
        empty_dir = volume.get("emptyDir")
        if isinstance(empty_dir, dict) and "sizeLimit" in empty_dir:
            empty_dir["sizeLimit"] = normalize_quantity(empty_dir["sizeLimit"])
        claim_spec = _get_in(volume, ("ephemeral", "volumeClaimTemplate", "spec"))
        if isinstance(claim_spec, dict):
            _normalize_resource_requirements(claim_spec.get("resources"))


def _normalize_resource_requirements(resources: object) -> None:
    if isinstance(resources, dict):
        for field in _RESOURCE_LIST_FIELDS:
            _normalize_quantity_map(resources.get(field))


def _normalize_quantity_map(quantities: object) -> None:
    if isinstance(quantities, dict):
        for name, value in quantities.items():
            quantities[name] = normalize_quantity(value)


def _normalize_hpa_quantities(spec: Obj) -> None:
    for metric in _dicts(spec.get("metrics")):
        for source in _HPA_METRIC_SOURCES:
            target = _get_in(metric, (source, "target"))
            if isinstance(target, dict):
                for field in _HPA_TARGET_QUANTITIES:
                    if field in target:
                        target[field] = normalize_quantity(target[field])


# --- IntOrString -------------------------------------------------------------------------


def _normalize_int_or_string_fields(obj: Obj, kind: str) -> None:
    for pod_spec in pod_specs(obj):
        for container in _containers(pod_spec):
            _normalize_container_ports(container)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if kind == "Service":
        for port in _dicts(spec.get("ports")):
            _canonicalize_field(port, "targetPort")
    elif kind == "NetworkPolicy":
        for rule in [*_dicts(spec.get("ingress")), *_dicts(spec.get("egress"))]:
            for port in _dicts(rule.get("ports")):
                _canonicalize_field(port, "port")
    elif kind == "PodDisruptionBudget":
        _canonicalize_field(spec, "minAvailable")
        _canonicalize_field(spec, "maxUnavailable")
    for strategy_field in ("strategy", "updateStrategy"):  # Deployment / DaemonSet, StatefulSet
        rolling_update = _get_in(spec, (strategy_field, "rollingUpdate"))
        if isinstance(rolling_update, dict):
            _canonicalize_field(rolling_update, "maxSurge")
            _canonicalize_field(rolling_update, "maxUnavailable")


def _normalize_container_ports(container: Obj) -> None:
    for port in _dicts(container.get("ports")):
        _canonicalize_field(port, "containerPort")
        _canonicalize_field(port, "hostPort")
    handlers = [container.get(probe) for probe in _PROBES]
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        handlers += [lifecycle.get(hook) for hook in _LIFECYCLE_HANDLERS]
    for handler in _dicts(handlers):
        for action in ("httpGet", "tcpSocket"):
            endpoint = handler.get(action)
            if isinstance(endpoint, dict):
                _canonicalize_field(endpoint, "port")


def _canonicalize_field(parent: Obj, field: str) -> None:
    if field in parent:
        parent[field] = canonical_int_or_string(parent[field])


# --- HPA -------------------------------------------------------------------------------


def _sort_hpa_metrics(hpa: Obj) -> None:
    """The HPA controller may reorder `spec.metrics`; the order has no meaning."""
    spec = hpa.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("metrics"), list):
        spec["metrics"] = sorted(spec["metrics"], key=_stable_sort_key)


def _stable_sort_key(item: object) -> bytes:
    return orjson.dumps(item, option=orjson.OPT_SORT_KEYS, default=str)


# --- small helpers -----------------------------------------------------------------------


def _get_in(node: object, path: tuple[str, ...]) -> object:
    for field in path:
        if not isinstance(node, dict):
            return None
        node = node.get(field)
    return node


def _dicts(items: object) -> list[Obj]:
    """The dict items of a list (anything else yields nothing)."""
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


def _containers(spec: Obj) -> Iterator[Obj]:
    for field in _CONTAINER_LISTS:
        yield from _dicts(spec.get(field))
