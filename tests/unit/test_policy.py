"""Project policy: which apps may use a project, and which objects it allows (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from tether.core.policy import ProjectViolation, app_violations, check_project
from tether.errors import InputError
from tether.model.application import API_VERSION, Application
from tether.model.project import Project

PROJECT_NS = "tether-system"


def app(namespace: str = "tether-system", destination: str = "shop", **spec: Any) -> Application:
    repo = spec.pop("repo", "https://git.example.com/shop/deploy.git")
    return Application.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": "shop", "namespace": namespace},
            "spec": {
                "source": {"repoURL": repo},
                "destination": {"namespace": destination},
                **spec,
            },
        }
    )


def project(**spec: Any) -> Project:
    return Project.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": "Project",
            "metadata": {"name": "payments", "namespace": PROJECT_NS},
            "spec": spec,
        }
    )


def obj(kind: str, name: str, namespace: str | None = None, api: str = "v1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta}


CLUSTER_KINDS = {("", "Namespace"), ("rbac.authorization.k8s.io", "ClusterRoleBinding")}


def scope(group: str, kind: str) -> bool | None:
    return (group, kind) not in CLUSTER_KINDS


def default_for(application: Application) -> Project:
    return Project.builtin_default(
        project_namespace=PROJECT_NS,
        app_namespace=application.namespace,
        destination_namespace=application.spec.destination.namespace,
    )


def test_the_default_project_allows_the_destination_namespace_only() -> None:
    shop = app()
    default = default_for(shop)
    check_project(default, shop, [obj("ConfigMap", "c", "shop")], scope)
    with pytest.raises(ProjectViolation) as caught:
        check_project(default, shop, [obj("ConfigMap", "c", "kube-system")], scope)
    assert str(caught.value) == (
        "Application shop: ConfigMap kube-system/c: namespace kube-system is not a destination"
        " in built-in default project"
    )
    assert "spec.project" in (caught.value.hint or "")


def test_the_default_project_allows_no_cluster_scoped_kind() -> None:
    shop = app()
    binding = obj("ClusterRoleBinding", "own-the-cluster", api="rbac.authorization.k8s.io/v1")
    with pytest.raises(ProjectViolation, match="cluster-scoped kind ClusterRoleBinding"):
        check_project(default_for(shop), shop, [binding], scope)
    with pytest.raises(ProjectViolation, match="cluster-scoped kind Namespace is not allowed"):
        check_project(default_for(shop), shop, [obj("Namespace", "other")], scope)


def test_an_app_outside_the_project_namespace_stays_in_its_own_namespace() -> None:
    # An Application written into namespace `team-a` (say by team-a's own repository)
    # cannot point the default project at kube-system.
    escaping = app(namespace="team-a", destination="kube-system")
    assert app_violations(default_for(escaping), escaping) == [
        "destination namespace kube-system is not one of its destinations"
    ]
    at_home = app(namespace="team-a", destination="team-a")
    assert app_violations(default_for(at_home), at_home) == []
    # In the project namespace (where only operators write), the destination is free.
    admin = app(namespace="tether-system", destination="kube-system")
    assert app_violations(default_for(admin), admin) == []


def test_a_project_allows_what_it_lists_and_nothing_else() -> None:
    payments = project(
        sourceRepos=["https://git.example.com/shop/*"],
        destinations=[{"namespace": "shop"}, {"namespace": "shop-*"}],
        clusterResourceWhitelist=[{"group": "", "kind": "Namespace"}],
        namespaceResourceBlacklist=[{"group": "", "kind": "ResourceQuota"}],
    )
    shop = app()
    check_project(
        payments, shop, [obj("Namespace", "shop-canary"), obj("Secret", "s", "shop-eu")], scope
    )
    with pytest.raises(ProjectViolation, match="kind ResourceQuota is not allowed"):
        check_project(payments, shop, [obj("ResourceQuota", "q", "shop")], scope)
    binding = obj("ClusterRoleBinding", "b", api="rbac.authorization.k8s.io/v1")
    with pytest.raises(ProjectViolation, match=r"ClusterRoleBinding\.rbac\.authorization\.k8s\.io"):
        check_project(payments, shop, [binding], scope)
    # The same objects without the restrictions: the rules are what refuses them.
    everything = project(
        sourceRepos=["*"],
        destinations=[{"namespace": "*"}],
        clusterResourceWhitelist=[{"group": "*", "kind": "*"}],
    )
    check_project(everything, shop, [obj("ResourceQuota", "q", "shop"), binding], scope)


def test_repositories_and_app_namespaces_must_be_listed() -> None:
    payments = project(
        sourceRepos=["https://git.example.com/payments/*"], destinations=[{"namespace": "*"}]
    )
    assert app_violations(payments, app()) == [
        "repository https://git.example.com/shop/deploy.git is not in its sourceRepos"
    ]
    # Credentials in the URL neither help nor hurt the match, and are never shown.
    secret = app(repo="https://bot:s3cr3t@git.example.com/payments/deploy.git")
    assert app_violations(payments, secret) == []
    outsider = app(namespace="team-b", repo="https://git.example.com/payments/x.git")
    problems = app_violations(payments, outsider)
    assert problems == [
        "Applications in namespace team-b may not use it (not in its sourceNamespaces)"
    ]
    with_ns = project(
        sourceRepos=["*"], sourceNamespaces=["team-*"], destinations=[{"namespace": "*"}]
    )
    assert app_violations(with_ns, outsider) == []


def test_many_violations_are_counted_not_listed() -> None:
    shop = app()
    objects = [obj("ConfigMap", f"c{i}", "elsewhere") for i in range(5)]
    with pytest.raises(ProjectViolation, match=r"\(and 2 more\) in built-in default project"):
        check_project(default_for(shop), shop, objects, scope)


def test_a_malformed_project_is_one_clear_error() -> None:
    with pytest.raises(InputError) as caught:
        project(destinations=[{}], sourceRepo=["*"])
    assert str(caught.value) == (
        "Project tether-system/payments: spec.sourceRepo is not a known field (did you mean"
        " sourceRepos?); spec.destinations[0].namespace is required"
    )
