"""The engine of each destination cluster: the controller's own for apps that deploy
where it runs, and one per other cluster for the rest, made on first use, with its own
watch cache whose events queue the apps as the own cache does, and closed once no app
deploys there any more.

Other clusters are reached through a registration (model/cluster.py: the cluster
Secrets of the controller's namespace, tether's and Argo CD's labels, read again when a
destination is not known or every CLUSTER_SECONDS) or through the app's own kubeconfig
Secret (Flux's `spec.kubeConfig.secretRef`, read on every reconcile, so a rotated token
is used at once). New credentials get a new engine. A destination that is not
registered, or whose credentials are refused, fails the app's compare with the reason
(nothing is synced, nothing pruned); so does one whose watches lost contact
(ClusterUnreachable), until they are back.

Each cluster's identity is the uid of its kube-system namespace, recorded on the
registration Secret: a cluster that answers with another uid was replaced, and its apps
may be rebuilt from Git (controller/recovery.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.core.metrics import ClusterSample
from tether.engine.clusters import (
    check_namespace,
    identity_of,
    kubeconfig_access,
    record_identity,
    registered_access,
    registrations,
)
from tether.engine.compare import Engine
from tether.errors import TetherError, UnreachableError
from tether.kube import KubeClient, LiveCache
from tether.model.application import Application
from tether.model.cluster import (
    ClusterAccess,
    ClusterPolicy,
    elsewhere,
    select_cluster,
)

log = logging.getLogger(__name__)

CLUSTER_SECONDS = 10.0
REREAD_OUT_OF_CONTACT = 2.0  # seconds between re-reads for a destination out of contact
RETIRE_SECONDS = 60.0  # a replaced engine is closed this long after its last new work
CONTACT_CHECK_SECONDS = 2.0  # between looks at the destination clusters' watches

Listener = Callable[[str, dict[str, Any]], None]


@dataclass
class Replacement:
    """A destination cluster that answered with another identity than before."""

    cluster: str
    old_uid: str
    new_uid: str
    noticed_at: float  # monotonic
    lost_at: float | None  # monotonic time its watches lost contact, when seen


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
        self.rate: tuple[float, int] = (0.0, 1)  # each destination's client QPS and burst
        self._registered: list[ClusterAccess] = []
        self._problems: dict[str, str] = {}  # cluster name -> why its Secret is refused
        self._read_at = -CLUSTER_SECONDS
        self._engines: dict[str, tuple[ClusterAccess, Engine]] = {}  # by destination key
        # One opener per destination: two apps of a cluster that was just replaced would
        # otherwise both retire its engine and open two new ones.
        self._opening: dict[str, asyncio.Lock] = {}
        self._connected: dict[str, bool] = {}  # key -> in contact at the last look
        self._lost_at: dict[str, float] = {}  # key -> when its watches lost contact
        self._uids: dict[str, str] = {}  # key -> the cluster's identity last seen
        self._retired: list[tuple[float, Engine]] = []  # (when, engine) closed later
        self.replaced: dict[str, Replacement] = {}  # key -> its replacement, until rebuilt

    def is_local(self, app: Application) -> bool:
        return not elsewhere(app.spec, self.engine.kube.server)

    def key_of(self, app: Application) -> str:
        """The destination of a remote app as it names it: a registration's name, its
        server, or its kubeconfig Secret (stable before any registration is read: it is
        part of the shard key). Apps with the same key share one engine."""
        ref = app.spec.kube_config
        if ref is not None:
            return f"kubeconfig {app.namespace}/{ref.name}"
        destination = app.spec.destination
        return destination.name or (destination.server or "").rstrip("/")

    def cluster_of(self, app: Application) -> str:
        """The app's destination key, "" when it deploys where the controller runs."""
        return "" if self.is_local(app) else self.key_of(app)

    async def engine_for(self, app: Application) -> Engine:
        if self.is_local(app):
            return self.engine
        key = self.key_of(app)
        async with self._opening.setdefault(key, asyncio.Lock()):
            return await self._engine_for(app, key)

    async def _engine_for(self, app: Application, key: str) -> Engine:
        access = await self._access_for(app)
        check_namespace(access, app)
        known = self._engines.get(key)
        stale = time.monotonic() - self._read_at >= REREAD_OUT_OF_CONTACT
        if known is not None and known[0] == access and not known[1].cache.connected and stale:
            # Out of contact: perhaps the cluster was rebuilt and registered again with
            # new credentials. Look at the registrations now rather than in 10 s.
            self._read_at = -CLUSTER_SECONDS
            access = await self._access_for(app)
        if known is not None and known[0] == access:
            if not known[1].cache.connected:
                # Its watches lost the server: the cache is stale, and a compare from it
                # would call drift what is only silence. Unknown, and nothing pruned.
                why = known[1].cache.contact_problem() or "its watches lost contact"
                why = why.removeprefix(f"cluster {access.server} unreachable: ")
                raise UnreachableError(
                    f"cluster {access.name} ({access.server}) unreachable: {why}",
                    hint="tether cluster list (a rebuilt cluster needs tether cluster add again)",
                )
            return known[1]
        if known is not None:
            del self._engines[key]
            self._retire(known[1])  # a new server or new credentials: start over
        kube = KubeClient.from_access(access)
        kube.limit_rate(*self.rate)
        try:
            uid = await identity_of(kube)
        except TetherError as exc:
            kube.close()
            raise UnreachableError(
                f"cluster {access.name} ({access.server}) unreachable:"
                f" {exc.message.splitlines()[0]}",
                hint="tether cluster list",
            ) from None
        await self._identified(key, access, uid)
        cache = LiveCache(kube, namespaces=access.namespaces)
        cache.add_listener(self.on_event)
        engine = self.engine.for_destination(kube, cache)
        self._engines[key] = (access, engine)
        return engine

    async def _access_for(self, app: Application) -> ClusterAccess:
        if app.spec.kube_config is not None:
            return await kubeconfig_access(self.engine.home_kube, app, self.policy)
        destination = app.spec.destination
        found = select_cluster(
            self._registered, server=destination.server or "", name=destination.name or ""
        )
        if found is None or time.monotonic() - self._read_at >= CLUSTER_SECONDS:
            self._registered, self._problems = await registrations(
                self.engine.home_kube, self.namespace, self.policy
            )
            self._read_at = time.monotonic()
        return registered_access(self._registered, self._problems, destination, self.namespace)

    async def _identified(self, key: str, access: ClusterAccess, uid: str) -> None:
        """Record the identity a destination answered with; another one than before (in
        memory, or on its registration Secret) means the cluster was replaced."""
        before = self._uids.get(key) or access.known_uid
        self._uids[key] = uid
        if before and before != uid and key not in self.replaced:
            self.replaced[key] = Replacement(
                access.name, before, uid, time.monotonic(), self._lost_at.get(key)
            )
            log.warning(
                "cluster %s (%s) was replaced: kube-system uid %s, was %s",
                access.name,
                access.server,
                uid,
                before,
            )
        try:
            await record_identity(self.engine.home_kube, access, uid)
        except TetherError as exc:  # kept in memory: only a restart would forget it
            log.warning("cannot record the identity on %s: %s", access.source, exc)

    async def contact_changed(self) -> list[str]:
        """The destinations whose watches lost or regained contact since the last call:
        their apps are reconciled at once (ClusterUnreachable set or cleared) rather than
        at their next event. One that is back is asked who it is: it may be another."""
        changed = []
        for key, (access, engine) in list(self._engines.items()):
            now = engine.cache.connected
            if self._connected.get(key, True) != now:
                changed.append(key)
                if not now:
                    self._lost_at[key] = time.monotonic()
                else:
                    try:
                        await self._identified(key, access, await identity_of(engine.kube))
                    except TetherError as exc:
                        log.warning("cluster %s: %s", access.name, exc)
            self._connected[key] = now
        return changed

    async def watch_contact(
        self, apps: Callable[[], list[Application]], enqueue: Callable[[tuple[str, str]], None]
    ) -> None:
        """Reconcile the apps of a cluster as soon as its watches lose or regain contact,
        and close the engines no app deploys with any more."""
        while True:
            await asyncio.sleep(CONTACT_CHECK_SECONDS)
            current = apps()
            for key in await self.contact_changed():
                for app in current:
                    if self.cluster_of(app) == key:
                        enqueue((app.namespace, app.name))
            await self.close_unused(current)
            await self._close_retired()

    def _retire(self, engine: Engine) -> None:
        """An engine no new work gets; closed RETIRE_SECONDS later, so that a compare or
        sync still using it (another app of the same cluster) ends with its own result
        instead of a closed connection pool under it."""
        self._retired.append((time.monotonic(), engine))

    async def _close_retired(self, everything: bool = False) -> None:
        due = time.monotonic() - RETIRE_SECONDS
        keep = []
        for retired_at, engine in self._retired:
            if everything or retired_at <= due:
                await _close(engine)
            else:
                keep.append((retired_at, engine))
        self._retired = keep

    async def close_unused(self, apps: list[Application]) -> list[str]:
        """Close the engines (watches, connections) of destinations no app targets."""
        wanted = {self.cluster_of(a) for a in apps}
        unused = [key for key in self._engines if key not in wanted]
        for key in unused:
            _, engine = self._engines.pop(key)
            self._connected.pop(key, None)
            self.replaced.pop(key, None)
            self._retire(engine)
            log.info(
                "destination %s: no app deploys there any more; its watches close in %gs",
                key,
                RETIRE_SECONDS,
            )
        return unused

    def samples(self, recovery_seconds: Mapping[str, float]) -> list[ClusterSample]:
        """The destination clusters the controller has engines for, right now, for
        /metrics (with the last recovery time of each that was rebuilt)."""
        return [
            ClusterSample(
                access.name,
                access.server,
                engine.cache.connected,
                engine.cache.size,
                recovery_seconds.get(access.name),
            )
            for access, engine in sorted(self._engines.values(), key=lambda x: x[0].name)
        ]

    def request_counts(self) -> dict[tuple[str, str], int]:
        """API requests sent, by (cluster, verb)."""
        return {
            (cluster, verb): count
            for cluster, kube in self.clients()
            for verb, count in kube.requests.items()
        }

    def clients(self) -> list[tuple[str, KubeClient]]:
        """Each cluster's client: ("in-cluster", the controller's own), then the others."""
        return [("in-cluster", self.engine.kube)] + [
            (access.name, engine.kube) for access, engine in self._engines.values()
        ]

    async def close(self) -> None:
        for _, engine in self._engines.values():
            await _close(engine)
        self._engines.clear()
        await self._close_retired(everything=True)


async def _close(engine: Engine) -> None:
    await engine.cache.close()
    engine.kube.close()


__all__ = ["Destinations", "Replacement"]
