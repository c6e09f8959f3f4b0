"""`tether install` end to end: real CLI process, real cluster, real RBAC checks.

Each test installs into its own namespace; the cluster-scoped RBAC objects of such an
install carry the namespace in their names and are deleted afterwards. The CRD is shared
with every other test and stays.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.support.cli import assert_one_error_line, tether
from tether.engine.apps import crd_installed
from tether.kube import KubeClient

IMAGE = "example.invalid/tether:test"
RBAC = "rbac.authorization.k8s.io/v1"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def can_i(kubectl: Kubectl, namespace: str, *args: str) -> bool:
    """`kubectl auth can-i ARGS` as the controller's ServiceAccount."""
    sa = f"system:serviceaccount:{namespace}:tether-controller"
    result = kubectl("auth", "can-i", *args, f"--as={sa}", check=False)
    assert result.stdout.strip() in ("yes", "no"), (result.stdout, result.stderr)
    return result.stdout.strip() == "yes"


async def delete_cluster_rbac(kube: KubeClient, namespace: str) -> None:
    for kind in ("ClusterRoleBinding", "ClusterRole"):
        for name in ("tether-controller", "tether-controller-apply"):
            await kube.delete(RBAC, kind, f"{name}-{namespace}")


async def test_install_applies_crd_rbac_and_controller(
    kubeconfig: str, kube: KubeClient, namespace: str, kubectl: Kubectl
) -> None:
    try:
        result = tether(kubeconfig, "install", "--image", IMAGE, "--namespace", namespace)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "CustomResourceDefinition.apiextensions.k8s.io applications.tether.dev applied",
            "CustomResourceDefinition.apiextensions.k8s.io projects.tether.dev applied",
            "CustomResourceDefinition.apiextensions.k8s.io providers.tether.dev applied",
            "CustomResourceDefinition.apiextensions.k8s.io alerts.tether.dev applied",
            f"Namespace {namespace} applied",
            f"ServiceAccount {namespace}/tether-controller applied",
            f"ClusterRole.rbac.authorization.k8s.io tether-controller-{namespace} applied",
            f"ClusterRoleBinding.rbac.authorization.k8s.io tether-controller-{namespace} applied",
            f"Role.rbac.authorization.k8s.io {namespace}/tether-controller applied",
            f"RoleBinding.rbac.authorization.k8s.io {namespace}/tether-controller applied",
            f"ClusterRole.rbac.authorization.k8s.io tether-controller-apply-{namespace} applied",
            "ClusterRoleBinding.rbac.authorization.k8s.io "
            f"tether-controller-apply-{namespace} applied",
            f"Deployment.apps {namespace}/tether-controller applied",
            f"Service {namespace}/tether-controller applied",
        ]
        assert f"installed tether in namespace {namespace} (image {IMAGE})" in result.stderr

        assert await crd_installed(kube)  # applied and Established
        assert await kube.get("v1", "ServiceAccount", "tether-controller", namespace)
        for name in ("tether-controller", "tether-controller-apply"):
            role = await kube.get(RBAC, "ClusterRole", f"{name}-{namespace}")
            assert role is not None
            binding = await kube.get(RBAC, "ClusterRoleBinding", f"{name}-{namespace}")
            assert binding is not None and binding["subjects"][0]["namespace"] == namespace
        deployment = await kube.get("apps/v1", "Deployment", "tether-controller", namespace)
        assert deployment is not None
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == IMAGE
        managers = {m["manager"] for m in deployment["metadata"]["managedFields"]}
        assert "tether" in managers
        service = await kube.get("v1", "Service", "tether-controller", namespace)
        assert service is not None
        assert sorted(p["port"] for p in service["spec"]["ports"]) == [8082, 8083]

        # What the ServiceAccount may do, as the API server's authorizer sees it.
        assert can_i(kubectl, namespace, "patch", "applications.tether.dev", "--subresource=status")
        assert can_i(kubectl, namespace, "create", "leases.coordination.k8s.io", "-n", namespace)
        # Notifications and the dashboard's sign-in need these.
        assert can_i(kubectl, namespace, "list", "alerts.tether.dev", "-n", namespace)
        assert can_i(kubectl, namespace, "patch", "alerts.tether.dev", "--subresource=status")
        assert can_i(kubectl, namespace, "create", "tokenreviews.authentication.k8s.io")
        assert can_i(kubectl, namespace, "create", "subjectaccessreviews.authorization.k8s.io")
        assert not can_i(kubectl, namespace, "impersonate", "users")
        # Without the apply role (the knob), the rest is least privilege: its own
        # namespace's leases and secrets only.
        await kube.delete(RBAC, "ClusterRoleBinding", f"tether-controller-apply-{namespace}")
        assert not can_i(
            kubectl, namespace, "delete", "leases.coordination.k8s.io", "-n", namespace
        )
        assert not can_i(
            kubectl, namespace, "create", "leases.coordination.k8s.io", "-n", "default"
        )
        assert not can_i(kubectl, namespace, "get", "secrets", "-n", "kube-system")
        assert can_i(kubectl, namespace, "get", "secrets", "-n", namespace)
        assert can_i(kubectl, namespace, "patch", "applications.tether.dev", "--subresource=status")

        # A rerun (an upgrade) is a no-op apply that succeeds again.
        again = tether(kubeconfig, "install", "--image", IMAGE, "--namespace", namespace)
        assert again.returncode == 0, again.stderr
        assert len(again.stdout.splitlines()) == 14
    finally:
        await delete_cluster_rbac(kube, namespace)


def test_dry_run_prints_the_manifests_and_needs_no_cluster(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-kubeconfig")
    result = tether(missing, "install", "--dry-run", "--namespace", "ops", "--image", IMAGE)
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    assert objects[0]["kind"] == "CustomResourceDefinition"
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "ClusterRole"] == [
        "tether-controller-ops",
        "tether-controller-apply-ops",
    ]
    as_json = tether(missing, "-o", "json", "install", "--dry-run")
    listed = json.loads(as_json.stdout)
    assert listed["kind"] == "List" and len(listed["items"]) == len(objects)
    assert "nothing was changed" in as_json.stderr


def test_unreachable_cluster_and_bad_flags(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "gone",
                "cluster": {
                    "server": f"https://127.0.0.1:{port}",
                    "insecure-skip-tls-verify": True,
                },
            }
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
        "current-context": "gone",
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    result = tether(str(kubeconfig), "install", timeout=120)
    assert_one_error_line(result, 3, "unreachable", f"127.0.0.1:{port}")

    bad = tether(str(kubeconfig), "install", "--namespace", "Not_A_Namespace")
    assert_one_error_line(bad, 2, "not a valid namespace name")
    bad = tether(str(kubeconfig), "install", "--image", "no spaces please")
    assert_one_error_line(bad, 2, "not a valid image reference")
