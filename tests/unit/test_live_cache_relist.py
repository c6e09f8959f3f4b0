"""What a relist tells the cache's listeners (pure part of tether.kube.cache)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tether.kube.cache import LiveCache, relist_events
from tether.model.keys import ResourceKey


def cm(name: str, rv: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
    }


def store(*objs: dict[str, Any]) -> dict[ResourceKey, dict[str, Any]]:
    return {ResourceKey.of(o): o for o in objs}


def test_every_difference_becomes_an_event_and_nothing_else() -> None:
    old = store(cm("kept", "1"), cm("changed", "2"), cm("dropped", "3"))
    fresh = store(cm("kept", "1"), cm("changed", "7"), cm("added", "8"))
    events = relist_events(old, fresh)
    assert sorted(
        (e, o["metadata"]["name"], o["metadata"]["resourceVersion"]) for e, o in events
    ) == [
        ("ADDED", "added", "8"),
        ("DELETED", "dropped", "3"),  # the last object the cache knew
        ("MODIFIED", "changed", "7"),  # the new object
    ]


def test_an_unchanged_relist_is_silent() -> None:
    objs = store(cm("a", "1"), cm("b", "2"))
    assert relist_events(objs, dict(objs)) == []
    assert relist_events({}, {}) == []


def test_the_foreign_mark_index_follows_each_version_of_an_object() -> None:
    cache = LiveCache(SimpleNamespace())  # type: ignore[arg-type]  # the store only
    marked = cm("a", "1")
    marked["metadata"]["labels"] = {"app.kubernetes.io/instance": "web"}
    cache._put(marked)
    assert list(cache.marked("argocd:web")) == [ResourceKey.of(marked)]
    relabelled = cm("a", "2")
    relabelled["metadata"]["labels"] = {"app.kubernetes.io/instance": "api"}
    cache._put(relabelled)
    assert cache.marked("argocd:web") == {} and len(cache.marked("argocd:api")) == 1
    cache._remove(relabelled)
    assert cache.marked("argocd:api") == {}
