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


async def wait_for_apps(
    engine: Engine,
    apps: Sequence[Application],
    *,
    want_sync: bool,
    want_health: bool,
    timeout: float,
    interval: float = 1.0,
) -> list[str]:
    """Returns `name: reason` for every app still not ready when `timeout` ran out."""
    current = list(apps)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    first = True
    while True:
        waiting = []
        for i, app in enumerate(current):
            result = await refresh(engine, app, fetch=first)
            if result.status is not None:
                current[i] = await get_app(engine.home_kube, app.namespace, app.name)
            reason = not_ready(result, want_sync, want_health)
            if reason:
                waiting.append(f"{app.name}: {reason}")
        first = False
        if not waiting or loop.time() > deadline:
            return waiting
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
