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
import yaml

from tests.support.apps import application
from tests.support.cli import tether
from tests.support.controller import ControllerProcess
from tests.support.manifests import as_yaml, configmap
from tests.support.repos import GitopsRepo
from tests.support.tokens import service_account_token
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
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    spoke: LocalCluster,
    repo: GitopsRepo,
    tmp_path: Path,
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

    # The Argo CD-shaped registration deploys as it is (here through the CLI, which
    # resolves destinations with the controller's registry code).
    repo.write({"argo/settings.yaml": as_yaml(configmap("from-argo", {"via": "argo"}))})
    repo.commit("via the Argo CD Secret")
    destination = {"name": "argo-spoke", "namespace": namespace}
    options = {"syncOptions": ["CreateNamespace=true"]}
    via_argo = application(
        "via-argo", namespace, repo.url, "argo", destination=destination, syncPolicy=options
    )
    await create_app(kube, via_argo)
    sync = tether(kubeconfig, "-n", namespace, "app", "sync", "via-argo", cache=tmp_path)
    assert sync.returncode == 0, sync.stderr
    target = KubeClient.from_kubeconfig(str(spoke.kubeconfig))
    try:
        applied = await target.get("v1", "ConfigMap", "from-argo", namespace)
        assert applied is not None and applied["data"] == {"via": "argo"}
    finally:
        target.close()
    assert token not in sync.stdout + sync.stderr

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
        repo.write({"here/settings.yaml": as_yaml(configmap("settings", {"mode": "hub"}))})
        await auto_synced_app(kube, namespace, repo, "spoke")  # commits both
        with ControllerProcess(kubeconfig, namespace, tmp_path) as proc:

            async def synced() -> bool:
                return await ready(kube, namespace, "web")

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
            # The same object name on the hub, another app's: two clusters, no collision.
            here = application("here", namespace, repo.url, "here", syncPolicy={"automated": {}})
            await create_app(kube, here)

            async def both() -> bool:
                return await ready(kube, namespace, "here", "web")

            await eventually(both, timeout=60, what="here on the hub, web on the spoke")
            on_hub = await kube.get("v1", "ConfigMap", "settings", namespace)
            assert on_hub is not None and on_hub["data"] == {"mode": "hub"}
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
            local = (await get_app(kube, namespace, "here")).status
            assert local is not None and local.sync.status.value == "Synced"
            assert not any(r.drift for r in local.resources)  # the spoke's edit is not its
            on_hub = await kube.get("v1", "ConfigMap", "settings", namespace)
            assert on_hub is not None and on_hub["data"] == {"mode": "hub"}

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
    # The CLI resolves destinations as the controller does: the same one line, and it
    # never falls back to applying to its own kubeconfig's cluster.
    for command in (("app", "diff", "web"), ("app", "sync", "web")):
        answer = tether(kubeconfig, "-n", namespace, *command, cache=tmp_path)
        assert answer.returncode == 2, answer.stderr
        assert "destination nowhere: no cluster registered by that name" in answer.stderr
    assert await kube.get("v1", "ConfigMap", "settings", namespace) is None


async def two_apps_on_the_spoke(kube: KubeClient, namespace: str, repo: GitopsRepo) -> None:
    """`base` (a ConfigMap) and `web` (dependsOn base), auto-sync without self-heal,
    creating their namespace: all a rebuilt, empty spoke needs."""
    repo.write(
        {
            "base/base.yaml": as_yaml(configmap("base", {"tier": "base"})),
            "web/settings.yaml": as_yaml(configmap("settings", {"mode": "blue"})),
        }
    )
    repo.commit("base and web")
    policy: dict[str, Any] = {"automated": {}, "syncOptions": ["CreateNamespace=true"]}
    destination = {"name": "spoke", "namespace": namespace}
    for name, extra in (("base", {}), ("web", {"dependsOn": [{"name": "base"}]})):
        app = application(
            name, namespace, repo.url, name, destination=destination, syncPolicy=policy, **extra
        )
        await create_app(kube, app)


