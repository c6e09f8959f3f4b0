"""`tether install` as data: the shipped manifests, their packaged copies, namespace and image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.core.install import (
    APPLY_ROLE_NAME,
    CONTROLLER_NAME,
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    MANIFEST_FILES,
    cluster_scoped_name,
    controller_image,
    install_objects,
    parse_manifests,
    validate_image,
)
from tether.engine.install import install_manifests, packaged_manifest_texts
from tether.errors import InputError
from tether.model.crd import application_crd

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
PACKAGED = REPO_ROOT / "src" / "tether" / "deploy_manifests"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def deploy_texts() -> list[str]:
    return [(DEPLOY / name).read_text(encoding="utf-8") for name in MANIFEST_FILES]


def by_kind_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def rules_of(role: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples a Role/ClusterRole grants."""
    return [
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


# -- the packaged copies never drift from deploy/ ------------------------------------------


def test_packaged_manifests_are_byte_identical_to_deploy() -> None:
    shipped = {p.name for p in DEPLOY.glob("*.yaml")}
    packaged = {p.name for p in PACKAGED.glob("*.yaml")}
    assert shipped == packaged == set(MANIFEST_FILES)
    for name in MANIFEST_FILES:
        assert (PACKAGED / name).read_bytes() == (DEPLOY / name).read_bytes(), name
    assert packaged_manifest_texts() == deploy_texts()


def test_the_crd_comes_from_the_packaged_copy_and_is_applied_first() -> None:
    objects = install_manifests(namespace=DEFAULT_NAMESPACE, image=None)
    assert objects[0] == application_crd()
    assert objects[0] == yaml.safe_load((DEPLOY / "crds" / "application.yaml").read_text())
    assert objects[1] == yaml.safe_load((DEPLOY / "crds" / "project.yaml").read_text())
    assert objects[2] == yaml.safe_load((DEPLOY / "crds" / "provider.yaml").read_text())
    assert objects[3] == yaml.safe_load((DEPLOY / "crds" / "alert.yaml").read_text())
    assert [o["kind"] for o in objects[4:6]] == ["Namespace", "ServiceAccount"]


# -- the shipped manifests -------------------------------------------------------------------


def test_deploy_manifests_are_the_default_install_verbatim() -> None:
    shipped = [o for text in deploy_texts() for o in parse_manifests(text)]
    assert install_objects(deploy_texts()) == shipped
    assert install_objects(deploy_texts(), image=DEFAULT_IMAGE) == shipped
    for obj in shipped:  # `kubectl apply -f deploy/` puts everything into tether-system
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], obj["metadata"]
        else:
            assert obj["metadata"]["namespace"] == DEFAULT_NAMESPACE, obj["metadata"]
    assert controller_image(shipped) == DEFAULT_IMAGE == "ghcr.io/tether-dev/tether:latest"


