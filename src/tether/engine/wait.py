"""Wait until applications are Synced and/or Healthy, comparing on every round.

Comparing here (instead of reading status a controller writes) makes `app wait` and
`revert --wait` work with or without a controller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tether.model.application import Application

from .apps import get_app
from .compare import Comparison, Engine, refresh

# Compares at once: enough to keep the API server busy, few enough that 1,000 apps do
# not open 1,000 connections (objects are read from the engine's shared watch cache).
PARALLEL_COMPARES = 8


async def wait_for_apps(
    engine: Engine,
    apps: Sequence[Application],
    *,
    want_sync: bool,
    want_health: bool,
    timeout: float,
    interval: float = 1.0,
) -> list[str]:
    """Returns `name: reason` for every app still not ready when `timeout` ran out.

    An app is done once it was ready (as `kubectl wait` treats each object): later
    rounds compare only the others, so a round costs what is still moving."""
    pending = {(app.namespace, app.name): app for app in apps}
    reasons: dict[tuple[str, str], str] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    limit = asyncio.Semaphore(PARALLEL_COMPARES)
    first = True

    async def check(key: tuple[str, str], app: Application, fetch: bool) -> None:
        async with limit:
            result = await refresh(engine, app, fetch=fetch)
            reason = not_ready(result, want_sync, want_health)
            if not reason:
                del pending[key]
                reasons.pop(key, None)
                return
            reasons[key] = reason
            if result.status is not None:  # written: the next round needs the new version
                pending[key] = await get_app(engine.home_kube, app.namespace, app.name)

    while True:
        if first and pending:
            # One fetch per repository: the first app of each fetches, the rest reuse it.
            seen: set[str] = set()
            fetching = []
            for key, app in list(pending.items()):
                url = app.spec.source.repo_url
                fetching.append((key, app, url not in seen))
                seen.add(url)
            await asyncio.gather(*(check(k, a, f) for k, a, f in fetching if f))
            await asyncio.gather(*(check(k, a, False) for k, a, f in fetching if not f))
        else:
            await asyncio.gather(*(check(k, a, False) for k, a in list(pending.items())))
        first = False
        if not pending or loop.time() > deadline:
            return [f"{name}: {reasons[(ns, name)]}" for ns, name in sorted(pending)]
        await asyncio.sleep(interval)


def not_ready(result: Comparison, want_sync: bool, want_health: bool) -> str:
    if result.error is not None:
        return f"comparison failed: {result.error.message}"
    assert result.diff is not None and result.app_health is not None
    problems = []
    if want_sync and not result.diff.in_sync:
        problems.append(f"{len(result.diff.out_of_sync)} objects OutOfSync")
    if want_health and str(result.app_health.status) != "Healthy":
        problems.append(f"{result.app_health.status}: {result.app_health.message}")
    return "; ".join(problems)
