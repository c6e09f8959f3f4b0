"""The health gate of a sync (waves before the last, and the last one when the CLI asks):
wait until every object of a wave is Healthy or Suspended, Degraded fails at once; a CRD
waits until it is Established."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tether.core.health import (
    CustomHealthRule,
    HealthStatus,
)
from tether.core.plan import SyncTask
from tether.kube import KubeClient
from tether.model.keys import ResourceKey

from .compare import (
    Engine,
)
from .sync_errors import SyncFailed
from .waiting import WaitedFor, Waiting

CRD_KIND = "CustomResourceDefinition"


async def wait_established(kube: KubeClient, name: str, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        crd = await kube.get("apiextensions.k8s.io/v1", CRD_KIND, name)
        conditions = ((crd or {}).get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        if loop.time() > deadline:
            raise SyncFailed(
                f"CustomResourceDefinition {name} not Established after {timeout:.0f}s"
            )
        await asyncio.sleep(0.2)


async def wait_healthy(
    engine: Engine,
    tasks: Iterable[SyncTask],
    label: str,
    rules: Sequence[CustomHealthRule] = (),
    applied_versions: Mapping[ResourceKey, int] | None = None,
    *,
    waiting: Waiting | None = None,
) -> None:
    """Wait until every object of the wave is Healthy (or Suspended); Degraded fails now.
    `waiting` is kept current with what is still awaited and why (for a timeout's message).
    (Hooks are waited for by hooks.wait_for_hooks.)

    The watch cache may still hold the copy from before our apply; an object is only
    judged once the copy at hand is at least as new as what the apply stored.
    """
    versions = applied_versions or {}
    pending = list(tasks)
    while pending:
        still: list[SyncTask] = []
        lives: list[dict[str, Any] | None] = []
        for task in pending:
            lives.append(await engine.live_copy(task.obj, at_least=versions.get(task.key, 0)))
        present = [live for live in lives if live is not None]
        assessed = iter(await engine.evaluator.assess_health(present, rules, what=label))
        if waiting is not None:
            waiting.clear()
        for task, live in zip(pending, lives, strict=True):
            health = next(assessed) if live is not None else None
            if live is None or (
                health is not None
                and health.status
                in (HealthStatus.PROGRESSING, HealthStatus.UNKNOWN, HealthStatus.MISSING)
            ):
                still.append(task)
                if waiting is not None:
                    waiting[task.key] = WaitedFor(
                        live,
                        "not found yet"
                        if live is None or health is None
                        else f"{health.status.value}: {health.message}".rstrip(": "),
                    )
            elif health is not None and health.status is HealthStatus.DEGRADED:
                raise SyncFailed(f"{label}: {task.key} is Degraded: {health.message}")
        pending = still
        if pending:
            await asyncio.sleep(0.25)
