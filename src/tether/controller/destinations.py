"""The engine of each destination cluster: the controller's own for apps that deploy
where it runs, and one per registered cluster (model/cluster.py) for the others, made on
first use, with its own watch cache whose events queue the apps as the own cache does.

Registrations are the cluster Secrets of the controller's namespace (tether's and Argo
CD's labels), read again when a destination is not known or every CLUSTER_SECONDS; a
registration whose server or credentials changed gets a new engine. A destination that
is not registered, or whose registration is refused, fails the app's compare with the
reason (nothing is synced, nothing pruned); so does one whose watches lost contact
(ClusterUnreachable), until they are back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tether.engine.clusters import cluster_secrets
from tether.engine.compare import Engine
from tether.errors import InputError, TetherError, UnreachableError
from tether.kube import KubeClient, LiveCache
from tether.model.application import Application
from tether.model.cluster import (
    ClusterAccess,
    ClusterPolicy,
    deploys_elsewhere,
    parse_cluster_secret,
    select_cluster,
)

CLUSTER_SECONDS = 10.0
CONTACT_CHECK_SECONDS = 2.0  # between looks at the destination clusters' watches

Listener = Callable[[str, dict[str, Any]], None]


class Destinations:
    def __init__(
        self,
        engine: Engine,
        namespace: str,
        on_event: Listener,
        policy: ClusterPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.namespace = namespace  # where the cluster Secrets are read
        self.on_event = on_event
        self.policy = policy or ClusterPolicy()
        self._registered: list[ClusterAccess] = []
        self._problems: dict[str, str] = {}  # cluster name -> why its Secret is refused
        self._read_at = -CLUSTER_SECONDS
        self._engines: dict[str, tuple[ClusterAccess, Engine]] = {}
        self._connected: dict[str, bool] = {}  # cluster name -> in contact at the last look

    def is_local(self, app: Application) -> bool:
        destination = app.spec.destination
        return not deploys_elsewhere(destination.name, destination.server, self.engine.kube.server)

    async def engine_for(self, app: Application) -> Engine:
        if self.is_local(app):
            return self.engine
        destination = app.spec.destination
        access = await self._lookup(destination.name or "", destination.server or "")
        key = access.name
        known = self._engines.get(key)
        if known is not None and known[0] == access:
            if not known[1].cache.connected:
                # Its watches lost the server: the cache is stale, and a compare from it
                # would call drift what is only silence. Unknown, and nothing pruned.
                raise UnreachableError(
                    f"cluster {access.name} ({access.server}) unreachable: its watches lost"
                    " contact",
                    hint="tether cluster list",
                )
            return known[1]
        if known is not None:
            await _close(known[1])  # a new server or new credentials: start over
        kube = KubeClient.from_access(access)
        cache = LiveCache(kube)
        cache.add_listener(self.on_event)
        engine = self.engine.for_destination(kube, cache)
        self._engines[key] = (access, engine)
        return engine

    async def _lookup(self, name: str, server: str) -> ClusterAccess:
        found = select_cluster(self._registered, server=server, name=name)
        if found is None or time.monotonic() - self._read_at >= CLUSTER_SECONDS:
            await self._read()
            found = select_cluster(self._registered, server=server, name=name)
        if found is not None:
            return found
        wanted = name or server
        problem = self._problems.get(wanted)
        if problem:
            raise InputError(problem)
        raise InputError(
            f"destination {wanted}: no cluster registered by that "
            + ("name" if name else "server")
            + f" in namespace {self.namespace}",
            hint="tether cluster add NAME --kubeconfig FILE",
        )

    async def _read(self) -> None:
        registered, problems = [], {}
        for secret in await cluster_secrets(self.engine.home_kube, self.namespace):
            try:
                registered.append(parse_cluster_secret(secret, self.policy))
            except TetherError as exc:
                name = (secret.get("metadata") or {}).get("name", "")
                problems[str(name)] = exc.message.splitlines()[0]
        self._registered, self._problems = registered, problems
        self._read_at = time.monotonic()

    def contact_changed(self) -> list[ClusterAccess]:
        """The clusters whose watches lost or regained contact since the last call: their
        apps are reconciled at once (ClusterUnreachable set or cleared) rather than at
        their next event."""
        changed = []
        for access, engine in self._engines.values():
            now = engine.cache.connected
            if self._connected.get(access.name, True) != now:
                changed.append(access)
            self._connected[access.name] = now
        return changed

    async def watch_contact(
        self, apps: Callable[[], list[Application]], enqueue: Callable[[tuple[str, str]], None]
    ) -> None:
        """Reconcile the apps of a cluster as soon as its watches lose or regain contact."""
        while True:
            await asyncio.sleep(CONTACT_CHECK_SECONDS)
            for access in self.contact_changed():
                for app in apps():
                    if self.targets(app, access):
                        enqueue((app.namespace, app.name))

    def targets(self, app: Application, access: ClusterAccess) -> bool:
        destination = app.spec.destination
        if destination.name:
            return destination.name == access.name
        return (destination.server or "").rstrip("/") == access.server

    async def close(self) -> None:
        for _, engine in self._engines.values():
            await _close(engine)
        self._engines.clear()


async def _close(engine: Engine) -> None:
    await engine.cache.close()
    engine.kube.close()


__all__ = ["Destinations"]
