"""Manifests tests build, one builder per kind shared by every test that needs it."""

from __future__ import annotations

from typing import Any

import yaml

ANY_OBJECT: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def crd(
    group: str,
    kind: str,
    plural: str,
    *,
    schema: dict[str, Any] | None = None,
    status_subresource: bool = False,
) -> dict[str, Any]:
    """A namespaced CRD served at v1; its schema keeps any field unless `schema` is given."""
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema or ANY_OBJECT},
    }
    if status_subresource:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [version],
        },
    }


def _metadata(
    name: str,
    namespace: str | None,
    labels: dict[str, str] | None,
    annotations: dict[str, str] | None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def configmap(
    name: str,
    data: dict[str, str] | None = None,
    *,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A ConfigMap; `data` left out when None (an empty dict is kept)."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(name, namespace, labels, annotations),
    }
    if data is not None:
        obj["data"] = dict(data)
    return obj


def deployment(
    name: str,
    *,
    namespace: str | None = None,
    replicas: int = 1,
    image: str = "nginx:1.27",
    container: str = "app",
    containers: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Deployment selecting `app: NAME`, one container unless `containers` is given;
    other keywords are extra `spec` fields."""
    selector = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, namespace, labels, annotations),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": dict(selector)},
                "spec": {"containers": containers or [{"name": container, "image": image}]},
            },
            **spec,
        },
    }


def as_yaml(*objects: dict[str, Any]) -> str:
    """The objects as one YAML stream, as a repository file holds them."""
    return "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in objects)
