"""The target cluster's facts a Helm chart may branch on, as Argo CD passes them to
`helm template`: the server's version (`--kube-version`, `.Capabilities.KubeVersion`)
and every group/version and group/version/Kind it serves (`--api-versions`,
`.Capabilities.APIVersions`).

Read with discovery, once per Engine, and again when the cluster's API changed: the
Engine watches CustomResourceDefinitions and APIServices (when it may) and compares a
fingerprint of them, a local computation, before each render, so a render costs no
discovery round trip, and a CRD that appears is seen by the next render.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.errors import ClusterError
from tether.kube import KubeClient, LiveCache
from tether.model.application import HelmSource
from tether.render import detect_render_kind

log = logging.getLogger(__name__)

CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
API_SERVICE = ("apiregistration.k8s.io/v1", "APIService")
DISCOVERY_KINDS = (CRD, API_SERVICE)


@dataclass(frozen=True)
class ClusterFacts:
    kube_version: str  # the server's gitVersion, e.g. v1.37.2
    api_versions: tuple[str, ...]  # sorted: "v1", "v1/Pod", "apps/v1", "apps/v1/Deployment"

    def api_versions_with(self, extra: Iterable[str]) -> tuple[str, ...]:
        """The served API versions plus an app's own (spec.source.helm.apiVersions)."""
        return tuple(sorted({*self.api_versions, *extra}))


def fingerprint(cache: LiveCache) -> str:
    """A digest of the watched CRDs and APIServices (name and resourceVersion): any
    change to what the cluster serves beyond its built-in APIs changes it."""
    digest = hashlib.sha256()
    for api_version, kind in DISCOVERY_KINDS:
        group = api_version.split("/")[0]
        if not cache.watched(group, kind):
            digest.update(f"{kind} unwatched;".encode())
            continue
        entries = sorted(
            (str(meta.get("name", "")), str(meta.get("resourceVersion", "")))
            for meta in ((o.get("metadata") or {}) for o in cache.objects(group, kind))
        )
        digest.update(f"{kind} {entries};".encode())
    return digest.hexdigest()


async def watch_discovery_kinds(cache: LiveCache) -> None:
    """Watch CRDs and APIServices where tether may; without them the facts are only
    refreshed by age (a narrowed RBAC may forbid reading them)."""

    async def watch(api_version: str, kind: str) -> None:
        try:
            await cache.watch_kind(api_version, kind)
        except ClusterError as exc:
            log.info("cluster facts: not watching %s (%s); refreshed by age only", kind, exc)

    await asyncio.gather(*(watch(a, k) for a, k in DISCOVERY_KINDS))


def _group_versions(core: Mapping[str, Any], groups: Mapping[str, Any]) -> list[str]:
    found = [str(v) for v in core.get("versions") or []]
    for group in groups.get("groups") or []:
        found += [
            str(v["groupVersion"]) for v in group.get("versions") or [] if "groupVersion" in v
        ]
    return found


def _crd_api_versions(crds: Sequence[Mapping[str, Any]]) -> set[str]:
    """The served versions of every Established CRD: discovery may lag a CRD's
    establishment by a moment, the CRD itself says what will be served."""
    found: set[str] = set()
    for crd in crds:
        conditions = (crd.get("status") or {}).get("conditions") or []
        if not any(
            c.get("type") == "Established" and c.get("status") == "True" for c in conditions
        ):
            continue
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            if group and kind and version.get("served") and version.get("name"):
                found |= {f"{group}/{version['name']}", f"{group}/{version['name']}/{kind}"}
    return found


async def discover(kube: KubeClient, crds: Sequence[Mapping[str, Any]] = ()) -> ClusterFacts:
    """Read the facts: /version, /api, /apis and the resources of every group/version.

    A group/version whose resources cannot be read (an aggregated API that is down) is
    listed without its kinds rather than failing every render."""
    version, core, groups = await asyncio.gather(
        kube.version(), kube.request("GET", "/api"), kube.request("GET", "/apis")
    )
    group_versions = _group_versions(core or {}, groups or {})

    async def kinds(group_version: str) -> list[str]:
        path = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
        try:
            doc = await kube.request("GET", path)
        except ClusterError as exc:
            log.info("cluster facts: resources of %s not read (%s)", group_version, exc)
            return []
        return [
            f"{group_version}/{res['kind']}"
            for res in (doc or {}).get("resources") or []
            if "/" not in str(res.get("name", "")) and res.get("kind")
        ]

    listed = await asyncio.gather(*(kinds(gv) for gv in group_versions))
    found = {*group_versions, *(k for ks in listed for k in ks), *_crd_api_versions(crds)}
    return ClusterFacts(
        kube_version=str(version.get("gitVersion") or ""), api_versions=tuple(sorted(found))
    )


def renders_helm(kind: str | None, root: Path, app_path: str) -> bool:
    """Whether the source is a chart (chosen, or detected as the render would)."""
    if kind is not None:
        return kind == "helm"
    return detect_render_kind(root / (app_path.lstrip("/") or ".")) == "helm"


def helm_capabilities(
    facts: ClusterFacts, helm: HelmSource | None
) -> tuple[str | None, tuple[str, ...]]:
    """`--kube-version` and `--api-versions` of one app: the cluster's, the app's
    kubeVersion instead of the server's, its apiVersions beside the served ones."""
    kube_version = (helm.kube_version if helm else None) or facts.kube_version or None
    return kube_version, facts.api_versions_with(helm.api_versions if helm else ())
