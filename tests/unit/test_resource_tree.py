"""core/resource_tree: an app's objects in sync order (waves, then kind order) with
what their owners made below them, bounded in depth and breadth."""

from __future__ import annotations

from typing import Any

from tests.support.manifests import configmap, deployment
from tether.core.resource_tree import MAX_CHILDREN, owned_by, resource_tree
from tether.model.keys import ResourceKey
from tether.model.status import ResourceStatus


def with_uid(obj: dict[str, Any], uid: str, wave: str | None = None) -> dict[str, Any]:
    obj["metadata"]["uid"] = uid
    if wave is not None:
        obj["metadata"].setdefault("annotations", {})["tether.dev/sync-wave"] = wave
    return obj


def made(kind: str, name: str, owner_uid: str, uid: str = "", **extra: Any) -> dict[str, Any]:
    version = "v1" if kind == "Pod" else "apps/v1"
    meta = {"name": name, "namespace": "shop", "uid": uid or f"uid-{name}"}
    meta["ownerReferences"] = [{"uid": owner_uid, "kind": "x", "name": "x"}]
    return {"apiVersion": version, "kind": kind, "metadata": meta, **extra}


def status_of(obj: dict[str, Any]) -> ResourceStatus:
    key = ResourceKey.of(obj)
    return ResourceStatus.from_dict(
        {
            "group": key.group,
            "kind": key.kind,
            "namespace": key.namespace,
            "name": key.name,
            "status": "Synced",
        }
    )


def test_objects_come_in_sync_order_with_their_replicasets_and_pods_below() -> None:
    web = with_uid(deployment("web", namespace="shop"), "d1")
    settings = with_uid(configmap("settings", {}, namespace="shop"), "c1")
    late = with_uid(configmap("late", {}, namespace="shop"), "c2", wave="5")
    live = {ResourceKey.of(o): o for o in (web, settings, late)}
    replicas = made("ReplicaSet", "web-1", "d1", "rs1")
    running = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    pod = made("Pod", "web-1-a", "rs1", **running)
    stranger = made("Pod", "other", "someone-else")
    rows = resource_tree(
        [status_of(o) for o in (late, web, settings)], live, owned_by([replicas, pod, stranger])
    )
    assert [(r.depth, r.kind, r.name, r.wave) for r in rows] == [
        (0, "ConfigMap", "settings", 0),  # wave 0, ConfigMap before Deployment (kind order)
        (0, "Deployment", "web", 0),
        (1, "ReplicaSet", "web-1", 0),
        (2, "Pod", "web-1-a", 0),
        (0, "ConfigMap", "late", 5),  # a later wave after everything of wave 0
    ]
    assert rows[3].health == "Healthy" and rows[3].sync == "" and rows[3].resource is None
    assert rows[1].resource is not None and rows[1].sync == "Synced"


def test_without_live_objects_the_tree_is_the_list_in_kind_order() -> None:
    rows = resource_tree(
        [status_of(deployment("web", namespace="shop")), status_of(configmap("a", {}))], {}, {}
    )
    assert [r.kind for r in rows] == ["ConfigMap", "Deployment"]


def test_many_children_are_cut_and_counted_and_an_owner_cycle_ends() -> None:
    web = with_uid(deployment("web", namespace="shop"), "d1")
    pods = [made("Pod", f"p{n:03d}", "d1") for n in range(MAX_CHILDREN + 7)]
    # Two objects that each claim the other as owner: a hostile cluster cannot loop us.
    loop_a = made("ReplicaSet", "a", "rs-b", "rs-a")
    loop_b = made("ReplicaSet", "b", "rs-a", "rs-b")
    loop_a["metadata"]["ownerReferences"].append({"uid": "d1"})
    rows = resource_tree(
        [status_of(web)], {ResourceKey.of(web): web}, owned_by([*pods, loop_a, loop_b])
    )
    children = [r for r in rows if r.depth == 1]
    assert len(children) == MAX_CHILDREN + 1
    assert children[-1].more == 8 and children[-1].name == "… 8 more"
    assert len(rows) < 200
