"""Projects for tests: Projects live in the project namespace (tether-system), and an
app outside it may only use one whose sourceNamespaces name the app's namespace."""

from __future__ import annotations

from typing import Any

from tether.engine.apps import crd_installed, ensure_namespace, install_crd
from tether.kube import KubeClient
from tether.model.application import API_VERSION, FIELD_MANAGER
from tether.model.project import DEFAULT_PROJECT_NAMESPACE, PROJECT_KIND


def project_manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": PROJECT_KIND,
        "metadata": {"name": name, "namespace": DEFAULT_PROJECT_NAMESPACE},
        "spec": spec,
    }


async def create_project(kube: KubeClient, name: str, **spec: Any) -> str:
    """Create (or replace) Project `name` in the project namespace; returns its name."""
    if not await crd_installed(kube):
        await install_crd(kube)
    await ensure_namespace(kube, DEFAULT_PROJECT_NAMESPACE)
    await kube.apply(project_manifest(name, **spec), field_manager=FIELD_MANAGER)
    return name


async def permissive_project(kube: KubeClient, namespace: str) -> str:
    """A Project for the apps of a test namespace that allows every repository,
    namespace and kind: for tests about something other than the policy."""
    return await create_project(
        kube,
        f"all-{namespace}"[:63],
        sourceRepos=["*"],
        sourceNamespaces=[namespace],
        destinations=[{"namespace": "*"}],
        clusterResourceWhitelist=[{"group": "*", "kind": "*"}],
    )


async def delete_project(kube: KubeClient, name: str) -> None:
    await kube.delete(API_VERSION, PROJECT_KIND, name, DEFAULT_PROJECT_NAMESPACE)
