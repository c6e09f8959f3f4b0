"""Health on the real control plane: a CEL rule in the app namespace's tether-health-rules
ConfigMap (and one in the Application's spec.healthChecks) decides a custom resource's
health, and a cert-manager-style Certificate that is still issuing is Progressing, then
Healthy once Ready. The CRDs are the test's own, deployed by the app from Git; their
"controller" is the test, writing the status subresource."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.support.apps import application
from tests.support.manifests import crd
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import create_app
from tether.engine.compare import Comparison, Engine, compare
from tether.kube import KubeClient
from tether.model.application import Application
from tether.model.keys import ResourceKey

Kubectl = Callable[..., Any]
MANAGER = "e2e-fake-controller"


def deploy(kubectl: Kubectl, objects: list[dict[str, Any]], tmp_path: Path) -> None:
    """Apply what tether would apply, CRDs first and Established, with the real kubectl."""
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
    for batch, name in ((crds, "crds.yaml"), (rest, "objects.yaml")):
        path = tmp_path / name
        path.write_text(yaml.safe_dump_all(batch))
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
        for item in crds if batch is crds else []:
            kubectl("wait", "--for=condition=Established", f"crd/{item['metadata']['name']}")


async def health_becomes(
    engine: Engine, app: Application, key: ResourceKey, status: str, contains: str = ""
) -> Comparison:
    """Compare until the object's health (and so the app's) is `status`."""
    seen: list[Comparison] = []

    async def reached() -> bool:
        result = await compare(engine, app)
        seen[:] = [result]
        assert result.error is None, result.error
        health = result.health.get(key)
        return (
            health is not None
            and health.status.value == status
            and contains in health.message
            and result.app_health is not None
            and result.app_health.status.value == status
        )

    try:
        await eventually(reached, timeout=15, interval=0.2, what=f"{key} to be {status}")
    except AssertionError:
        last = seen[0] if seen else None
        shown = (last.health.get(key), last.app_health) if last is not None else None
        raise AssertionError(f"{key} is not {status} {contains!r}: {shown}") from None
    return seen[0]


async def write_status(
    kube: KubeClient, api_version: str, kind: str, name: str, namespace: str, status: Any
) -> None:
    await kube.patch(
        api_version,
        kind,
        name,
        {"status": status},
        namespace=namespace,
        field_manager=MANAGER,
        subresource="status",
    )


async def test_a_cel_rule_decides_the_health_of_a_custom_resource(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    kubectl: Kubectl,
    repo: GitopsRepo,
    tmp_path: Path,
    open_project: str,
) -> None:
    group = f"cel{uuid.uuid4().hex[:8]}.example.com"
    api_version = f"{group}/v1"
    widget_crd = crd(group, "Widget", "widgets", status_subresource=True)
    widget = {
        "apiVersion": api_version,
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2},
    }
    repo.write(
        {
            "apps/w/crd.yaml": yaml.safe_dump(widget_crd),
            "apps/w/widget.yaml": yaml.safe_dump(widget),
        }
    )
    repo.commit("widgets")
    app = application("widgets", namespace, repo.url, "apps/w", project=open_project)
    await create_app(kube, app)
    key = ResourceKey(group, "Widget", namespace, "w")
    try:
        deploy(kubectl, (await compare(engine, app)).desired, tmp_path)
        await write_status(
            kube,
            api_version,
            "Widget",
            "w",
            namespace,
            {"observedGeneration": 1, "readyReplicas": 1},
        )
        # No rule: kstatus sees a status without conditions, and says Healthy.
        await health_becomes(engine, app, key, "Healthy")

        rules = [
            {
                "group": group,
                "kind": "Widget",
                "cel": {
                    "inProgress": "status.readyReplicas < spec.size",
                    "failed": "has(status.error)",
                    "current": "status.readyReplicas == spec.size",
                },
            }
        ]
        await kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "tether-health-rules", "namespace": namespace},
                "data": {"widgets.yaml": yaml.safe_dump(rules)},
            }
        )
        await health_becomes(engine, app, key, "Progressing", "inProgress expression is true")
        await write_status(kube, api_version, "Widget", "w", namespace, {"readyReplicas": 2})
        await health_becomes(engine, app, key, "Healthy")
        await write_status(kube, api_version, "Widget", "w", namespace, {"error": "disk full"})
        await health_becomes(engine, app, key, "Degraded", "failed expression is true")

        # The Application's own spec.healthChecks come before the namespace's rules.
        own = application(
            "widgets",
            namespace,
            repo.url,
            "apps/w",
            project=open_project,
            healthChecks=[
                {
                    "apiVersion": api_version,
                    "kind": "Widget",
                    "current": "status.readyReplicas >= 1",
                }
            ],
        )
        await health_becomes(engine, own, key, "Healthy")
    finally:
        await kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", widget_crd["metadata"]["name"]
        )


async def test_a_certificate_being_issued_is_progressing_then_healthy(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    kubectl: Kubectl,
    repo: GitopsRepo,
    tmp_path: Path,
    open_project: str,
) -> None:
    certificate_crd = crd("cert-manager.io", "Certificate", "certificates", status_subresource=True)
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "shop-tls"},
        "spec": {"secretName": "shop-tls", "dnsNames": ["shop.example.com"]},
    }
    repo.write(
        {
            "apps/tls/crd.yaml": yaml.safe_dump(certificate_crd),
            "apps/tls/certificate.yaml": yaml.safe_dump(certificate),
        }
    )
    repo.commit("certificate")
    app = application("tls", namespace, repo.url, "apps/tls", project=open_project)
    await create_app(kube, app)
    key = ResourceKey("cert-manager.io", "Certificate", namespace, "shop-tls")
    try:
        deploy(kubectl, (await compare(engine, app)).desired, tmp_path)
        # Nobody has reported on it yet: a kind with a health check waits.
        await health_becomes(engine, app, key, "Progressing", "Waiting for certificate")
        issuing = {
            "type": "Ready",
            "status": "False",
            "reason": "Issuing",
            "message": "Issuing certificate as Secret does not exist",
        }
        await write_status(
            kube,
            "cert-manager.io/v1",
            "Certificate",
            "shop-tls",
            namespace,
            {"conditions": [issuing]},
        )
        await health_becomes(engine, app, key, "Progressing", "Issuing certificate")
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": "Certificate is up to date and has not expired",
        }
        await write_status(
            kube,
            "cert-manager.io/v1",
            "Certificate",
            "shop-tls",
            namespace,
            {"conditions": [ready]},
        )
        await health_becomes(engine, app, key, "Healthy", "up to date")
    finally:
        await kube.delete(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            certificate_crd["metadata"]["name"],
        )
