"""The reconcile loop: watches and git polls feed a work queue of applications; workers
compare, keep status current, and auto-sync / self-heal as the policy says.

Live changes arrive through the shared watch cache (one list+watch per kind), which
tells which app tracks the changed object, so only that app is re-compared. Git changes
arrive through polling (one fetch per repository at the shortest `spec.interval` of its
apps, with jitter) and push webhooks. Syncs run as their own tasks (bounded), so a long
health wait never blocks the compares of other apps.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.core.autosync import (
    REASON_IN_SYNC,
    REASON_SYNC_RUNNING,
    Action,
    Decision,
    decide,
    dependencies_not_ready,
    drifted_objects,
)
from tether.core.metrics import ControllerCounters, MetricsSnapshot, snapshot
from tether.core.notify_event import NotificationEvent
from tether.core.sharding import shard_of
from tether.core.webhook import PushEvent, push_matches
from tether.engine.apps import (
    ParsedApplications,
    crd_installed,
    ensure_namespace,
    install_crd,
    mark_invalid_spec,
    shadowed,
    write_status,
)
from tether.engine.compare import Engine, compare, failed_comparison, now_rfc3339
from tether.errors import InputError, TetherError, UnreachableError
from tether.kube.cache import owner_app
from tether.model.application import (
    API_GROUP,
    API_VERSION,
    DEFAULT_APP_NAMESPACE,
    KIND,
    RECONCILE_REQUESTED_ANNOTATION,
    RECONCILE_WITH_SOURCE_ANNOTATION,
    Application,
    ApplicationStatus,
)
from tether.model.cluster import ClusterPolicy
from tether.model.keys import ResourceKey, resource_version_of
from tether.model.project import PROJECT_KIND

from .conditions import condition_events, controller_conditions, drift_events, source_condition
from .dependencies import DependencyIndex
from .destinations import Destinations
from .memory import AppMemory, spec_fingerprint
from .notifications import observed_events
from .operations import recover_operation
from .polling import SourcePoller, maintain_caches
from .queue import WorkQueue
from .recovery import Recoveries
from .selfheal import check_heal
from .syncs import RUNNING_RECHECK, SyncTasks

log = logging.getLogger(__name__)

AppKey = tuple[str, str]  # (namespace, name)
UNREACHABLE_RECHECK = 5.0  # seconds before an app whose cluster did not answer is retried


DEFAULT_WORKERS = 4
DEFAULT_MAX_SYNCS = 4
DEFAULT_KUBE_QPS = 200.0
DEFAULT_KUBE_BURST = 400


@dataclass
class ControllerOptions:
    app_namespace: str | None = "tether-system"  # None: every namespace
    shards: int = 1
    shard: int = 0
    workers: int = DEFAULT_WORKERS
    max_syncs: int = DEFAULT_MAX_SYNCS
    kube_qps: float = DEFAULT_KUBE_QPS  # per cluster (client-side token bucket)
    kube_burst: int = DEFAULT_KUBE_BURST
    cluster_policy: ClusterPolicy = dataclasses.field(default_factory=ClusterPolicy)


class Controller:
    def __init__(self, engine: Engine, options: ControllerOptions) -> None:
        self.engine = engine
        self.options = options
        self.queue: WorkQueue[AppKey] = WorkQueue()
        self.counters = ControllerCounters()
        self.held_shards: set[int] = set() if options.shards > 1 else {0}
        self._memory: dict[AppKey, AppMemory] = {}
        self._parsed = ParsedApplications(shadow=engine.shadow)
        self._desired_index: dict[ResourceKey, set[AppKey]] = {}
        self._dependencies = DependencyIndex()
        self.sources = SourcePoller(engine, self._apps, self._owns, self._enqueue)
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = asyncio.Event()  # watching: ready for Leases and probes
        self._settled = False
        self._reconciled = 0  # apps compared so far (the first pass settles the heap)
        self.cache_bytes: dict[str, int] = {}
        self.notify: Callable[[NotificationEvent, Application], None] = lambda _e, _a: None
        self.destinations = Destinations(
            engine,
            options.app_namespace or DEFAULT_APP_NAMESPACE,
            self._on_event,
            options.cluster_policy,
        )
        self.destinations.rate = (options.kube_qps, options.kube_burst)
        self.recoveries = Recoveries(self.destinations, engine.kube)
        self.syncs = SyncTasks(
            engine,
            self.destinations,
            self.queue,
            self.counters,
            lambda key: self._memory.setdefault(key, AppMemory()),
            self._app,
            self._announce,
            options.max_syncs,
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Start watching and reconciling; returns only when cancelled."""
        kube = self.engine.kube
        if not await crd_installed(kube):
            await install_crd(kube)
        await ensure_namespace(kube, self.options.app_namespace or DEFAULT_APP_NAMESPACE)
        self.engine.cache.add_listener(self._on_event)
        await self.engine.cache.watch_kind(API_VERSION, KIND)
        for app in self._apps():  # the first list raises no events: index it here
            self._dependencies.depend((app.namespace, app.name), app.dependencies())
            self.queue.add((app.namespace, app.name))
        self.started.set()
        workers = [
            asyncio.create_task(self._worker(), name=f"reconcile-worker-{i}")
            for i in range(self.options.workers)
        ]
        poller = asyncio.create_task(self.sources.run(), name="git-poller")
        janitor = asyncio.create_task(
            maintain_caches(self.engine.repos, self._apps, self._measured),
            name="cache-maintenance",
        )
        watchdog = asyncio.create_task(
            self.destinations.watch_contact(self._apps, self._enqueue), name="destinations"
        )
        try:
            await asyncio.gather(*workers, poller, janitor, watchdog)
        finally:
            for task in [*workers, poller, janitor, watchdog, *self._tasks]:
                task.cancel()
            for task in [*workers, poller, janitor, watchdog, *self._tasks]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.queue.close()
            await self.destinations.close()

    @property
    def ready(self) -> bool:
        return self.started.is_set()

    def set_shard_held(self, shard: int, held: bool) -> None:
        """Called by the Lease elector; a newly held shard's apps are reconciled at once."""
        if held:
            self.held_shards.add(shard)
            for key in self._app_keys():
                if self._shard(key) == shard:
                    self.queue.add(key)
        else:
            self.held_shards.discard(shard)

    # -- inputs ------------------------------------------------------------------------

    def _on_event(self, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        api_version = str(obj.get("apiVersion", ""))
        if obj.get("kind") == KIND and api_version.startswith(API_GROUP + "/"):
            self._on_app_event(event, obj, meta)
            return
        if obj.get("kind") == PROJECT_KIND and api_version.startswith(API_GROUP + "/"):
            # A Project changed: what its apps may deploy did; compare them again.
            if meta.get("namespace") == self.engine.project_namespace:
                for app in self._apps():
                    if app.spec.project == meta.get("name"):
                        self._enqueue((app.namespace, app.name))
            return
        owner = owner_app(obj)
        if owner:
            ns, _, name = owner.partition("/")
            self._enqueue((ns, name))
        for key in self._desired_index.get(ResourceKey.of(obj), ()):
            self._enqueue(key)

    def _on_app_event(self, event: str, obj: dict[str, Any], meta: dict[str, Any]) -> None:
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if not self._in_scope(key):
            return
        if event == "DELETED":
            self._forget(key)
            return
        fingerprint = spec_fingerprint(meta)
        memory = self._memory.setdefault(key, AppMemory())
        # Status-only updates (our own writes among them) need no reconcile of the app
        # itself, but its dependents wait for exactly such a change (Synced + Healthy).
        if memory.seen != fingerprint:
            memory.seen = fingerprint
            self._enqueue(key)
        self._notify_states(key, obj, memory)
        app = self._parse(key, obj)
        self._dependencies.depend(key, app.dependencies() if app is not None else ())
        for dependent in self._dependencies.dependents(key):
            self._enqueue(dependent)

    def _notify_states(self, key: AppKey, obj: dict[str, Any], memory: AppMemory) -> None:
        """States that began or ended, from the stored status whoever wrote it (our own
        writes and a CLI's rollback alike arrive here as watch events)."""
        app = self._parse(key, obj) if self._owns(key) else None
        if app is not None and app.status is not None:
            for event in observed_events(app, app.status, memory, self.engine.kube.server):
                self.notify(event, app)

    def _announce(self, event: NotificationEvent, app: Application) -> None:
        self.notify(event, app)  # `notify` is set after construction, when wired

    def _enqueue(self, key: AppKey) -> None:
        if self._in_scope(key) and self._owns(key):
            self.queue.add(key)

    def on_push(self, event: PushEvent) -> list[str]:
        """A verified push webhook: fetch each matching repository now. Returns the URLs."""
        urls = sorted(
            {
                a.spec.source.repo_url
                for a in self._apps()
                if push_matches(event, a.spec.source.repo_url)
            }
        )
        self.sources.poll_now(urls)
        return urls

    # -- bookkeeping -------------------------------------------------------------------

    def _in_scope(self, key: AppKey) -> bool:
        wanted = self.options.app_namespace
        return wanted is None or key[0] == wanted

    def _shard(self, key: AppKey) -> int:
        if self.options.shards <= 1:
            return 0
        # The destination is part of the key: one busy cluster's apps spread over all
        # shards (Argo CD shards by cluster, so one cluster is one shard's load).
        app = self._app(key)
        cluster = (
            "" if app is None or self.destinations.is_local(app) else self.destinations.key_of(app)
        )
        return shard_of(key[0], key[1], self.options.shards, cluster)

    def _owns(self, key: AppKey) -> bool:
        return self._shard(key) in self.held_shards

    def _app_keys(self) -> list[AppKey]:
        return [(a.namespace, a.name) for a in self._apps()]

    def _apps(self) -> list[Application]:
        apps = []
        for raw in self.engine.cache.objects(API_GROUP, KIND):
            meta = raw.get("metadata") or {}
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            if not self._in_scope(key):
                continue
            app = self._parse(key, raw)
            if app is not None:
                apps.append(app)
        return apps

    def _app(self, key: AppKey) -> Application | None:
        raw = self.engine.cache.get(ResourceKey(API_GROUP, KIND, key[0], key[1]))
        if raw is None:
            return None
        return self._parse(key, raw)

    def _parse(self, key: AppKey, raw: dict[str, Any]) -> Application | None:
        def invalid(exc: InputError) -> None:
            log.warning("skipping invalid Application %s/%s: %s", *key, exc)
            if self._owns(key):
                task = asyncio.create_task(self._report_invalid(key, raw, exc.message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        return self._parsed.parse(key, raw, invalid)

    async def _report_invalid(self, key: AppKey, raw: dict[str, Any], message: str) -> None:
        """An Application tether cannot read says why in its own status (InvalidSpec),
        not only in the controller's log; the next valid spec's compare clears it."""
        try:
            await mark_invalid_spec(self.engine.kube, key[0], key[1], raw, message, now_rfc3339())
        except TetherError as exc:
            log.warning("cannot report invalid Application %s/%s: %s", *key, exc)

    def _forget(self, key: AppKey) -> None:
        self._dependencies.depend(key, ())
        self._memory.pop(key, None)
        self._parsed.forget(key)
        self.queue.forget(key)
        self.counters.forget_app(*key)
        for owners in self._desired_index.values():
            owners.discard(key)

    def metrics(self) -> MetricsSnapshot:
        apps = [a for a in self._apps() if self._owns((a.namespace, a.name))]
        clusters = self.destinations.samples(self.recoveries.seconds)
        requests = self.destinations.request_counts()
        return snapshot(apps, self.counters, self.cache_bytes, clusters, requests)

    def _measured(self, sizes: dict[str, int]) -> None:
        self.cache_bytes = sizes

    # -- workers -----------------------------------------------------------------------

    async def _worker(self) -> None:
        # When this worker's current reconcile started (None while idle), for /healthz.
        busy: dict[int, float | None] = vars(self).setdefault("_reconcile_started", {})
        slot = len(busy)
        busy[slot] = None
        while True:
            key = await self.queue.get()
            handed_off = False
            started = time.monotonic()
            busy[slot] = started
            try:
                handed_off = await self.reconcile(key)
                self.queue.forget(key)
                self._reconciled += 1 if self._owns(key) else 0
            except asyncio.CancelledError:
                raise
            except UnreachableError as exc:
                # A cluster that does not answer is asked again soon, not with a backoff
                # of minutes: its apps recover by themselves once it is back.
                self.queue.add_after(key, UNREACHABLE_RECHECK)
                log.warning("reconcile %s/%s: %s (retry in %gs)", *key, exc, UNREACHABLE_RECHECK)
            except TetherError as exc:
                delay = self.queue.add_rate_limited(key)
                log.warning("reconcile %s/%s: %s (retry in %.1fs)", *key, exc, delay)
            except Exception:
                delay = self.queue.add_rate_limited(key)
                log.exception("reconcile %s/%s failed (retry in %.1fs)", *key, delay)
            finally:
                busy[slot] = None
                self.counters.reconcile.observe(time.monotonic() - started)
                if not handed_off:
                    self.queue.done(key)
            if not self._settled and self.queue.pending() == 0 and self._reconciled:
                self._settle()

    def reconcile_started(self) -> list[float | None]:
        """Per worker, the monotonic time its current reconcile started (None: idle)."""
        return list(vars(self).get("_reconcile_started", {}).values())

    def _settle(self) -> None:
        """After the first pass over every app, move what is loaded by now (the live
        cache, parsed apps, renders) out of the cyclic GC's reach: a full collection
        over 10,000 cached objects pauses the loop for most of a second, and these
        objects are long-lived anyway. Later garbage is collected as usual."""
        self._settled = True
        gc.collect(1)  # the young generations only: a full collection is the pause avoided
        gc.freeze()
        log.info("first pass done: %d objects frozen for the GC", gc.get_freeze_count())

    async def reconcile(self, key: AppKey) -> bool:
        """One reconcile of one app. True when a sync task took over the key."""
        if not self._owns(key):
            return False
        app = self._app(key)
        if app is None:
            self._forget(key)
            return False
        memory = self._memory.setdefault(key, AppMemory())
        raw = self.engine.cache.get(ResourceKey(API_GROUP, KIND, key[0], key[1]))
        if raw is not None and resource_version_of(raw) < memory.written_rv:
            # The watch has not delivered our own last status write yet: a status computed
            # from this older copy could look unchanged and never be written.
            raw = await self.engine.apps.read(key[0], key[1])
            if raw is None:
                self._forget(key)
                return False
            app = shadowed(Application.from_dict(raw), self.engine.shadow)
        # What this reconcile has seen: the status write it is about to make comes back
        # as an event with the same fingerprint and must not queue the app once more.
        memory.seen = spec_fingerprint((raw or {}).get("metadata") or {})
        app = await recover_operation(self.engine, app, syncing=key in self.syncs.running)
        token = app.annotations.get(RECONCILE_REQUESTED_ANNOTATION)
        handled = app.status.last_handled_reconcile_at if app.status else None
        requested = bool(token) and token != handled
        with_source = requested and app.annotations.get(RECONCILE_WITH_SOURCE_ANNOTATION) == token
        url = app.spec.source.repo_url
        if with_source or not self.sources.fetched(url):
            try:
                await self.sources.fetch(app)
            except TetherError as exc:
                log.warning("fetch %s: %s", url, exc)  # recorded; the compare goes on
        try:
            engine = await self.destinations.engine_for(app)
        except TetherError as exc:
            unreachable = isinstance(exc, UnreachableError)
            comparison = failed_comparison(app, exc, cluster_unreachable=unreachable)
        else:
            comparison = await compare(engine, app, fetch=False)
        if memory.heal_check is not None:
            check_heal(memory, comparison)
        for obj in comparison.desired:
            self._desired_index.setdefault(ResourceKey.of(obj), set()).add(key)
        status = comparison.status or app.status or ApplicationStatus()
        deps = {dep: self._dependency_status(dep) for dep in app.dependencies()}
        # An app whose dependency is not ready often cannot even be compared (its CRD is
        # missing): it is waiting, and says so, rather than just failing.
        waiting = dependencies_not_ready(app, deps)
        decision = Decision(Action.WAIT if waiting else Action.NONE, waiting or "comparison failed")
        if comparison.error is None:
            decision = decide(
                app,
                compared=status,
                dependencies=deps,
                memory=memory.heal,
                now=time.monotonic(),
                cluster_replaced=self.recoveries.needs_rebuild(app),
            )
            await drift_events(
                self.engine.kube, self.counters, app, comparison, memory, self.notify
            )
        log.debug(
            "reconcile %s/%s: %s %s%s",
            *key,
            status.sync.status.value,
            decision.action.value,
            f" ({decision.reason})" if decision.reason else "",
        )
        if decision.reason == REASON_IN_SYNC:
            memory.heal.forget_unrepairable()
        if decision.action is Action.SELF_HEAL:
            memory.heal_before = drifted_objects(status)
        status = controller_conditions(status, decision, memory.heal.attempts, now_rfc3339())
        status = source_condition(status, self.sources.error_of(url), now_rfc3339())
        starts_sync = comparison.error is None and decision.syncs and decision.delay <= 0
        if requested and not starts_sync:
            # A sync about to start hands the request on: the reconcile queued after it
            # marks it handled, so `app reconcile` reports the state the sync reached.
            status = dataclasses.replace(status, last_handled_reconcile_at=token)
        # A sync about to start claims the app in the same write (one write, not two).
        request = self.syncs.request_for(app, decision) if starts_sync else None
        claimed = (
            await self.syncs.claim(app, status, request, comparison.revision) if request else None
        )
        if claimed is None:
            stored_version = (await write_status(self.engine.apps, app, status)).resource_version
        else:
            stored_version = claimed.resource_version
        if stored_version:
            memory.written_rv = max(memory.written_rv, int(stored_version))
        await condition_events(self.engine.kube, app, app.status, status)
        await self.recoveries.progress(app, status, decision, self._apps)
        if decision.action is Action.WAIT and decision.reason == REASON_SYNC_RUNNING:
            self.queue.add_after(key, RUNNING_RECHECK)
        if comparison.error is not None:
            raise comparison.error  # retried with backoff; the status already says why
        if decision.syncs and decision.delay > 0:
            self.queue.add_after(key, decision.delay)
        if request is None or claimed is None:
            if request is not None:  # someone else's sync runs: look again soon
                self.queue.add_after(key, RUNNING_RECHECK)
            return False
        # The sync runs on the copy its claim stored, planned from this comparison.
        task = asyncio.create_task(
            self.syncs.run(key, claimed, decision, comparison, request),
            name=f"sync {key[0]}/{key[1]}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _dependency_status(self, dep: AppKey) -> ApplicationStatus | None:
        other = self._app(dep)
        if other is None:
            return None
        return other.status or ApplicationStatus()
