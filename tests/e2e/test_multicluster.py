"""Two real control planes: the session's (the hub) and a spoke started here. `tether
cluster add` registers the spoke with a ServiceAccount token made on it; `tether cluster
list` probes every registration (tether's and Argo CD's Secrets as they are): reachable
with its version and apps, refused ones with the reason, and the spoke unreachable once
it is stopped. No token in any output."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apps import application
from tests.support.cli import tether
from tests.support.controller import ControllerProcess
from tests.support.manifests import as_yaml, configmap
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import create_app, ensure_namespace, get_app
from tether.kube import KubeClient
from tether.localcluster import LocalCluster

pytestmark = pytest.mark.cluster


@pytest.fixture
async def spoke(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "spoke")
    try:
        await cluster.up(timeout=240)
        yield cluster
    finally:
        await cluster.down()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def auto_synced_app(kube: KubeClient, namespace: str, repo: GitopsRepo, cluster: str) -> None:
    """App `web` (one ConfigMap, auto-sync) deploying to the cluster named `cluster`."""
    repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "blue"}))})
    repo.commit("web settings")
    destination = {"name": cluster, "namespace": namespace}
    auto: dict[str, Any] = {"automated": {}}
    app = application("web", namespace, repo.url, "web", destination=destination, syncPolicy=auto)
    await create_app(kube, app)


def scrape(proc: ControllerProcess) -> str:
    with urllib.request.urlopen(proc.metrics_url + "/metrics", timeout=10) as response:
        return str(response.read().decode())


def register(
    kubeconfig: str, namespace: str, spoke: LocalCluster, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """`tether cluster add spoke` on the hub (the session's cluster)."""
    args = ("-n", namespace, "cluster", "add", "spoke", "--kubeconfig", str(spoke.kubeconfig))
    added = tether(kubeconfig, *args, cache=tmp_path)
    assert added.returncode == 0, added.stderr
    return added


def listed(kubeconfig: str, namespace: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    result = tether(kubeconfig, "-n", namespace, "cluster", "list", "-o", "json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    return {row["secret"]: row for row in json.loads(result.stdout)}


async def test_register_a_spoke_and_list_every_registration(
    kubeconfig: str, kube: KubeClient, namespace: str, spoke: LocalCluster, tmp_path: Path
) -> None:
    added = register(kubeconfig, namespace, spoke, tmp_path)
    assert f"Secret {namespace}/cluster-spoke" in added.stderr + added.stdout
    registered = await kube.get("v1", "Secret", "cluster-spoke", namespace)
    assert registered is not None
    assert registered["metadata"]["labels"] == {"tether.dev/secret-type": "cluster"}
    config = json.loads(base64.b64decode(registered["data"]["config"]))
    token = config["bearerToken"]
    assert token and config["tlsClientConfig"]["caData"]

    # The same registration in Argo CD's shape, and two that must be refused.
    def argo(name: str, extra: dict[str, Any]) -> dict[str, Any]:
        server = base64.b64decode(registered["data"]["server"]).decode()
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"argocd.argoproj.io/secret-type": "cluster"},
            },
            "data": {
                "name": b64(name),
                "server": b64(server),
                "config": b64(json.dumps(config | extra)),
            },
        }

    await kube.apply(argo("argo-spoke", {}))
    await kube.apply(argo("insecure", {"tlsClientConfig": {"insecure": True}}))
    await kube.apply(argo("exec", {"execProviderConfig": {"command": "/tmp/pwn"}}))
    # An app that deploys to the spoke (by name) counts for it.
    spoke_app = application(
        "web",
        namespace,
        "https://git.example/r.git",
        "web",
        destination={"name": "spoke", "namespace": "shop"},
    )
    await create_app(kube, spoke_app)

    rows = listed(kubeconfig, namespace, tmp_path)
    assert set(rows) == {"cluster-spoke", "argo-spoke", "insecure", "exec"}
    for name in ("cluster-spoke", "argo-spoke"):
        assert rows[name]["reachable"], rows[name]
        assert rows[name]["version"].startswith("v1."), rows[name]
    assert (rows["cluster-spoke"]["apps"], rows["argo-spoke"]["apps"]) == (1, 0)
    assert not rows["insecure"]["reachable"]
    assert "turns off TLS verification" in rows["insecure"]["problem"]
    assert "runs a program" in rows["exec"]["problem"]
    table = tether(kubeconfig, "-n", namespace, "cluster", "list", cache=tmp_path)
    assert table.returncode == 0 and "spoke" in table.stdout
    for result in (added, table):
        assert token not in result.stdout + result.stderr

    # The spoke goes down: listed, unreachable, with the reason.
    await spoke.down()
    rows = listed(kubeconfig, namespace, tmp_path)
    assert not rows["cluster-spoke"]["reachable"]
    assert rows["cluster-spoke"]["problem"]
    assert token not in json.dumps(rows)