def test_rbac_is_least_privilege_apart_from_the_apply_role() -> None:
    objects = by_kind_name(install_objects(deploy_texts()))
    cluster = rules_of(objects["ClusterRole", CONTROLLER_NAME])
    assert ("tether.dev", "applications", "watch") in cluster
    assert ("tether.dev", "applications", "delete") not in cluster
    assert {("tether.dev", "applications/status", v) for v in ("update", "patch")} <= set(cluster)
    assert {(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")} <= set(
        cluster
    )
    assert ("", "configmaps", "list") in cluster
    assert not any("*" in triple for triple in cluster)
    assert not any(resource == "secrets" for _, resource, _ in cluster)  # namespaced only

    own = rules_of(objects["Role", CONTROLLER_NAME])
    assert {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")} <= set(own)
    assert ("coordination.k8s.io", "leases", "delete") not in own
    assert {("", "secrets", v) for v in ("get", "list", "watch", "create", "delete")} <= set(own)

    apply = objects["ClusterRole", APPLY_ROLE_NAME]
    assert {(r["apiGroups"][0], r["resources"][0]) for r in apply["rules"]} == {("*", "*")}
    assert {v for _, _, v in rules_of(apply)} == {
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
    }

    for kind, name, ref_kind in [
        ("ClusterRoleBinding", CONTROLLER_NAME, "ClusterRole"),
        ("ClusterRoleBinding", APPLY_ROLE_NAME, "ClusterRole"),
        ("RoleBinding", CONTROLLER_NAME, "Role"),
    ]:
        binding = objects[kind, name]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": ref_kind,
            "name": name,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": CONTROLLER_NAME, "namespace": DEFAULT_NAMESPACE}
        ]


def test_controller_deployment_and_service() -> None:
    objects = by_kind_name(install_objects(deploy_texts()))
    deployment = objects["Deployment", CONTROLLER_NAME]
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == CONTROLLER_NAME
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["args"] == [
        "controller",
        "--metrics-addr",
        "0.0.0.0:8082",
        "--webhook-addr",
        "0.0.0.0:8083",
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8082, "webhook": 8083}
    assert set(container["resources"]) == {"requests", "limits"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    # The cache dir is writable: an emptyDir mounted where TETHER_CACHE_DIR points.
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts[env["TETHER_CACHE_DIR"]]]

    service = objects["Service", CONTROLLER_NAME]
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == ports
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


# -- another namespace, another image ----------------------------------------------------------


def test_install_into_another_namespace_with_another_image() -> None:
    texts = deploy_texts()
    objects = install_objects(texts, namespace="team-a", image="example.invalid/tether:test")
    assert install_objects(texts) == install_objects(deploy_texts())  # the input is not changed
    assert len(objects) == len(install_objects(texts))
    named = by_kind_name(objects)

    assert ("Namespace", "team-a") in named
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == "team-a"
        for subject in obj.get("subjects", []):
            assert subject["namespace"] == "team-a"
    assert cluster_scoped_name(CONTROLLER_NAME, "team-a") == "tether-controller-team-a"
    assert cluster_scoped_name(CONTROLLER_NAME, DEFAULT_NAMESPACE) == CONTROLLER_NAME
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        assert (kind, "tether-controller-team-a") in named
        assert (kind, "tether-controller-apply-team-a") in named
        assert (kind, CONTROLLER_NAME) not in named
    assert named["ClusterRoleBinding", "tether-controller-apply-team-a"]["roleRef"]["name"] == (
        "tether-controller-apply-team-a"
    )
    # Namespaced names stay: each namespace has its own Role, RoleBinding, Deployment.
    assert named["RoleBinding", CONTROLLER_NAME]["roleRef"]["name"] == CONTROLLER_NAME
    assert controller_image(objects) == "example.invalid/tether:test"

    crd = install_manifests(namespace="team-a", image=None)[0]
    assert crd == application_crd()  # cluster-wide and shared: never renamed


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/tether-dev/tether:v0.1.0",
        "tether",
        "registry.local:5000/team/tether:1.0-rc.1",
        "example.invalid/tether@sha256:" + "a" * 64,
        "localhost/tether:dev",
    ],
)
def test_valid_images(image: str) -> None:
    assert validate_image(image) == image


@pytest.mark.parametrize("image", ["", "BAD IMAGE", "Tether/Upper:1", "x:tag:more", "a//b"])
def test_invalid_images_are_input_errors(image: str) -> None:
    with pytest.raises(InputError, match="not a valid image reference"):
        install_objects(deploy_texts(), image=image)


@pytest.mark.parametrize("namespace", ["", "Team", "team_a", "-a", "a" * 64])
def test_invalid_namespaces_are_input_errors(namespace: str) -> None:
    with pytest.raises(InputError, match="not a valid namespace name"):
        install_objects(deploy_texts(), namespace=namespace)


def test_malformed_manifests_are_input_errors() -> None:
    with pytest.raises(InputError, match="install manifests"):
        parse_manifests("a: [b")
    with pytest.raises(InputError, match="Kubernetes object"):
        parse_manifests("- just\n- a list\n")
    assert parse_manifests("---\n---\nkind: A\napiVersion: v1\n") == [
        {"kind": "A", "apiVersion": "v1"}
    ]
