"""Recovery hazards in a GitOps repository (pure): what would stop a rebuild from Git.

Input: the objects found in the repository with the file each came from. Output: one
finding per hazard, each a line a person can act on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.core.plan import wave_of
from tether.model.keys import split_api_version
from tether.model.names import is_application_manifest

# Groups served by every cluster: their kinds need no CRD in the repository.
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io", "coordination.k8s.io",
    "scheduling.k8s.io", "node.k8s.io", "discovery.k8s.io", "certificates.k8s.io",
    "apiregistration.k8s.io", "flowcontrol.apiserver.k8s.io", "events.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io", "resource.k8s.io", "tether.dev",
})  # fmt: skip
CLUSTER_SPECIFIC_FIELDS = (
    ("Service", ("spec", "clusterIP")),
    ("Service", ("spec", "loadBalancerIP")),
    ("Pod", ("spec", "nodeName")),
    ("PersistentVolumeClaim", ("spec", "volumeName")),
)


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    # crd-order, secret-not-in-git, plaintext-secret, unpinned-image, cluster-specific,
    # missing-dependency, malformed-yaml
    hazard: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.hazard}: {self.message}"


SourcedObject = tuple[str, Mapping[str, Any]]  # (file, object)


def check_repository(objects: Sequence[SourcedObject]) -> list[Finding]:
    findings: list[Finding] = []
    findings += _crd_order(objects)
    findings += _secrets(objects)
    findings += _images(objects)
    findings += _cluster_specific(objects)
    findings += _app_dependencies(objects)
    return sorted(set(findings))


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "?")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{name}"


def _crd_order(objects: Sequence[SourcedObject]) -> list[Finding]:
    # CRD key -> (directory of its file, wave). Waves only order objects of one app (one
    # directory); across apps the order comes from dependsOn and the apps' own waves.
    crds: dict[tuple[str, str], tuple[str, int]] = {}
    for file, obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            crds[(str(spec.get("group", "")), str(kind))] = (_directory(file), wave_of(obj))
    out = []
    for file, obj in objects:
        group, _ = split_api_version(str(obj.get("apiVersion", "")))
        if group in BUILTIN_GROUPS:
            continue
        key = (group, str(obj.get("kind")))
        if key not in crds:
            out.append(
                Finding(
                    file,
                    "crd-order",
                    f"{_name(obj)} needs CRD {key[1]}.{group}, which"
                    " is not in the repository (a rebuild cannot create it first)",
                )
            )
        elif crds[key][0] == _directory(file) and crds[key][1] >= wave_of(obj):
            out.append(
                Finding(
                    file,
                    "crd-order",
                    f"{_name(obj)} is in sync-wave {wave_of(obj)}, not after its CRD"
                    f" (wave {crds[key][1]}): give the CRD a lower wave",
                )
            )
    return out


def _directory(file: str) -> str:
    return file.rpartition("/")[0]


def _is_sops(obj: Mapping[str, Any]) -> bool:
    sops = obj.get("sops")
    return isinstance(sops, Mapping) and "mac" in sops


def _secret_refs(obj: Mapping[str, Any]) -> Iterable[str]:
    """Names of Secrets a workload reads (env, envFrom, volumes, imagePullSecrets)."""
    spec = obj.get("spec") or {}
    template = ((spec.get("jobTemplate") or {}).get("spec") or spec).get("template") or {}
    pod = template.get("spec") or (spec if obj.get("kind") == "Pod" else {})
    for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
        for env in container.get("env") or []:
            ref = ((env.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
            if ref:
                yield str(ref)
        for source in container.get("envFrom") or []:
            ref = (source.get("secretRef") or {}).get("name")
            if ref:
                yield str(ref)
    for volume in pod.get("volumes") or []:
        ref = (volume.get("secret") or {}).get("secretName")
        if ref:
            yield str(ref)
    for pull in pod.get("imagePullSecrets") or []:
        if pull.get("name"):
            yield str(pull["name"])


def _secrets(objects: Sequence[SourcedObject]) -> list[Finding]:
    present = {
        str((obj.get("metadata") or {}).get("name"))
        for _, obj in objects
        if obj.get("kind") in ("Secret", "SealedSecret", "ExternalSecret")
    }
    out = []
    for file, obj in objects:
        if (
            obj.get("kind") == "Secret"
            and not _is_sops(obj)
            and (obj.get("data") or obj.get("stringData"))
        ):
            out.append(
                Finding(
                    file,
                    "plaintext-secret",
                    f"{_name(obj)} is stored unencrypted in Git"
                    " (encrypt it with SOPS so the rebuild is safe to share)",
                )
            )
        for ref in sorted(set(_secret_refs(obj))):
            if ref not in present:
                out.append(
                    Finding(
                        file,
                        "secret-not-in-git",
                        f"{_name(obj)} reads Secret {ref},"
                        " which is not in the repository: a rebuild cannot recreate it",
                    )
                )
    return out


def _images(objects: Sequence[SourcedObject]) -> list[Finding]:
    out = []
    for file, obj in objects:
        spec = obj.get("spec") or {}
        template = ((spec.get("jobTemplate") or {}).get("spec") or spec).get("template") or {}
        pod = template.get("spec") or (spec if obj.get("kind") == "Pod" else {})
        for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
            image = str(container.get("image") or "")
            if "@sha256:" in image:
                continue
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if not tag or tag == "latest":
                out.append(
                    Finding(
                        file,
                        "unpinned-image",
                        f"{_name(obj)} container"
                        f" {container.get('name')} uses {image or 'no image'}: pin a tag or digest",
                    )
                )
    return out


def _cluster_specific(objects: Sequence[SourcedObject]) -> list[Finding]:
    out = []
    for file, obj in objects:
        for kind, path in CLUSTER_SPECIFIC_FIELDS:
            if obj.get("kind") != kind:
                continue
            node: Any = obj
            for part in path:
                node = node.get(part) if isinstance(node, Mapping) else None
            if node not in (None, "", "None"):
                out.append(
                    Finding(
                        file,
                        "cluster-specific",
                        f"{_name(obj)} sets {'.'.join(path)}:"
                        f" {node} (belongs to one cluster; a new one assigns its own)",
                    )
                )
    return out


def _app_dependencies(objects: Sequence[SourcedObject]) -> list[Finding]:
    apps = [(f, o) for f, o in objects if is_application_manifest(o)]
    if len(apps) < 2:
        return []
    out = []
    for file, obj in apps:
        spec = obj.get("spec") or {}
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        ordered = spec.get("dependsOn") or any(k.endswith("/sync-wave") for k in annotations)
        if not ordered:
            out.append(
                Finding(
                    file,
                    "missing-dependency",
                    f"{_name(obj)} has neither dependsOn nor"
                    " a sync-wave: its place in a rebuild is left to chance",
                )
            )
    return out