@pytest.fixture
async def spoke_of_two(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    spoke: LocalCluster,
    repo: GitopsRepo,
    tmp_path: Path,
) -> LocalCluster:
    """The spoke, registered, with the hub's apps `base` and `web` deploying to it."""
    register(kubeconfig, namespace, spoke, tmp_path)
    await two_apps_on_the_spoke(kube, namespace, repo)
    return spoke


async def ready(kube: KubeClient, namespace: str, *names: str) -> bool:
    for name in names:
        status = (await get_app(kube, namespace, name)).status
        if not (
            status
            and status.sync.status.value == "Synced"
            and status.health.status.value == "Healthy"
        ):
            return False
    return True


async def test_a_spoke_rebuilt_empty_is_recovered_by_the_hub_with_its_recovery_time(
    kubeconfig: str, kube: KubeClient, namespace: str, spoke_of_two: LocalCluster, tmp_path: Path
) -> None:
    spoke = spoke_of_two
    with ControllerProcess(kubeconfig, namespace, tmp_path) as proc:

        async def both_ready() -> bool:
            return await ready(kube, namespace, "base", "web")

        await eventually(both_ready, timeout=90, what="base and web on the spoke")
        registered = await kube.get("v1", "Secret", "cluster-spoke", namespace)
        assert registered is not None
        old_uid = registered["metadata"]["annotations"]["tether.dev/cluster-uid"]
        info = [x for x in scrape(proc).splitlines() if x.startswith("tether_cluster_info{")]
        assert any('name="spoke"' in x and 'reachable="true"' in x for x in info), info

        # The disaster: the spoke is lost with everything in it; an empty one comes up at
        # the same address. Its old token means nothing there: the apps are unreachable.
        await spoke.destroy()
        await spoke.up(timeout=120)

        async def refused() -> Any:
            found = await get_app(kube, namespace, "web")
            conditions = found.status.conditions if found.status else ()
            return next(
                (
                    c
                    for c in conditions
                    if c.type == "ClusterUnreachable" and "Unauthorized" in c.message
                ),
                None,
            )

        condition = await eventually(refused, timeout=60, what="ClusterUnreachable: 401")
        print(f"the new spoke refuses the old token: {condition.message}")
        # The operator registers the new cluster; the hub rebuilds it from Git by itself.
        register(kubeconfig, namespace, spoke, tmp_path)
        registered_at = time.monotonic()
        await eventually(both_ready, timeout=120, what="the spoke rebuilt")
        print(
            f"re-registered -> both apps Synced+Healthy: {time.monotonic() - registered_at:.1f} s"
        )
        target = KubeClient.from_kubeconfig(str(spoke.kubeconfig))
        try:
            for name in ("base", "settings"):
                assert await target.get("v1", "ConfigMap", name, namespace) is not None
        finally:
            target.close()

        async def rebuilt_events() -> list[dict[str, Any]] | None:
            found = [
                e
                for e in await kube.list("v1", "Event", namespace)
                if e.get("reason") == "ClusterRebuilt"
            ]
            return found if len(found) >= 2 else None

        events = await eventually(rebuilt_events, timeout=30, what="ClusterRebuilt Events")
        assert {e["involvedObject"]["name"] for e in events} == {"base", "web"}
        assert all("rebuilt from Git" in e["message"] for e in events), events
        registered = await kube.get("v1", "Secret", "cluster-spoke", namespace)
        assert registered is not None
        assert registered["metadata"]["annotations"]["tether.dev/cluster-uid"] != old_uid

        async def recovery() -> str | None:
            lines = scrape(proc).splitlines()
            return next((x for x in lines if x.startswith("tether_cluster_recovery_seconds")), None)

        line = await eventually(recovery, timeout=15, what="the recovery time in /metrics")
        print(f"controller's recovery time: {line}")
        assert "cluster spoke rebuilt from Git: 2 applications" in proc.logs()
        # base before web: web depends on it, and waited for it.
        syncs = sorted(
            (
                e
                for e in await kube.list("v1", "Event", namespace)
                if e.get("reason") == "ClusterRebuild"
            ),
            key=lambda e: (e.get("lastTimestamp") or "", e["involvedObject"]["name"]),
        )
        assert [e["involvedObject"]["name"] for e in syncs] == ["base", "web"], syncs

        # No app deploys to the spoke any more: its watches are closed.
        for name in ("web", "base"):
            await kube.delete("tether.dev/v1alpha1", "Application", name, namespace)

        async def closed() -> bool:
            return not any(x.startswith("tether_cluster_info{") for x in scrape(proc).splitlines())

        await eventually(closed, timeout=30, what="the spoke's engine closed")
        assert "Traceback" not in proc.logs()


