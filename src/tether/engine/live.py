"""The live side of a compare: the objects an app tracks (from the watch cache, by
tracking id, with the kinds its manifests name watched first; for a detect-only app
imported from Argo CD or Flux, also by that tool's marks), which of them another app or
nobody created, and the scopes the app's Project allows."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from tether.core.plan import sync_options
from tether.errors import ClusterError
from tether.kube import KubeClient
from tether.model.application import (
    Application,
    tracking_id_of,
)
from tether.model.foreign import parse_foreign_app
from tether.model.keys import ResourceKey
from tether.model.names import IMPORTED_FROM_ANNOTATION

from .runtime import (
    Engine,
)


async def allowed_scopes(
    kube: KubeClient, objects: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, str], bool]:
    """Namespaced-or-not for every kind in the render that the cluster serves."""
    kinds = {(str(o.get("apiVersion", "")), str(o.get("kind", ""))) for o in objects}

    async def lookup(api_version: str, kind: str) -> tuple[tuple[str, str], bool] | None:
        try:
            info = await kube.resource(api_version, kind)
        except ClusterError as exc:
            if exc.status == 404:
                return None
            raise
        return (info.group, info.kind), info.namespaced

    found = await asyncio.gather(*(lookup(a, k) for a, k in sorted(kinds)))
    return dict(item for item in found if item is not None)


async def live_objects(
    engine: Engine, app: Application, desired: Sequence[dict[str, Any]]
) -> tuple[dict[ResourceKey, dict[str, Any]], dict[ResourceKey, str], dict[ResourceKey, str]]:
    """Live counterparts of the desired objects plus every other object tracked as ours;
    which of them another app manages; which exist without being tether's at all."""
    kinds: set[tuple[str, str]] = set()
    for obj in desired:
        kinds.add((str(obj["apiVersion"]), str(obj["kind"])))
    for res in app.status.resources if app.status else ():
        if res.version:
            api_version = f"{res.group}/{res.version}" if res.group else res.version
            kinds.add((api_version, res.kind))

    async def watch(api_version: str, kind: str) -> None:
        try:
            await engine.cache.watch_kind(api_version, kind)
        except ClusterError as exc:
            if exc.status != 404:  # kinds whose CRD is not installed yet have no live objects
                raise

    await asyncio.gather(*(watch(a, k) for a, k in sorted(kinds)))
    live: dict[ResourceKey, dict[str, Any]] = {}
    shared: dict[ResourceKey, str] = {}
    unmanaged: dict[ResourceKey, str] = {}
    adopt_all = app.spec.sync_policy.option_enabled("Adopt")
    # The cache holds each kind in the version it first watched; an object whose manifest
    # uses another served version is read in that version, so that a conversion is never
    # mistaken for drift (autoscaling/v1 vs v2 HPAs).
    skewed = [
        o
        for o in desired
        if (cached := engine.cache.get(ResourceKey.of(o))) is not None
        and cached.get("apiVersion") != o.get("apiVersion")
    ]
    converted = dict(
        zip(
            [ResourceKey.of(o) for o in skewed],
            await asyncio.gather(
                *(
                    engine.kube.get(
                        str(o["apiVersion"]),
                        str(o["kind"]),
                        str(o["metadata"]["name"]),
                        o["metadata"].get("namespace"),
                    )
                    for o in skewed
                )
            ),
            strict=True,
        )
    )
    for obj in desired:
        key = ResourceKey.of(obj)
        found = converted[key] if key in converted else engine.cache.get(key)
        if found is None:
            continue
        owner = tracking_id_of(found)
        if owner is not None and not owner.belongs_to(app.namespace, app.name):
            shared[key] = f"{owner.app_namespace}/{owner.app_name}"
        elif owner is None and not (
            adopt_all or (sync_options(obj).get("Adopt") or "").lower() == "true"
        ):
            unmanaged[key] = f"was not created by tether ({_creator(found)})"
        live[key] = found
    for key, obj in engine.cache.tracked_by(f"{app.namespace}/{app.name}").items():
        owner = tracking_id_of(obj)
        if owner is not None and owner.belongs_to(app.namespace, app.name):
            live.setdefault(key, obj)
    # Detect-only, imported from Argo CD or Flux: what that tool marks as this app's is
    # tracked too, so an object deleted from Git but left in the cluster is reported.
    origin = parse_foreign_app(app.annotations.get(IMPORTED_FROM_ANNOTATION))
    if app.spec.detect_only and origin is not None:
        for mark in origin.marks():
            for key, obj in engine.cache.marked(mark).items():
                if key not in live and tracking_id_of(obj) is None:
                    live[key] = obj
                    unmanaged[key] = f"is managed by {origin}"
    return live, shared, unmanaged


def _creator(obj: Mapping[str, Any]) -> str:
    """Who wrote the object first, from managedFields (for the AdoptionRequired message)."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    managers = [str(e.get("manager")) for e in entries if e.get("manager")]
    return f"written by {managers[0]}" if managers else "no tracking id"
