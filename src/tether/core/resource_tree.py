"""An app's objects as a tree in sync order (pure): the objects Git declares, by sync
wave and then the kind order a sync applies them in, each with what Kubernetes made
from it below (owner references: a Deployment's ReplicaSets and their Pods, a
CronJob's Jobs), with health and message. The app page draws it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.core.health import assess_health
from tether.core.plan import KIND_ORDER, KIND_RANK, wave_of
from tether.model.keys import ResourceKey
from tether.model.status import ResourceStatus

MAX_DEPTH = 3  # Deployment -> ReplicaSet -> Pod; CronJob -> Job -> Pod
MAX_CHILDREN = 50  # per object: a ReplicaSet of 500 Pods shows 50 and says how many more


@dataclass(frozen=True)
class TreeNode:
    kind: str
    namespace: str
    name: str
    depth: int  # 0: an object of the app; 1 and below: made by its owner
    wave: int
    sync: str  # "" for an object Kubernetes made (Git does not declare it)
    health: str
    message: str
    resource: ResourceStatus | None  # the app's own objects: sync, drift, writer
    more: int = 0  # children left out past MAX_CHILDREN

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def owned_by(objects: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The objects by the uid of each owner they name."""
    index: dict[str, list[Mapping[str, Any]]] = {}
    for obj in objects:
        for owner in (obj.get("metadata") or {}).get("ownerReferences") or ():
            uid = owner.get("uid") if isinstance(owner, Mapping) else None
            if uid:
                index.setdefault(str(uid), []).append(obj)
    return index


def _order(resource: ResourceStatus, live: Mapping[str, Any] | None) -> tuple[Any, ...]:
    rank = KIND_RANK.get(resource.kind, len(KIND_ORDER))
    wave = wave_of(live) if live is not None else 0
    return (wave, rank, resource.kind, resource.namespace, resource.name)


def resource_tree(
    resources: Sequence[ResourceStatus],
    live: Mapping[ResourceKey, Mapping[str, Any]],
    children: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[TreeNode]:
    """Depth-first rows: each of the app's objects (sync order), then its descendants."""
    rows: list[TreeNode] = []
    for resource in sorted(resources, key=lambda r: _order(r, live.get(r.key))):
        obj = live.get(resource.key)
        health = resource.health
        rows.append(
            TreeNode(
                kind=resource.kind,
                namespace=resource.namespace,
                name=resource.name,
                depth=0,
                wave=wave_of(obj) if obj is not None else 0,
                sync=resource.status.value,
                health=health.status.value if health is not None else "",
                message=(health.message or "") if health is not None else "",
                resource=resource,
            )
        )
        if obj is not None:
            _descend(obj, children, 1, rows, seen=set())
    return rows


def _descend(
    parent: Mapping[str, Any],
    children: Mapping[str, Sequence[Mapping[str, Any]]],
    depth: int,
    rows: list[TreeNode],
    seen: set[str],
) -> None:
    uid = str((parent.get("metadata") or {}).get("uid") or "")
    if not uid or uid in seen or depth > MAX_DEPTH:
        return
    seen.add(uid)  # an owner-reference cycle (a hostile object can claim any owner) ends
    # By kind, then newest first (the ReplicaSet of the current rollout on top), by name.
    made = sorted(children.get(uid, ()), key=lambda o: _meta(o, "name"))
    made.sort(key=lambda o: _meta(o, "creationTimestamp"), reverse=True)
    made.sort(key=lambda o: str(o.get("kind", "")))
    for n, child in enumerate(made):
        if n == MAX_CHILDREN:
            last = rows[-1]
            rows.append(_more(last, len(made) - MAX_CHILDREN, depth))
            return
        meta = child.get("metadata") or {}
        health = assess_health(child)
        rows.append(
            TreeNode(
                kind=str(child.get("kind", "")),
                namespace=str(meta.get("namespace") or ""),
                name=str(meta.get("name", "")),
                depth=depth,
                wave=0,
                sync="",
                health=health.status.value if health is not None else "",
                message=health.message if health is not None else "",
                resource=None,
            )
        )
        _descend(child, children, depth + 1, rows, seen)


def _meta(obj: Mapping[str, Any], field: str) -> str:
    return str((obj.get("metadata") or {}).get(field) or "")


def _more(last: TreeNode, count: int, depth: int) -> TreeNode:
    return TreeNode(
        kind=last.kind,
        namespace=last.namespace,
        name=f"… {count} more",
        depth=depth,
        wave=0,
        sync="",
        health="",
        message="",
        resource=None,
        more=count,
    )


__all__ = ["MAX_CHILDREN", "MAX_DEPTH", "TreeNode", "owned_by", "resource_tree"]
