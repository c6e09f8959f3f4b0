"""Helm with the target cluster's facts, on the real control plane: `.Capabilities`
(KubeVersion, APIVersions, HelmVersion) are the cluster's and helm's real ones, a CRD
installed later changes what the next render gives, and the app's helm options
(kubeVersion, apiVersions, skipCrds, skipTests, namespace) do what Argo CD's do.

Each fixture chart (written here, one trait each) syncs, is Synced+Healthy right after
and after a hard-refresh compare, and a person's `kubectl edit` of one of its objects is
still found as drift.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from tests.support.apps import application
from tests.support.manifests import crd
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import create_app, get_app
from tether.engine.compare import Engine, compare
from tether.engine.facts import ClusterFacts
from tether.engine.sync import SyncRequest, sync_app
from tether.kube import KubeClient
from tether.localcluster import binaries
from tether.model.application import Application
from tether.render import RenderRequest, RenderTools, render

Kubectl = Callable[..., CompletedProcess[str]]

CHART = "apiVersion: v2\nname: {name}\nversion: 0.1.0\n{extra}"
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
{data}
"""


def chart(name: str, templates: dict[str, str], extra: str = "") -> dict[str, str]:
    files = {f"{name}/Chart.yaml": CHART.format(name=name, extra=extra)}
    files |= {f"{name}/{path}": text for path, text in templates.items()}
    return files


async def sync(engine: Engine, app: Application, *, prune: bool = False) -> None:
    result = await sync_app(engine, app, SyncRequest(timeout=90, prune=prune))
    assert result.succeeded, result.message


async def assert_synced_and_healthy(engine: Engine, kube: KubeClient, app: Application) -> None:
    stored = await get_app(kube, app.namespace, app.name)
    assert stored.status is not None
    assert stored.status.sync.status.value == "Synced", [
        (r.kind, r.name, r.status.value, r.drift) for r in stored.status.resources
    ]
    assert stored.status.health.status.value == "Healthy", stored.status.health
    fresh = await compare(engine, stored, hard_refresh=True)
    assert fresh.error is None, fresh.error
    assert fresh.diff is not None
    assert fresh.diff.in_sync, [(str(d.key), d.verdict, d.paths) for d in fresh.diff.out_of_sync]


async def assert_edit_found(
    engine: Engine, app: Application, kubectl: Kubectl, configmap: str, key: str
) -> None:
    """A real `kubectl edit` (the editor is sed) of one data key is drift on that key."""
    namespace = app.spec.destination.namespace
    kubectl(
        "edit",
        "configmap",
        configmap,
        "-n",
        namespace,
        env={"KUBE_EDITOR": f"sed -i -e 's/^  {key}: .*/  {key}: edited-by-hand/'"},
    )

    async def drifted() -> list[tuple[str, list[str]]] | None:
        result = await compare(engine, app, fetch=False)
        assert result.diff is not None
        return [(str(d.key), d.paths) for d in result.diff.out_of_sync] or None

    found = await eventually(drifted, timeout=10, what="the drift")
    assert found == [(f"ConfigMap {namespace}/{configmap}", [f"/data/{key}"])]


