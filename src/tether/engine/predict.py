"""What the API server would make of each manifest: the server-side dry-run of every
desired object that exists (cached per manifest and live copy), an immutable-field
rejection told apart from any other."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from tether.errors import ClusterError, InputError
from tether.kube import KubeClient
from tether.model.application import (
    FIELD_MANAGER,
)
from tether.model.keys import ResourceKey

from .hints import rejection_hint
from .runtime import (
    Engine,
    PredictionCache,
)


async def predict_existing(
    engine: Engine,
    app_name: str,
    writer: KubeClient,
    desired: Sequence[dict[str, Any]],
    live: Mapping[ResourceKey, dict[str, Any]],
    *,
    use_cache: bool,
) -> dict[ResourceKey, dict[str, Any]]:
    """Server-side dry-run apply of every desired object that exists (creates need no call)."""

    async def dry_run(obj: dict[str, Any]) -> tuple[ResourceKey, dict[str, Any] | None]:
        key = ResourceKey.of(obj)
        cache_key = PredictionCache.cache_key(obj, live[key])
        cached = engine.predictions.get(cache_key, live[key], obj) if use_cache else None
        if cached is not None:
            return key, cached
        try:
            predicted = await writer.apply(obj, field_manager=FIELD_MANAGER, dry_run=True)
        except ClusterError as exc:
            if is_immutable_field_error(exc):
                # An apply cannot make this change (only a recreate can): compare without
                # a prediction, the object shows OutOfSync and the sync explains --force.
                return key, None
            fix = rejection_hint(exc, app=app_name, impersonated=writer.impersonated)
            raise InputError(
                f"{key}: the API server rejected the manifest: {exc.message}",
                hint=f"{fix} (server-side dry-run failed)",
            ) from exc
        engine.predictions.put(cache_key, predicted)
        return key, predicted

    existing = [o for o in desired if ResourceKey.of(o) in live]
    results = await asyncio.gather(*(dry_run(o) for o in existing))
    return {key: predicted for key, predicted in results if predicted is not None}


def is_immutable_field_error(exc: ClusterError) -> bool:
    return exc.status == 422 and "immutable" in exc.message
