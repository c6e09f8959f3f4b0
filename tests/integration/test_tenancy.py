"""Tenancy against the real control plane: an app's repository cannot reach beyond what
its Project allows, cannot take over objects tether did not create, and with a
ServiceAccount every write is bounded by that account's RBAC."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apps import application
from tests.support.cli import assert_one_error_line, tether
from tests.support.projects import create_project, delete_project
from tests.support.repos import GitopsRepo
from tether.core.policy import ProjectViolation
from tether.engine.apps import create_app, get_app
from tether.engine.compare import Engine, compare
from tether.engine.sync import SyncRefused, SyncRequest, sync_app
from tether.errors import InputError
from tether.kube import KubeClient
from tether.model.application import CONDITION_ADOPTION_REQUIRED, CONDITION_PROJECT_VIOLATION


def configmap(name: str, mode: str = "blue", namespace: str | None = None) -> str:
    ns = f"  namespace: {namespace}\n" if namespace else ""
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{ns}data:\n  mode: {mode}\n"
    )


def condition(status: Any, ctype: str) -> Any:
    return next((c for c in (status.conditions if status else ()) if c.type == ctype), None)


@pytest.fixture
async def other_namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A namespace the test app has no business in (standing in for kube-system)."""
    name = f"t-victim-{uuid.uuid4().hex[:6]}"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        await kube.delete("v1", "Namespace", name)


async def test_an_object_in_another_namespace_is_refused_and_nothing_is_applied(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, other_namespace: str
) -> None:
    repo.write(
        {
            "app/mine.yaml": configmap("mine"),
            "app/theirs.yaml": configmap("planted", namespace=other_namespace),
        }
    )
    repo.commit("an app that reaches into another namespace")
    app = application("reach", namespace, repo.url, "app")
    await create_app(kube, app)
    result = await compare(engine, app)
    assert isinstance(result.error, ProjectViolation)
    assert result.status is not None
    found = condition(result.status, CONDITION_PROJECT_VIOLATION)
    assert found is not None
    assert f"ConfigMap {other_namespace}/planted: namespace {other_namespace}" in found.message
    with pytest.raises(ProjectViolation):
        await sync_app(engine, app, SyncRequest())
    # Nothing applied: not the planted object, and not the allowed one either.
    assert await kube.get("v1", "ConfigMap", "planted", other_namespace) is None
    assert await kube.get("v1", "ConfigMap", "mine", namespace) is None