async def configmap_data(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    found = await kube.get("v1", "ConfigMap", name, namespace)
    assert found is not None, f"ConfigMap {name} missing"
    return dict(found.get("data") or {})


# ------------------------------------------------------------------ kubeVersion, versions

FACTS_TEMPLATE = CONFIGMAP.format(
    name="facts",
    data="""\
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  helm: {{ .Capabilities.HelmVersion.Version | quote }}
  namespace: {{ .Release.Namespace | quote }}
""",
)


async def test_chart_with_kube_version_constraint_renders_for_the_cluster(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, kubectl: Kubectl
) -> None:
    # helm's own default is v1.20.0, which this constraint refuses (as in issue #12).
    repo.write(
        chart("modern", {"templates/facts.yaml": FACTS_TEMPLATE}, 'kubeVersion: ">=1.30.0-0"\n')
    )
    repo.commit("a chart for Kubernetes >= 1.30")
    app = application("modern", namespace, repo.url, "modern", source={"helm": {}})
    await create_app(kube, app)
    await sync(engine, app)
    server = str((await kube.version())["gitVersion"])
    data = await configmap_data(kube, namespace, "facts")
    assert data == {"kube": server, "helm": binaries.pinned_versions()["HELM_VERSION"],
                    "namespace": namespace}  # fmt: skip
    await assert_synced_and_healthy(engine, kube, app)
    await assert_edit_found(engine, app, kubectl, "facts", "helm")


async def test_kube_version_and_namespace_overrides(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, kubectl: Kubectl
) -> None:
    repo.write(
        chart("pinned", {"templates/facts.yaml": FACTS_TEMPLATE}, 'kubeVersion: ">=1.30.0-0"\n')
    )
    repo.commit("a chart rendered for another Kubernetes and release namespace")
    helm = {"kubeVersion": "v1.31.4", "namespace": "release-ns"}
    app = application("pinned", namespace, repo.url, "pinned", source={"helm": helm})
    await create_app(kube, app)
    await sync(engine, app)
    data = await configmap_data(kube, namespace, "facts")
    # The object still goes to the destination namespace; only the template sees it.
    assert data["kube"] == "v1.31.4" and data["namespace"] == "release-ns", data
    await assert_synced_and_healthy(engine, kube, app)
    await assert_edit_found(engine, app, kubectl, "facts", "kube")

    too_old = application(
        "too-old", namespace, repo.url, "pinned", source={"helm": {"kubeVersion": "1.29.0"}}
    )
    result = await compare(engine, too_old)
    assert result.error is not None
    assert "incompatible with Kubernetes v1.29.0" in result.error.message, result.error.message
    assert "spec.source.helm.kubeVersion" in (result.error.hint or "")


# --------------------------------------------------------------- .Capabilities.APIVersions

CAPABILITIES_TEMPLATE = """\
{{- if .Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget" }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
{{- else }}
apiVersion: v1
kind: ConfigMap
metadata: {name: no-pdb}
{{- end }}
---
{{- if .Capabilities.APIVersions.Has (printf "%s/v1/Widget" .Values.group) }}
apiVersion: {{ .Values.group }}/v1
kind: Widget
metadata: {name: main}
spec: {size: 3}
{{- else }}
apiVersion: v1
kind: ConfigMap
metadata: {name: widgets-missing}
data: {group: {{ .Values.group | quote }}}
{{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: capabilities}
data:
  gadget: {{ .Capabilities.APIVersions.Has "gadgets.example/v1/Gadget" | quote }}
  apps: {{ .Capabilities.APIVersions.Has "apps/v1" | quote }}
"""


def widget_crd(group: str) -> dict[str, Any]:
    return crd(group, "Widget", "widgets")


@pytest.fixture
async def widget_group(kube: KubeClient) -> AsyncIterator[str]:
    """A CRD group of this test only; its CRD (created by the test) is deleted after."""
    group = f"w{uuid.uuid4().hex[:8]}.fidelity.tether.dev"
    try:
        yield group
    finally:
        await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}")


async def test_chart_branches_on_the_served_api_versions_and_sees_a_new_crd(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Kubectl,
    widget_group: str,
) -> None:
    repo.write(chart("caps", {"templates/all.yaml": CAPABILITIES_TEMPLATE}))
    repo.commit("a chart that branches on .Capabilities.APIVersions")
    helm = {
        "parameters": [{"name": "group", "value": widget_group}],
        "apiVersions": ["gadgets.example/v1/Gadget"],
    }
    app = application("caps", namespace, repo.url, "caps", source={"helm": helm})
    await create_app(kube, app)
    await sync(engine, app)
    assert await kube.get("policy/v1", "PodDisruptionBudget", "web", namespace) is not None
    assert await kube.get("v1", "ConfigMap", "no-pdb", namespace) is None
    assert await configmap_data(kube, namespace, "widgets-missing") == {"group": widget_group}
    assert await configmap_data(kube, namespace, "capabilities") == {
        "gadget": "true",  # spec.source.helm.apiVersions adds to the served ones
        "apps": "true",
    }
    await assert_synced_and_healthy(engine, kube, app)

    # The CRD appears (installed by someone else): the same commit now renders a Widget.
    await kube.apply(widget_crd(widget_group), field_manager="platform-team")

    async def renders_widget() -> list[str] | None:
        result = await compare(engine, app, fetch=False)
        assert result.error is None, result.error
        kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in result.desired)
        return kinds if "Widget/main" in kinds else None

    kinds = await eventually(renders_widget, timeout=30, what="a render with the new CRD")
    assert "ConfigMap/widgets-missing" not in kinds
    await sync(engine, app, prune=True)
    widget = await kube.get(f"{widget_group}/v1", "Widget", "main", namespace)
    assert widget is not None and widget["spec"] == {"size": 3}
    assert await kube.get("v1", "ConfigMap", "widgets-missing", namespace) is None
    await assert_synced_and_healthy(engine, kube, app)
    await assert_edit_found(engine, app, kubectl, "capabilities", "apps")
    # A hard refresh reads the facts again (a change the watches missed is seen then).
    cached = await settled_facts(engine)
    assert await engine.cluster_facts() is cached
    await compare(engine, app, hard_refresh=True)
    assert await engine.cluster_facts() is not cached


