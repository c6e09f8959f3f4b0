"""The live cache after an outage: it says it is cut off, reconnects within about a
second of the API server answering again, and tells its listeners what changed while it
could not see (the relist after a 410), instead of swapping objects in silently.

A private control plane (its API server is restarted) behind a proxy that cuts the
cache off while the test changes objects directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import manifests
from tests.support.chaos import CuttableProxy, api_port, private_cluster, wait_until
from tether.kube import KubeClient, LiveCache
from tether.localcluster import LocalCluster
from tether.model.keys import ResourceKey


@pytest.fixture(scope="module")
async def private(local_cluster: LocalCluster) -> AsyncIterator[LocalCluster]:
    async with private_cluster("cache") as cluster:
        yield cluster


def configmap(name: str, namespace: str, value: str) -> dict[str, Any]:
    return manifests.configmap(name, {"v": value}, namespace=namespace)


async def test_relist_after_an_outage_tells_listeners_every_change(
    private: LocalCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tether.kube.cache")
    ns = "recovery"
    direct = KubeClient.from_kubeconfig(str(private.kubeconfig))
    proxy = CuttableProxy(api_port(private)).start()
    via_proxy = KubeClient.from_kubeconfig(
        str(proxy.kubeconfig(private.kubeconfig, tmp_path / "proxied.kubeconfig"))
    )
    cache = LiveCache(via_proxy, watch_timeout=30)
    events: list[tuple[str, str]] = []
    cache.add_listener(
        lambda event, obj: (
            events.append((event, obj["metadata"]["name"]))
            if obj["metadata"].get("namespace") == ns
            else None
        )
    )
    try:
        await direct.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for name in ("kept", "changed", "dropped"):
            await direct.apply(configmap(name, ns, "1"))
        await cache.watch_kind("v1", "ConfigMap")
        assert cache.connected
        assert cache.get(ResourceKey("", "ConfigMap", ns, "dropped")) is not None

        proxy.cut()
        lost = await wait_until(lambda: not cache.connected, 5, "the cache to notice the cut")
        print(f"\ncache reported the cut after {lost:.2f}s")
        events.clear()

        # Changes the watch cannot see; then an API server restart, after which our
        # resourceVersion is unknown to its watch cache: resuming is refused (410).
        await direct.apply(configmap("changed", ns, "2"))
        await direct.delete("v1", "ConfigMap", "dropped", ns)
        await direct.apply(configmap("added", ns, "1"))
        await private.stop_component("kube-apiserver")
        await private.start_component("kube-apiserver")
        assert not cache.connected
        assert events == []

        started = time.monotonic()
        proxy.restore()

        def told() -> bool:
            return {("MODIFIED", "changed"), ("DELETED", "dropped"), ("ADDED", "added")} <= set(
                events
            )

        await wait_until(told, 10, "synthesized events for every change")
        seen = time.monotonic() - started
        await wait_until(lambda: cache.connected, 5, "the cache to report connected")
        print(f"listeners told of the changes {seen:.2f}s after the API server answered")
        assert seen < 3.0, seen  # retries are capped at ~1s; the relist itself is fast
        assert sorted(events) == [
            ("ADDED", "added"),
            ("DELETED", "dropped"),
            ("MODIFIED", "changed"),
        ]  # nothing for the unchanged object
        changed = cache.get(ResourceKey("", "ConfigMap", ns, "changed"))
        assert changed is not None and changed["data"] == {"v": "2"}
        assert cache.get(ResourceKey("", "ConfigMap", ns, "dropped")) is None
        assert any("v1 ConfigMap: relisted;" in r.message for r in caplog.records)

        # And the watch that follows the relist delivers as usual.
        await direct.apply(configmap("kept", ns, "3"))
        await wait_until(lambda: ("MODIFIED", "kept") in events, 5, "a watch event after it")
    finally:
        await cache.close()
        proxy.stop()
        via_proxy.close()
        direct.close()