async def test_the_hub_controller_deploys_to_a_spoke_and_sees_its_drift(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    spoke: LocalCluster,
    repo: GitopsRepo,
    tmp_path: Path,
) -> None:
    register(kubeconfig, namespace, spoke, tmp_path)
    target = KubeClient.from_kubeconfig(str(spoke.kubeconfig))
    try:
        await ensure_namespace(target, namespace)  # the default project: the app's own
        await auto_synced_app(kube, namespace, repo, "spoke")
        with ControllerProcess(kubeconfig, namespace, tmp_path) as proc:

            async def synced() -> bool:
                found = await get_app(kube, namespace, "web")
                status = found.status
                return bool(
                    status
                    and status.sync.status.value == "Synced"
                    and status.health.status.value == "Healthy"
                )

            await eventually(synced, timeout=90, what="web Synced+Healthy on the spoke")
            info = [x for x in scrape(proc).splitlines() if x.startswith("tether_app_info{")]
            assert any('cluster="spoke"' in x and 'name="web"' in x for x in info), info
            on_spoke = await target.get("v1", "ConfigMap", "settings", namespace)
            assert on_spoke is not None and on_spoke["data"] == {"mode": "blue"}
            # Nothing of the app on the hub: the object lives on the spoke only; the
            # app's history (its stored manifests) stays with the app, on the hub.
            assert await kube.get("v1", "ConfigMap", "settings", namespace) is None
            deployed = await get_app(kube, namespace, "web")
            assert deployed.status is not None and deployed.status.history
            ref = deployed.status.history[-1].manifests_ref
            assert ref and await kube.get("v1", "Secret", ref, namespace) is not None
            assert await target.get("v1", "Secret", ref, namespace) is None
            # An edit on the spoke by another writer: the hub's controller sees it.
            started = time.monotonic()
            await target.apply(
                configmap("settings", {"mode": "green"}, namespace=namespace),
                field_manager="kubectl-edit",
                force=True,
            )

            async def drifted() -> Any:
                found = await get_app(kube, namespace, "web")
                resources = found.status.resources if found.status else ()
                return next((r for r in resources if r.drift and r.drift_writer), None)

            resource = await eventually(drifted, timeout=15, what="drift seen from the hub")
            print(f"spoke edit -> drift on the hub: {time.monotonic() - started:.2f} s")
            assert resource.drift == ("/data/mode",)
            assert (resource.drift_writer, resource.drift_cause) == ("kubectl-edit", "manual-edit")

            # The spoke goes away: its apps are ClusterUnreachable within seconds (the
            # controller notices the watches losing contact), nothing is deleted.
            await spoke.down()
            went_down = time.monotonic()

            async def unreachable() -> Any:
                found = await get_app(kube, namespace, "web")
                conditions = found.status.conditions if found.status else ()
                return next((c for c in conditions if c.type == "ClusterUnreachable"), None)

            condition = await eventually(unreachable, timeout=60, what="ClusterUnreachable")
            assert "unreachable" in condition.message
            print(f"spoke down -> ClusterUnreachable: {time.monotonic() - went_down:.1f} s")

            # Back: the watches reconnect and the next reconcile clears it by itself.
            await spoke.up(timeout=120)

            async def recovered() -> bool:
                return await unreachable() is None

            # No poke: the app is retried every few seconds while its cluster is away.
            await eventually(recovered, timeout=60, interval=1, what="ClusterUnreachable cleared")
            still = await target.get("v1", "ConfigMap", "settings", namespace)
            assert still is not None  # nothing was pruned while it was away
            assert "Traceback" not in proc.logs()
    finally:
        target.close()


async def test_an_unregistered_destination_is_a_clear_condition_and_nothing_is_applied(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    await auto_synced_app(kube, namespace, repo, "nowhere")
    with ControllerProcess(kubeconfig, namespace, tmp_path):

        async def refused() -> Any:
            found = await get_app(kube, namespace, "web")
            conditions = found.status.conditions if found.status else ()
            return next((c for c in conditions if c.type == "ComparisonError"), None)

        condition = await eventually(refused, timeout=30, what="ComparisonError")
        assert "destination nowhere: no cluster registered by that name" in condition.message
        assert await kube.get("v1", "ConfigMap", "settings", namespace) is None
    # The CLI acts on its kubeconfig's cluster only: it refuses, it does not apply here.
    for command in (("app", "diff", "web"), ("app", "sync", "web")):
        answer = tether(kubeconfig, "-n", namespace, *command, cache=tmp_path)
        assert answer.returncode == 2, answer.stderr
        assert "Application web deploys to cluster nowhere" in answer.stderr
    assert await kube.get("v1", "ConfigMap", "settings", namespace) is None