async def test_dr_bootstrap_rebuilds_a_registered_cluster_from_the_hub(
    kubeconfig: str, kube: KubeClient, namespace: str, spoke_of_two: LocalCluster, tmp_path: Path
) -> None:
    spoke = spoke_of_two
    # No controller: the hub holds the apps, the spoke is empty; the CLI rebuilds it.
    answer = tether(
        kubeconfig,
        "-n",
        namespace,
        "dr",
        "bootstrap",
        "--cluster",
        "spoke",
        "-o",
        "json",
        cache=tmp_path,
    )
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    phases = [p["phase"] for p in report["phases"]]
    assert phases == ["cluster", "wave 0", "wave 0 (dependsOn level 1)", "health"], report
    assert report["applications"] == ["base", "web"]
    print(f"dr bootstrap --cluster spoke: {report['total_seconds']} s")
    target = KubeClient.from_kubeconfig(str(spoke.kubeconfig))
    try:
        for name in ("base", "settings"):
            assert await target.get("v1", "ConfigMap", name, namespace) is not None
    finally:
        target.close()
    assert await ready(kube, namespace, "base", "web")
    # The CLI works on the spoke's apps through the registration, as on local ones: an
    # edit there is drift in `app diff` and `tether drift`, and `app sync` puts it back.
    target = KubeClient.from_kubeconfig(str(spoke.kubeconfig))
    try:
        edited = configmap("settings", {"mode": "green"}, namespace=namespace)
        await target.apply(edited, field_manager="kubectl-edit", force=True)
        diff = tether(
            kubeconfig, "-n", namespace, "app", "diff", "web", "--exit-code", cache=tmp_path
        )
        assert diff.returncode == 1, diff.stderr
        assert "green" in diff.stdout and "blue" in diff.stdout
        drift = tether(kubeconfig, "-n", namespace, "drift", "web", cache=tmp_path)
        assert drift.returncode == 0, drift.stderr
        assert "kubectl-edit" in drift.stdout
        synced = tether(kubeconfig, "-n", namespace, "app", "sync", "web", cache=tmp_path)
        assert synced.returncode == 0, synced.stderr
        back = await target.get("v1", "ConfigMap", "settings", namespace)
        assert back is not None and back["data"] == {"mode": "blue"}
    finally:
        target.close()
    assert await kube.get("v1", "ConfigMap", "settings", namespace) is None  # not the hub
    # A cluster nobody registered: one line, the usage exit code.
    unknown = tether(
        kubeconfig, "-n", namespace, "dr", "bootstrap", "--cluster", "edge", cache=tmp_path
    )
    assert unknown.returncode == 2, unknown.stderr
    assert "no cluster registered by that name" in unknown.stderr


def kubeconfig_text(kubeconfig: str, server: str, user: dict[str, Any]) -> str:
    """A kubeconfig for `server` with the session kubeconfig's CA and the given user."""
    session = yaml.safe_load(Path(kubeconfig).read_text())
    ca = session["clusters"][0]["cluster"]["certificate-authority-data"]
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "target",
            "clusters": [
                {"name": "target", "cluster": {"server": server, "certificate-authority-data": ca}}
            ],
            "users": [{"name": "deployer", "user": user}],
            "contexts": [{"name": "target", "context": {"cluster": "target", "user": "deployer"}}],
        }
    )


