"""The in-cluster install as data: the shipped manifests, moved to a namespace and an image.

Pure: the manifests come in as text (the engine reads the packaged copies of `deploy/`),
the objects to apply go out as plain dicts. The Application CRD is not among them; the
engine installs it first and waits until it is Established.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from tether.errors import InputError
from tether.model.application import DEFAULT_APP_NAMESPACE

DEFAULT_NAMESPACE = DEFAULT_APP_NAMESPACE  # the namespace the shipped manifests name
DEFAULT_IMAGE = "ghcr.io/tether-dev/tether:latest"  # the image placeholder they carry
CONTROLLER_NAME = "tether-controller"  # Deployment, Service, ServiceAccount, (Cluster)Role
APPLY_ROLE_NAME = "tether-controller-apply"  # the ClusterRole for what apps deploy
# The files under deploy/ (and their packaged copies), in the order they are applied.
MANIFEST_FILES = ("namespace.yaml", "rbac.yaml", "controller.yaml")

CLUSTER_SCOPED_KINDS = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
)
_RENAMED_PER_NAMESPACE = frozenset({"ClusterRole", "ClusterRoleBinding"})
_POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_MAX = 63
# An image reference as distribution/reference reads one: [registry[:port]/]path[:tag][@digest].
_DOMAIN = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
)
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"^(?:{_DOMAIN}(?::[0-9]+)?/)?{_PATH}(?:/{_PATH})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def validate_namespace(namespace: str) -> str:
    if len(namespace) > _DNS_LABEL_MAX or not _DNS_LABEL.match(namespace):
        raise InputError(
            f"--namespace {namespace!r} is not a valid namespace name",
            hint="lowercase letters, digits and '-', at most 63 characters",
        )
    return namespace


def validate_image(image: str) -> str:
    if not _IMAGE.match(image):
        raise InputError(
            f"--image {image!r} is not a valid image reference",
            hint="for example ghcr.io/tether-dev/tether:v0.1.0",
        )
    return image


def parse_manifests(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML text (empty documents skipped)."""
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        raise InputError(f"install manifests: {exc}") from exc
    objects: list[dict[str, Any]] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
            raise InputError("install manifests: every document must be a Kubernetes object")
        objects.append(doc)
    return objects


def cluster_scoped_name(name: str, namespace: str) -> str:
    """The name of a ClusterRole/ClusterRoleBinding of the install into `namespace`.

    The shipped names for tether-system; `NAME-NAMESPACE` for any other namespace, so that
    installs into several namespaces do not take over each other's cluster-wide objects.
    """
    return name if namespace == DEFAULT_NAMESPACE else f"{name}-{namespace}"


def install_objects(
    texts: Sequence[str], *, namespace: str = DEFAULT_NAMESPACE, image: str | None = None
) -> list[dict[str, Any]]:
    """The objects `tether install` applies, in order, for `namespace` and `image`.

    `texts` are the shipped manifests (MANIFEST_FILES, in that order). Namespaced objects
    move to `namespace`, the Namespace object is renamed to it, ServiceAccount subjects
    follow, cluster-scoped RBAC objects get per-namespace names (see cluster_scoped_name),
    and containers that use the image placeholder get `image`.
    """
    validate_namespace(namespace)
    if image is not None:
        validate_image(image)
    objects = [copy.deepcopy(obj) for text in texts for obj in parse_manifests(text)]
    cluster_roles = {obj["metadata"]["name"] for obj in objects if obj.get("kind") == "ClusterRole"}
    for obj in objects:
        kind = obj["kind"]
        meta = obj.setdefault("metadata", {})
        if kind == "Namespace":
            meta["name"] = namespace
        elif kind in _RENAMED_PER_NAMESPACE:
            meta["name"] = cluster_scoped_name(meta["name"], namespace)
        elif kind not in CLUSTER_SCOPED_KINDS:
            meta["namespace"] = namespace
        ref = obj.get("roleRef")
        if (
            isinstance(ref, dict)
            and ref.get("kind") == "ClusterRole"
            and ref.get("name") in cluster_roles
        ):
            ref["name"] = cluster_scoped_name(ref["name"], namespace)
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
        if image is not None and kind in _POD_TEMPLATE_KINDS:
            for container in _containers(obj):
                if container.get("image") == DEFAULT_IMAGE:
                    container["image"] = image
    return objects


def _containers(obj: dict[str, Any]) -> Iterable[dict[str, Any]]:
    pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for field in ("initContainers", "containers"):
        yield from pod.get(field) or []


def controller_image(objects: Iterable[dict[str, Any]]) -> str | None:
    """The image of the controller Deployment among `objects` (None when there is none)."""
    for obj in objects:
        if obj.get("kind") == "Deployment" and obj["metadata"].get("name") == CONTROLLER_NAME:
            for container in _containers(obj):
                image = container.get("image")
                return str(image) if image else None
    return None