async def test_a_cluster_admin_binding_is_refused(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    name = f"t-own-it-{uuid.uuid4().hex[:6]}"
    repo.write(
        {
            "app/binding.yaml": f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {name}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}
subjects: [{{kind: ServiceAccount, name: default, namespace: {namespace}}}]
"""
        }
    )
    repo.commit("make me cluster-admin")
    app = application("escalate", namespace, repo.url, "app")
    await create_app(kube, app)
    with pytest.raises(ProjectViolation, match="cluster-scoped kind ClusterRoleBinding"):
        await sync_app(engine, app, SyncRequest())
    assert await kube.get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", name) is None


async def test_the_cli_names_the_violation_with_exit_code_2(
    kube: KubeClient, kubeconfig: str, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"app/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: t-rogue}\n"})
    repo.commit("a namespace of its own")
    await create_app(kube, application("rogue", namespace, repo.url, "app"))
    result = tether(kubeconfig, "-n", namespace, "app", "sync", "rogue", cache=tmp_path)
    assert_one_error_line(
        result, 2, "Namespace t-rogue: cluster-scoped kind Namespace is not allowed"
    )
    assert await kube.get("v1", "Namespace", "t-rogue") is None
    listed = tether(kubeconfig, "-n", namespace, "app", "get", "rogue", cache=tmp_path)
    assert CONDITION_PROJECT_VIOLATION in listed.stdout


async def test_existing_objects_are_not_taken_over_without_adopt(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    # Someone else's ConfigMap, created before the app (by kubectl, a chart, a person).
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shared-settings", "namespace": namespace},
            "data": {"mode": "theirs"},
        },
        field_manager="kubectl-client-side-apply",
    )
    repo.write({"app/cm.yaml": configmap("shared-settings", mode="ours")})
    repo.commit("a ConfigMap of the same name")
    app = application("taker", namespace, repo.url, "app")
    await create_app(kube, app)
    result = await compare(engine, app)
    assert result.error is None
    warning = condition(result.status, CONDITION_ADOPTION_REQUIRED)
    assert warning is not None and "was not created by tether" in warning.message
    with pytest.raises(SyncRefused, match=r"not created by tether.*Adopt=true"):
        await sync_app(engine, app, SyncRequest())
    live = await kube.get("v1", "ConfigMap", "shared-settings", namespace)
    assert live is not None and live["data"] == {"mode": "theirs"}  # untouched
    # With the app's explicit consent (Adopt=true) it is taken over.
    adopting = application(
        "taker",
        namespace,
        repo.url,
        "app",
        syncPolicy={"syncOptions": ["Adopt=true"]},
    )
    await create_app(kube, adopting, upsert=True)
    assert (await sync_app(engine, adopting, SyncRequest())).succeeded
    live = await kube.get("v1", "ConfigMap", "shared-settings", namespace)
    assert live is not None and live["data"] == {"mode": "ours"}
    stored = await get_app(kube, namespace, "taker")
    assert condition(stored.status, CONDITION_ADOPTION_REQUIRED) is None


async def test_a_project_bounds_repositories_namespaces_and_kinds(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, other_namespace: str
) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    await create_project(
        kube,
        name,
        sourceRepos=[repo.url],
        sourceNamespaces=[namespace],
        destinations=[{"namespace": namespace}, {"namespace": other_namespace}],
        namespaceResourceBlacklist=[{"group": "", "kind": "ResourceQuota"}],
    )
    try:
        repo.write(
            {
                "app/mine.yaml": configmap("mine"),
                "app/theirs.yaml": configmap("second", namespace=other_namespace),
            }
        )
        repo.commit("two namespaces, both allowed by the project")
        app = application("bounded", namespace, repo.url, "app", project=name)
        await create_app(kube, app)
        assert (await sync_app(engine, app, SyncRequest())).succeeded
        assert await kube.get("v1", "ConfigMap", "second", other_namespace) is not None
        repo.write({"app/quota.yaml": "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\n"})
        repo.commit("a blacklisted kind")
        with pytest.raises(
            ProjectViolation, match=f"kind ResourceQuota is not allowed in project {name}"
        ):
            await sync_app(engine, app, SyncRequest())
        assert await kube.get("v1", "ResourceQuota", "q", namespace) is None
        # Another repository is not in sourceRepos.
        elsewhere = application("elsewhere", namespace, f"{repo.url}-fork", "app", project=name)
        result = await compare(engine, elsewhere)
        assert isinstance(result.error, ProjectViolation)
        assert "is not in its sourceRepos" in str(result.error)
    finally:
        await delete_project(kube, name)


async def test_only_projects_in_the_project_namespace_count(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    # A tenant who can write into its own namespace makes a Project there that allows
    # everything: it is not a Project tether reads.
    await kube.apply(
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Project",
            "metadata": {"name": "anything-goes", "namespace": namespace},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        }
    )
    repo.write({"app/cm.yaml": configmap("c")})
    repo.commit("cm")
    app = application("tenant", namespace, repo.url, "app", project="anything-goes")
    result = await compare(engine, app)
    assert isinstance(result.error, ProjectViolation)
    assert "project anything-goes not found in namespace tether-system" in str(result.error)


async def test_writes_impersonate_the_apps_service_account(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, other_namespace: str
) -> None:
    # The ServiceAccount may edit its own namespace only (the built-in `edit` role).
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": namespace},
        }
    )
    await kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer-edit", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
        }
    )
    name = f"p-{uuid.uuid4().hex[:8]}"
    # The project would allow the other namespace; RBAC of the ServiceAccount does not.
    await create_project(
        kube,
        name,
        sourceRepos=["*"],
        sourceNamespaces=[namespace],
        destinations=[{"namespace": "*"}],
    )
    try:
        repo.write({"app/cm.yaml": configmap("allowed")})
        repo.commit("its own namespace")
        app = application(
            "impersonated", namespace, repo.url, "app", project=name, serviceAccountName="deployer"
        )
        await create_app(kube, app)
        assert (await sync_app(engine, app, SyncRequest())).succeeded
        live = await kube.get("v1", "ConfigMap", "allowed", namespace)
        assert live is not None
        managers = {e["manager"] for e in live["metadata"]["managedFields"]}
        assert "tether" in managers
        far = configmap("far", namespace=other_namespace)
        repo.write({"app/far.yaml": far, "far-only/far.yaml": far})
        repo.commit("reach out")
        with pytest.raises(InputError) as caught:
            await sync_app(engine, app, SyncRequest())
        message = str(caught.value)
        assert "system:serviceaccount:" + namespace + ":deployer" in message
        assert "forbidden" in message.lower()
        assert "(the app's ServiceAccount) may not do this" in (caught.value.hint or "")
        assert await kube.get("v1", "ConfigMap", "far", other_namespace) is None
        # Without the ServiceAccount the same sync (the controller's own rights) succeeds:
        # the impersonation is what refused it.
        plain = application("plain", namespace, repo.url, "far-only", project=name)
        await create_app(kube, plain)
        assert (await sync_app(engine, plain, SyncRequest())).succeeded
        assert await kube.get("v1", "ConfigMap", "far", other_namespace) is not None
    finally:
        await delete_project(kube, name)
