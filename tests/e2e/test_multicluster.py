"""Two real control planes: the session's (the hub) and a spoke started here. `tether
cluster add` registers the spoke with a ServiceAccount token made on it; `tether cluster
list` probes every registration (tether's and Argo CD's Secrets as they are): reachable
with its version and apps, refused ones with the reason, and the spoke unreachable once
it is stopped. No token in any output."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apps import application
from tests.support.cli import tether
from tether.engine.apps import create_app
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


def listed(kubeconfig: str, namespace: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    result = tether(kubeconfig, "-n", namespace, "cluster", "list", "-o", "json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    return {row["secret"]: row for row in json.loads(result.stdout)}


async def test_register_a_spoke_and_list_every_registration(
    kubeconfig: str, kube: KubeClient, namespace: str, spoke: LocalCluster, tmp_path: Path
) -> None:
    added = tether(
        kubeconfig,
        "-n",
        namespace,
        "cluster",
        "add",
        "spoke",
        "--kubeconfig",
        str(spoke.kubeconfig),
        cache=tmp_path,
    )
    assert added.returncode == 0, added.stderr
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