async def settled_facts(engine: Engine) -> ClusterFacts:
    """The cached facts once CRDs of earlier tests stopped changing them."""
    first = await engine.cluster_facts()
    for _ in range(30):
        await asyncio.sleep(0.5)
        settled = await engine.cluster_facts()
        if settled is first:
            break
        first = settled
    return first


async def test_cluster_facts_are_cached_and_follow_crds(
    engine: Engine, kube: KubeClient, widget_group: str
) -> None:
    started = time.perf_counter()
    first = await engine.cluster_facts()
    discovered = time.perf_counter() - started
    assert first.kube_version == (await kube.version())["gitVersion"]
    assert {"v1", "v1/ConfigMap", "apps/v1/Deployment", "policy/v1/PodDisruptionBudget"} <= set(
        first.api_versions
    )
    # CRDs of earlier tests may still be going away: each such event refreshes the facts
    # (as it should). Once nothing changes, the facts are served from the cache.
    first = await settled_facts(engine)
    started = time.perf_counter()
    assert await engine.cluster_facts() is first  # no discovery while nothing changed
    cached = time.perf_counter() - started
    print(
        f"\nmeasure: cluster facts ({len(first.api_versions)} api versions): discovery "
        f"{discovered * 1000:.0f} ms (and the CRD/APIService watches), cached {cached * 1e6:.0f} us"
    )
    await kube.apply(widget_crd(widget_group), field_manager="platform-team")

    async def refreshed() -> bool:
        facts = await engine.cluster_facts()
        return f"{widget_group}/v1/Widget" in facts.api_versions

    await eventually(refreshed, timeout=30, what="the facts to list the new CRD")
    await kube.delete(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{widget_group}"
    )

    async def forgotten() -> bool:
        facts = await engine.cluster_facts()
        return f"{widget_group}/v1" not in facts.api_versions

    await eventually(forgotten, timeout=30, what="the facts to drop the deleted CRD")


# ---------------------------------------------------------------------- skipTests, skipCrds

TEST_HOOK = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test-connection
  annotations: {"helm.sh/hook": test}
spec:
  restartPolicy: Never
  containers: [{name: wget, image: busybox, command: [wget, "web:80"]}]
"""
CRD_FILE = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.skipcrds.tether.dev}
spec:
  group: skipcrds.tether.dev
  scope: Namespaced
  names: {plural: gizmos, singular: gizmo, kind: Gizmo}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


@pytest.fixture(scope="module")
def tools() -> RenderTools:
    binaries.binary("helm")
    return RenderTools.from_dir(binaries.bin_dir())


async def rendered_names(root: Path, tools: RenderTools, **request: Any) -> list[str]:
    objects = await render(RenderRequest(root=root, app_name="web", path="chart", **request), tools)
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)


async def test_skip_tests_and_skip_crds_shape_the_render(
    tmp_path: Path, tools: RenderTools
) -> None:
    files = chart(
        "chart",
        {
            "templates/cm.yaml": CONFIGMAP.format(name="web", data="  key: value"),
            "templates/tests/test-connection.yaml": TEST_HOOK,
            "crds/gizmos.yaml": CRD_FILE,
        },
    )
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    default = ["ConfigMap/web", "CustomResourceDefinition/gizmos.skipcrds.tether.dev"]
    assert await rendered_names(tmp_path, tools) == default
    with_tests = await rendered_names(tmp_path, tools, helm_skip_tests=False)
    assert with_tests == sorted([*default, "Pod/web-test-connection"])
    assert await rendered_names(tmp_path, tools, helm_skip_crds=True) == ["ConfigMap/web"]


async def test_chart_with_test_hook_and_crds_skipped_syncs(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, kubectl: Kubectl
) -> None:
    # With the default project (no cluster-scoped kinds): skipCrds leaves the CRD out,
    # and the test hook is never rendered, so it is neither applied nor compared.
    repo.write(
        chart(
            "tested",
            {
                "templates/cm.yaml": CONFIGMAP.format(name="web", data="  key: value"),
                "templates/tests/test-connection.yaml": TEST_HOOK,
                "crds/gizmos.yaml": CRD_FILE,
            },
        )
    )
    repo.commit("a chart with a test hook and a CRD")
    app = application("tested", namespace, repo.url, "tested", source={"helm": {"skipCrds": True}})
    await create_app(kube, app)
    result = await compare(engine, app)
    assert result.error is None, result.error
    assert [f"{o['kind']}/{o['metadata']['name']}" for o in result.desired] == ["ConfigMap/web"]
    await sync(engine, app)
    assert await kube.get("v1", "Pod", "tested-test-connection", namespace) is None
    await assert_synced_and_healthy(engine, kube, app)
    await assert_edit_found(engine, app, kubectl, "web", "key")
