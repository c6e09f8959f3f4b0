"""Run the controller with its Lease election and HTTP endpoints until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from tether.engine.compare import Engine
from tether.server.http import Probes, metrics_app, serve, webhook_app

from .leases import ShardLeases, new_identity
from .reconciler import Controller, ControllerOptions


async def run_controller(
    engine: Engine,
    options: ControllerOptions,
    *,
    lease_namespace: str,
    metrics_at: tuple[str, int],
    webhook_at: tuple[str, int],
    lease_duration: float,
    webhook_secret: Callable[[], str],
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    controller = Controller(engine, options)
    controller.held_shards.clear()  # work starts when a Lease is held
    leases = ShardLeases(
        engine.kube,
        lease_namespace,
        shards=options.shards,
        own_shard=options.shard,
        identity=new_identity(),
        duration=lease_duration,
        on_change=controller.set_shard_held,
    )
    probes = Probes(alive=lambda: True, ready=lambda: controller.ready)
    tasks = [
        asyncio.create_task(controller.run(), name="controller"),
        asyncio.create_task(_after(controller, leases), name="leases"),
        asyncio.create_task(
            serve(metrics_app(controller.metrics, probes), metrics_at, "metrics"), name="metrics"
        ),
        asyncio.create_task(
            serve(webhook_app(webhook_secret, controller.on_push), webhook_at, "webhooks"),
            name="webhooks",
        ),
    ]
    stopper = asyncio.create_task(stop.wait(), name="stop")
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await leases.release_all()
    for task in tasks:
        if task in done and not task.cancelled():
            error = task.exception()
            if error is not None:
                raise error


async def _after(controller: Controller, leases: ShardLeases) -> None:
    """Elect only once the controller watches (the CRD may be installed by it first)."""
    await controller.started.wait()
    await leases.run()