async def test_a_kube_config_secret_deploys_and_an_exec_plugin_runs_only_when_allowed(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    """Flux's `spec.kubeConfig.secretRef`, aimed at the session cluster itself (a second
    control plane would show nothing more here): an exec plugin is refused with a clear
    condition and never runs; a token kubeconfig works and a rotated token is used at
    once; with --allow-cluster-exec the plugin runs and the app deploys."""
    token = await service_account_token(kube, namespace, "deployer", cluster_admin=True)
    ran = tmp_path / "plugin-ran"
    plugin = tmp_path / "token-plugin"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": token},
    }
    plugin.write_text(f"#!/bin/sh\ntouch {ran}\necho '{json.dumps(credential)}'\n")
    plugin.chmod(0o755)
    exec_user = {
        "exec": {"apiVersion": credential["apiVersion"], "command": str(plugin), "args": []}
    }

    async def secret(user: dict[str, Any]) -> None:
        await kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "target-kubeconfig", "namespace": namespace},
                "stringData": {"value": kubeconfig_text(kubeconfig, kube.server, user)},
            }
        )

    await secret(exec_user)
    repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "blue"}))})
    repo.commit("web settings")
    app = application(
        "web",
        namespace,
        repo.url,
        "web",
        kubeConfig={"secretRef": {"name": "target-kubeconfig"}},
        syncPolicy={"automated": {}},
    )
    await create_app(kube, app)

    async def condition(kind: str) -> Any:
        found = await get_app(kube, namespace, "web")
        conditions = found.status.conditions if found.status else ()
        return next((c for c in conditions if c.type == kind), None)

    async def synced() -> bool:
        return await ready(kube, namespace, "web")

    with ControllerProcess(kubeconfig, namespace, tmp_path) as proc:

        async def refused() -> Any:
            return await condition("ComparisonError")

        found = await eventually(refused, timeout=30, what="the exec kubeconfig refused")
        assert "Secret " + namespace + "/target-kubeconfig" in found.message
        assert "runs a program: refused" in found.message
        assert not ran.exists()  # the plugin never ran
        assert await kube.get("v1", "ConfigMap", "settings", namespace) is None
        # A token kubeconfig, read again at the next reconcile: the app deploys.
        await secret({"token": token})
        poke = tether(kubeconfig, "-n", namespace, "app", "reconcile", "web", cache=tmp_path)
        assert poke.returncode == 0, poke.stderr
        await eventually(synced, timeout=60, what="web Synced through the kubeconfig")
        assert await kube.get("v1", "ConfigMap", "settings", namespace) is not None
        # A rotated token (another ServiceAccount's) is used at once; the old one revoked.
        rotated = await service_account_token(kube, namespace, "deployer-2", cluster_admin=True)
        await secret({"token": rotated})
        await kube.delete("v1", "ServiceAccount", "deployer", namespace)
        repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "green"}))})
        repo.commit("green")
        poke = tether(
            kubeconfig, "-n", namespace, "app", "reconcile", "web", "--with-source", cache=tmp_path
        )
        assert poke.returncode == 0, poke.stderr

        async def green() -> bool:
            live = await kube.get("v1", "ConfigMap", "settings", namespace)
            return bool(live and live["data"] == {"mode": "green"})

        await eventually(green, timeout=60, what="the change applied with the rotated token")
        assert token not in proc.logs() and rotated not in proc.logs()

    await secret(exec_user)
    repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "exec"}))})
    repo.commit("exec")
    with ControllerProcess(kubeconfig, namespace, tmp_path, "--allow-cluster-exec", name="c2"):

        async def by_plugin() -> bool:
            live = await kube.get("v1", "ConfigMap", "settings", namespace)
            return bool(live and live["data"] == {"mode": "exec"} and ran.exists())

        await eventually(by_plugin, timeout=60, what="deployed with the exec plugin's token")
        assert await condition("ComparisonError") is None
