"""The local control plane is a real Kubernetes: workloads run (kwok), SSA works, CRDs work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support import manifests
from tests.support.waiting import eventually
from tether.errors import ClusterError
from tether.kube import KubeClient


def deployment(
    name: str, namespace: str, image: str = "nginx:1.27", replicas: int = 2
) -> dict[str, Any]:
    web = {"name": "web", "image": image, "ports": [{"containerPort": 80}]}
    return manifests.deployment(name, namespace=namespace, replicas=replicas, containers=[web])


def condition(obj: dict[str, Any] | None, kind: str) -> str | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


async def test_api_reports_the_real_version(kube: KubeClient) -> None:
    version = await kube.version()
    assert version["gitVersion"].startswith("v1."), version
    assert version["gitVersion"] != "v0.0.0-master+$Format:%H$"
    assert int(version["minor"]) >= 34


async def test_deployment_becomes_available(kube: KubeClient, namespace: str) -> None:
    await kube.apply(deployment("web", namespace))

    async def available() -> dict[str, Any] | None:
        obj = await kube.get("apps/v1", "Deployment", "web", namespace)
        ok = (
            condition(obj, "Available") == "True"
            and (obj or {})["status"].get("readyReplicas") == 2
        )
        return obj if ok else None

    obj = await eventually(available, timeout=90, what="Deployment web Available with 2 ready")
    assert obj["status"]["availableReplicas"] == 2
    pods = await kube.list("v1", "Pod", namespace, label_selector="app=web")
    assert len(pods) == 2
    assert all(p["spec"]["nodeName"] == "kwok-node-0" for p in pods)
    assert all(p["status"]["phase"] == "Running" for p in pods)


async def test_statefulset_reaches_ready_replicas(kube: KubeClient, namespace: str) -> None:
    labels = {"app": "db"}
    await kube.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": namespace},
            "spec": {
                "serviceName": "db",
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "db", "image": "postgres:17"}]},
                },
            },
        }
    )

    async def ready() -> bool:
        obj = await kube.get("apps/v1", "StatefulSet", "db", namespace)
        return bool(obj and (obj.get("status") or {}).get("readyReplicas") == 2)

    await eventually(ready, timeout=90, what="StatefulSet db with 2 ready replicas")


async def test_job_completes(kube: KubeClient, namespace: str) -> None:
    await kube.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "migrate", "namespace": namespace},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "migrate", "image": "busybox:1.36", "command": ["true"]}
                        ],
                    }
                },
            },
        }
    )

    async def complete() -> bool:
        obj = await kube.get("batch/v1", "Job", "migrate", namespace)
        return condition(obj, "Complete") == "True"

    await eventually(complete, timeout=90, what="Job migrate Complete")


async def test_server_side_dry_run_returns_defaulted_object(
    kube: KubeClient, namespace: str
) -> None:
    predicted = await kube.apply(deployment("dry", namespace), dry_run=True)
    spec = predicted["spec"]
    # Defaults filled in by the API server, never sent by us.
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["progressDeadlineSeconds"] == 600
    container = spec["template"]["spec"]["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["ports"][0]["protocol"] == "TCP"
    managers = {m["manager"] for m in predicted["metadata"]["managedFields"]}
    assert managers == {"tether"}
    # ...and nothing was stored.
    assert await kube.get("apps/v1", "Deployment", "dry", namespace) is None


async def test_managed_fields_name_every_writer(
    kube: KubeClient, namespace: str, kubectl: Callable[..., Any], tmp_path: Any
) -> None:
    await kube.apply(deployment("api", namespace, image="nginx:1.27"))
    # A person edits the image with the real `kubectl edit` (field manager kubectl-edit).
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/nginx:1.27/nginx:1.28/' \"$1\"\n")
    editor.chmod(0o755)
    kubectl(
        "edit",
        "deployment/api",
        "-n",
        namespace,
        env={"KUBE_EDITOR": str(editor), "EDITOR": str(editor)},
    )

    obj = await kube.get("apps/v1", "Deployment", "api", namespace)
    assert obj is not None
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    writers = {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
    assert ("tether", "Apply") in writers
    assert ("kubectl-edit", "Update") in writers
    edit = next(m for m in obj["metadata"]["managedFields"] if m["manager"] == "kubectl-edit")
    assert "f:image" in str(edit["fieldsV1"])


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.tether.dev"},
    "spec": {
        "group": "example.tether.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "integer"},
                                    "color": {"type": "string", "default": "blue"},
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


async def test_crd_then_custom_resource_and_removal(kube: KubeClient, namespace: str) -> None:
    await kube.apply(CRD)

    async def established() -> bool:
        crd = await kube.get(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", CRD["metadata"]["name"]
        )
        return condition(crd, "Established") == "True"

    await eventually(established, timeout=30, what="CRD Established")
    widget = {
        "apiVersion": "example.tether.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": namespace},
        "spec": {"size": 3},
    }
    stored = await kube.apply(widget)
    assert stored["spec"] == {"size": 3, "color": "blue"}  # schema default applied
    assert len(await kube.list("example.tether.dev/v1", "Widget", namespace)) == 1

    crd_name = CRD["metadata"]["name"]
    await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name)

    # Deleting a CRD first deletes every custom resource of it (the API server's cleanup
    # finalizer), then the CRD; afterwards the resource path is not served at all.
    async def crd_gone() -> bool:
        return (
            await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name) is None
        )

    await eventually(crd_gone, timeout=60, what="CRD and its custom resources removed")
    with pytest.raises(ClusterError) as err:
        await kube.request("GET", f"/apis/example.tether.dev/v1/namespaces/{namespace}/widgets/w1")
    assert err.value.status == 404
