"""Run the controller with its Lease election and HTTP endpoints until SIGTERM/SIGINT.

Probes tell the truth: `/readyz` is 503 while the watches cannot reach the API server
(the controller would act on a stale picture), `/healthz` is 503 when the work loop is
stuck (see liveness.py).

Shutdown is bounded by the grace period: on the first SIGTERM/SIGINT every task is
cancelled and the Leases are released (so a peer takes over at once); whatever is still
running when the grace period ends - a reconcile blocked in a thread, an API server
that takes the release request and never answers - is abandoned by a hard exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import FrameType
from typing import Any

from tether.engine.compare import Engine
from tether.engine.dashboard_access import KubernetesAccess
from tether.engine.dashboard_actions import run_action
from tether.engine.watched_apps import WatchedApplications
from tether.kube import credential_files
from tether.server.dashboard import dashboard_app
from tether.server.http import Probes, bind_listener, metrics_app, serve, webhook_app
from tether.server.ratelimit import ReadLimit

from .leases import ShardLeases, new_identity
from .liveness import Liveness, LivenessLimits
from .notify_wiring import connect_notifier
from .reconciler import Controller, ControllerOptions

log = logging.getLogger(__name__)

DEFAULT_GRACE_PERIOD = 30.0
EXIT_AFTER_SIGNAL = 0  # a stop asked for by a signal is a normal end, graceful or not
THREAD_LINGER = 0.5  # seconds given to worker threads to finish after the loop closed


class Shutdown:
    """Turns the first SIGTERM/SIGINT into a graceful stop with a deadline, enforced from
    a thread (so it holds even when the event loop itself is blocked); a second signal
    exits at once."""

    def __init__(self, grace_period: float) -> None:
        self.grace_period = grace_period
        self.requested = threading.Event()
        self._wake: Callable[[], object] = lambda: None
        self._timer: threading.Timer | None = None
        self._previous: dict[int, Any] = {}

    def install(self, wake: Callable[[], object]) -> None:
        # A plain signal handler, not loop.add_signal_handler: it runs in the main thread
        # between bytecodes even while a callback on the loop never returns.
        self._wake = wake
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def cancel_deadline(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            exit_hard(f"second {name} during shutdown")
        self.requested.set()
        log.info("%s: shutting down (grace period %gs)", name, self.grace_period)
        self._timer = threading.Timer(
            self.grace_period,
            exit_hard,
            (f"shutdown not finished within the {self.grace_period:g}s grace period",),
        )
        self._timer.daemon = True
        self._timer.start()
        self._wake()


def exit_hard(reason: str, level: int = logging.ERROR) -> None:
    """End the process now, whatever its threads are doing (logs are flushed first, the
    kubeconfig's credential files removed: no atexit handler runs after this)."""
    log.log(level, "%s: exiting now", reason)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    credential_files.remove()
    os._exit(EXIT_AFTER_SIGNAL)


async def run_controller(
    engine: Engine,
    options: ControllerOptions,
    *,
    lease_namespace: str,
    metrics_at: tuple[str, int],
    webhook_at: tuple[str, int],
    lease_duration: float,
    webhook_secret: Callable[[], str],
    ui: DashboardServing | None = None,
    dashboard_url: str = "",
    shutdown: Shutdown | None = None,
    liveness_limits: LivenessLimits | None = None,
) -> None:
    shutdown = shutdown or Shutdown(DEFAULT_GRACE_PERIOD)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    shutdown.install(lambda: loop.call_soon_threadsafe(stop.set))
    try:
        await _run(
            engine,
            options,
            stop,
            shutdown.grace_period,
            lease_namespace=lease_namespace,
            metrics_at=metrics_at,
            webhook_at=webhook_at,
            ui=ui,
            dashboard_url=dashboard_url,
            lease_duration=lease_duration,
            webhook_secret=webhook_secret,
            liveness_limits=liveness_limits or LivenessLimits(),
        )
    finally:
        shutdown.uninstall()


async def _run(
    engine: Engine,
    options: ControllerOptions,
    stop: asyncio.Event,
    grace_period: float,
    *,
    lease_namespace: str,
    metrics_at: tuple[str, int],
    webhook_at: tuple[str, int],
    ui: DashboardServing | None,
    lease_duration: float,
    webhook_secret: Callable[[], str],
    liveness_limits: LivenessLimits,
    dashboard_url: str,
) -> None:
    loop = asyncio.get_running_loop()
    # The ports first: a taken one is one clear line before anything talks to the cluster.
    metrics_listener = bind_listener(metrics_at, "metrics")
    webhook_listener = bind_listener(webhook_at, "webhooks")
    ui_listener = bind_listener(ui.address, "dashboard") if ui is not None else None
    controller = Controller(engine, options)
    controller.held_shards.clear()  # work starts when a Lease is held
    notifier = connect_notifier(controller, engine, lease_namespace, dashboard_url)
    leases = ShardLeases(
        engine.kube,
        lease_namespace,
        shards=options.shards,
        own_shard=options.shard,
        identity=new_identity(),
        duration=lease_duration,
        on_change=controller.set_shard_held,
    )
    liveness = Liveness(liveness_limits, controller.reconcile_started)
    probes = Probes(alive=liveness.alive, ready=lambda: controller.ready and engine.cache.connected)
    tasks = [
        asyncio.create_task(controller.run(), name="controller"),
        asyncio.create_task(_after(controller, leases), name="leases"),
        asyncio.create_task(liveness.heartbeat(), name="heartbeat"),
        asyncio.create_task(notifier.run(), name="notifier"),
        asyncio.create_task(
            serve(
                metrics_app(controller.metrics, probes),
                metrics_at,
                "metrics",
                listener=metrics_listener,
            ),
            name="metrics",
        ),
        asyncio.create_task(
            serve(
                webhook_app(webhook_secret, controller.on_push),
                webhook_at,
                "webhooks",
                listener=webhook_listener,
            ),
            name="webhooks",
        ),
    ]
    if ui is not None:
        apps = WatchedApplications(engine, options.app_namespace)
        serving = _serve_ui(engine, apps, ui, ui_listener)
        tasks.append(asyncio.create_task(serving, name="dashboard"))
    stopper = asyncio.create_task(stop.wait(), name="stop")
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    deadline = loop.time() + grace_period
    for task in tasks:
        task.cancel()
    # Most of the grace period may go to the tasks' cleanup; the Lease release keeps a
    # share, and what runs past either budget is left behind.
    reserve = min(5.0, grace_period / 3)
    pending = {t for t in tasks if not t.done()}
    if pending:
        _, pending = await asyncio.wait(pending, timeout=max(deadline - reserve - loop.time(), 0))
    if pending:
        log.warning(
            "shutdown: %s still running, left behind", ", ".join(t.get_name() for t in pending)
        )
    try:
        await asyncio.wait_for(leases.release_all(), timeout=max(deadline - loop.time() - 1, 0.1))
    except TimeoutError:
        log.warning("shutdown: Leases not released (the API server did not answer in time)")
    stopper.cancel()
    for task in tasks:
        if task in done and not task.cancelled():
            error = task.exception()
            if error is not None:
                raise error


@dataclass(frozen=True)
class DashboardServing:
    """`--ui-addr` and `--ui-auth`: where the /ui listens and whether it takes actions."""

    address: tuple[str, int]
    writes: bool = False  # actions for callers that TokenReview + SubjectAccessReview admit


async def _serve_ui(
    engine: Engine,
    apps: WatchedApplications,
    ui: DashboardServing,
    listener: socket.socket | None,
) -> None:
    """The pages and the JSON API. Never a compare on request (an anonymous reader must
    not make the controller dry-run every object of an app) and a read rate limit per
    client; actions only with `writes`, for callers the cluster's RBAC allows."""
    await apps.start()
    page = dashboard_app(
        apps,
        compare_on_request=False,
        actions=functools.partial(run_action, engine) if ui.writes else None,
        auth=KubernetesAccess(engine.kube) if ui.writes else None,
        read_limit=ReadLimit(),
    )
    await serve(page, ui.address, "dashboard", listener=listener)


async def _after(controller: Controller, leases: ShardLeases) -> None:
    """Elect only once the controller watches (the CRD may be installed by it first)."""
    await controller.started.wait()
    await leases.run()


def run_until_stopped(main: Coroutine[Any, Any, None], shutdown: Shutdown) -> None:
    """Like asyncio.run, except that a stop asked for by a signal does not wait for
    worker threads still blocked in I/O (a request to an API server that stopped
    answering runs until its own timeout): once the loop is done, the process ends."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main)
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()  # the default executor is shut down without waiting
    if not shutdown.requested.is_set():
        return
    # Idle pool threads leave at once; a thread still inside a request after a moment
    # is blocked (its own timeout may be far away) and not waited for.
    until = time.monotonic() + THREAD_LINGER
    for thread in threading.enumerate():
        if not thread.daemon and thread is not threading.main_thread():
            thread.join(timeout=max(until - time.monotonic(), 0))
    shutdown.cancel_deadline()
    blocked = [t for t in threading.enumerate() if not t.daemon and t.is_alive()]
    blocked = [t for t in blocked if t is not threading.main_thread()]
    if blocked:
        exit_hard(f"shutdown done, {len(blocked)} thread(s) still blocked in I/O", logging.INFO)
    log.info("shutdown done")
