"""The live cache lists and then watches: changes arrive without polling."""

from __future__ import annotations

from typing import Any

from tests.support import manifests
from tests.support.waiting import eventually
from tether.kube import KubeClient, LiveCache
from tether.model.keys import ResourceKey


def configmap(name: str, namespace: str, app: str | None, value: str = "1") -> dict[str, Any]:
    tracking = {"tether.dev/tracking-id": f"{app}:/ConfigMap:{namespace}/{name}"} if app else None
    return manifests.configmap(name, {"v": value}, namespace=namespace, annotations=tracking)


async def test_list_then_watch_updates_and_tracking_index(kube: KubeClient, namespace: str) -> None:
    await kube.apply(configmap("before", namespace, "tether-system/shop"))
    cache = LiveCache(kube, watch_timeout=30)
    events: list[tuple[str, str]] = []
    cache.add_listener(lambda event, obj: events.append((event, obj["metadata"]["name"])))
    try:
        await cache.watch_kind("v1", "ConfigMap")
        before = ResourceKey("", "ConfigMap", namespace, "before")
        assert cache.get(before) is not None  # from the initial list
        assert before in cache.tracked_by("tether-system/shop")

        await kube.apply(configmap("after", namespace, "tether-system/shop", "2"))
        after = ResourceKey("", "ConfigMap", namespace, "after")

        async def seen() -> bool:
            return cache.get(after) is not None

        await eventually(seen, timeout=5, what="watch event for a new ConfigMap")
        assert set(cache.tracked_by("tether-system/shop")) >= {before, after}

        await kube.apply(configmap("after", namespace, "tether-system/other", "3"))

        async def moved() -> bool:
            return after in cache.tracked_by("tether-system/other")

        await eventually(moved, timeout=5, what="tracking index follows an annotation change")
        assert after not in cache.tracked_by("tether-system/shop")

        await kube.delete("v1", "ConfigMap", "before", namespace)

        async def gone() -> bool:
            return cache.get(before) is None

        await eventually(gone, timeout=5, what="watch DELETED event")
        assert ("DELETED", "before") in events
        assert before not in cache.tracked_by("tether-system/shop")
    finally:
        await cache.close()


async def test_discovery_preferred_versions_and_scope(kube: KubeClient) -> None:
    assert await kube.preferred_version("apps") == "v1"
    assert await kube.preferred_version("") == "v1"
    assert await kube.preferred_version("no.such.group") is None
    deploy = await kube.resource("apps/v1", "Deployment")
    assert deploy.namespaced and deploy.plural == "deployments" and "patch" in deploy.verbs
    ns = await kube.resource("v1", "Namespace")
    assert not ns.namespaced and ns.path(name="x") == "/api/v1/namespaces/x"
