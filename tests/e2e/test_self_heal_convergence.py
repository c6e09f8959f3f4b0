"""A running controller's self-heal converges or says why it cannot: a key added with
kubectl is removed by one heal; drift no apply can remove stops the heals
(DriftNotRepairable) instead of a backoff loop; a chart that renders a new password every
time is never rotated in a loop (NonDeterministicRender)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.test_controller import (
    auto,
    condition_of,
    configmap,
    controller,
    sample_lines,
    scrape,
    status_of,
    wait_synced_healthy,
)
from tests.integration.test_convergence import RANDOM_PASSWORD_CHART
from tests.support.apps import application
from tests.support.cli import tether
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import create_app
from tether.kube import KubeClient

WINDOW = 20.0  # seconds in which heals are counted


async def controller_syncs(kube: KubeClient, namespace: str) -> list[str]:
    """Reasons of the syncs the controller started (one event each)."""
    events = await kube.list("v1", "Event", namespace)
    return [
        str(e.get("reason"))
        for e in events
        if e.get("reason") in ("AutoSync", "SelfHeal", "SyncRetry")
    ]


async def test_a_key_added_with_kubectl_is_removed_by_one_self_heal(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    repo.write({"app/cm.yaml": configmap("settings", "1")})
    head = repo.commit("v1")
    await create_app(kube, application("heal", namespace, repo.url, "app", syncPolicy=auto()))
    with controller(kubeconfig, namespace, tmp_path):
        await wait_synced_healthy(kube, namespace, "heal", head)
        started = time.monotonic()
        kubectl("patch", "-n", namespace, "configmap/settings", "-p", '{"data":{"added":"x"}}')

        async def removed() -> bool:
            cm = await kube.get("v1", "ConfigMap", "settings", namespace)
            return cm is not None and "added" not in cm["data"]

        await eventually(removed, timeout=30, what="the hand-added key removed")
        await wait_synced_healthy(kube, namespace, "heal", head)
        await asyncio.sleep(max(0.0, WINDOW - (time.monotonic() - started)))
        assert (await controller_syncs(kube, namespace)).count("SelfHeal") == 1
        assert await condition_of(kube, namespace, "heal", "SelfHealFailing") is None
        status = await status_of(kube, namespace, "heal")
        assert status.sync.status.value == "Synced"


async def test_drift_no_apply_can_remove_stops_self_heal_and_says_why(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"app/cm.yaml": configmap("settings", "1")})
    head = repo.commit("v1")
    await create_app(kube, application("stuck", namespace, repo.url, "app", syncPolicy=auto()))
    with controller(kubeconfig, namespace, tmp_path):
        await wait_synced_healthy(kube, namespace, "stuck", head)
        # A controller (not a person's tool: tether never takes its fields) adds a key once.
        started = time.monotonic()
        await kube.patch(
            "v1",
            "ConfigMap",
            "settings",
            {"data": {"extra": "by-operator"}},
            namespace=namespace,
            field_manager="some-operator",
        )
        condition = await eventually(
            lambda: condition_of(kube, namespace, "stuck", "SelfHealFailing"),
            timeout=30,
            what="SelfHealFailing",
        )
        assert condition.reason == "DriftNotRepairable", condition
        assert f"ConfigMap {namespace}/settings: /data/extra" in condition.message
        assert "writer some-operator" in condition.message
        assert "cause controller-write" in condition.message
        await asyncio.sleep(max(0.0, WINDOW - (time.monotonic() - started)))
        heals = (await controller_syncs(kube, namespace)).count("SelfHeal")
        assert heals == 1, heals  # one heal that could not help, then none
        events = await kube.list("v1", "Event", namespace)
        assert any(e.get("reason") == "SelfHealFailing" for e in events)
        # Removing the key by hand ends it: in sync again, the condition cleared.
        await kube.patch(
            "v1",
            "ConfigMap",
            "settings",
            {"data": {"extra": None}},
            namespace=namespace,
            field_manager="some-operator",
        )
        await wait_synced_healthy(kube, namespace, "stuck", head)

        async def cleared() -> bool:
            return await condition_of(kube, namespace, "stuck", "SelfHealFailing") is None

        await eventually(cleared, timeout=15, what="SelfHealFailing cleared")


async def test_a_random_password_chart_is_not_rotated_in_a_loop(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write(RANDOM_PASSWORD_CHART)
    head = repo.commit("chart")
    await create_app(kube, application("pw", namespace, repo.url, "chart", syncPolicy=auto()))
    with controller(kubeconfig, namespace, tmp_path) as proc:
        await wait_synced_healthy(kube, namespace, "pw", head)
        # Someone syncs by hand: the CLI renders the chart again and applies a new password.
        result = tether(kubeconfig, "-n", namespace, "app", "sync", "pw", cache=tmp_path / "cli")
        assert result.returncode == 0, result.stderr
        started = time.monotonic()
        condition = await eventually(
            lambda: condition_of(kube, namespace, "pw", "SelfHealFailing"),
            timeout=30,
            what="SelfHealFailing",
        )
        assert condition.reason == "NonDeterministicRender", condition
        assert f"Secret {namespace}/pw-admin" in condition.message
        secret = await kube.get("v1", "Secret", "pw-admin", namespace)
        assert secret is not None
        password = secret["data"]["password"]
        await asyncio.sleep(max(0.0, WINDOW - (time.monotonic() - started)))
        assert await controller_syncs(kube, namespace) == ["AutoSync"]  # no heal at all
        secret = await kube.get("v1", "Secret", "pw-admin", namespace)
        assert secret is not None and secret["data"]["password"] == password  # not rotated
        status = await status_of(kube, namespace, "pw")
        assert status.sync.status.value == "OutOfSync"
        causes = {r.name: r.drift_cause for r in status.resources if r.drift}
        assert causes == {"pw-admin": "non-deterministic-render"}
        diff = tether(kubeconfig, "-n", namespace, "app", "diff", "pw", cache=tmp_path / "cli")
        assert diff.returncode == 0, diff.stderr
        assert "(tether, non-deterministic-render)" in diff.stdout, diff.stdout
        drift_metric = sample_lines(scrape(proc), "tether_drift_events_total")
        assert any('cause="non-deterministic-render"' in line for line in drift_metric)
