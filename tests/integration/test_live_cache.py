"""The live cache lists and then watches: changes arrive without polling."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import manifests
from tests.support.tokens import service_account_token
from tests.support.waiting import eventually
from tether.errors import ClusterError
from tether.kube import KubeClient, LiveCache
from tether.model.cluster import ClusterAccess
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


async def test_a_cache_limited_to_namespaces_works_with_credentials_that_may_read_no_more(
    kube: KubeClient, kubeconfig: str, namespace: str
) -> None:
    """A registration's `namespaces`: the watches list and watch in those namespaces only,
    so a ServiceAccount with Roles there (and no cluster-wide read) is enough."""
    other, outside = f"{namespace}-b", f"{namespace}-c"
    for ns in (other, outside):
        await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    token = await service_account_token(kube, namespace, "reader")
    for ns in (namespace, other):
        await kube.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "read-configmaps", "namespace": ns},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["configmaps"],
                        "verbs": ["get", "list", "watch"],
                    }
                ],
            }
        )
        await kube.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "reader", "namespace": ns},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "read-configmaps",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
            }
        )
    for ns in (namespace, other, outside):
        await kube.apply(configmap(f"in-{ns}", ns, None))
    session = yaml.safe_load(Path(kubeconfig).read_text())
    ca = base64.b64decode(session["clusters"][0]["cluster"]["certificate-authority-data"])
    access = ClusterAccess(name="self", server=kube.server, bearer_token=token, ca_data=ca)
    reader = KubeClient.from_access(access)
    limited = LiveCache(reader, watch_timeout=30, namespaces=(namespace, other))
    everywhere = LiveCache(reader, watch_timeout=30)
    try:
        await limited.watch_kind("v1", "ConfigMap")
        names = {o["metadata"]["name"] for o in limited.objects("", "ConfigMap")}
        assert {f"in-{namespace}", f"in-{other}"} <= names
        assert f"in-{outside}" not in names
        assert limited.watched("", "ConfigMap") and limited.connected
        await kube.apply(configmap("later", other, None))

        async def seen() -> bool:
            return limited.get(ResourceKey("", "ConfigMap", other, "later")) is not None

        await eventually(seen, timeout=5, what="a watch event in the second namespace")
        assert limited.get(ResourceKey("", "ConfigMap", namespace, f"in-{namespace}"))
        # Without the limit the same credentials are refused: the list is cluster-wide.
        with pytest.raises(ClusterError) as refused:
            await everywhere.watch_kind("v1", "ConfigMap")
        assert refused.value.status == 403
    finally:
        await limited.close()
        await everywhere.close()
        reader.close()
        for ns in (other, outside):
            await kube.delete("v1", "Namespace", ns)
