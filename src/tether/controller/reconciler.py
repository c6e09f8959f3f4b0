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
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tether.core.autosync import (
    CONTROLLER_INITIATOR,
    INTERRUPTED_MESSAGE,
    REASON_AUTO_SYNC_OFF,
    REASON_IN_SYNC,
    REASON_SUSPENDED,
    REASON_SYNC_RUNNING,
    SELF_HEAL_FAILING_AFTER,
    Action,
    Decision,
    DriftTracker,
    SelfHealMemory,
    decide,
    dependencies_not_ready,
    drifted_objects,
    is_controller_operation,
)
from tether.core.diff import Verdict
from tether.core.drift_findings import DriftCause
from tether.core.metrics import ControllerCounters, MetricsSnapshot, snapshot
from tether.core.sharding import shard_of
from tether.core.webhook import PushEvent, push_matches
from tether.engine.apps import crd_installed, ensure_namespace, install_crd, write_status
from tether.engine.compare import Comparison, Engine, compare, now_rfc3339
from tether.engine.events import NORMAL, WARNING, record_event
from tether.engine.sync import SyncInProgress, SyncRefused, SyncRequest, sync_app
from tether.errors import ConditionNotMet, InputError, TetherError
from tether.kube import MERGE_PATCH
from tether.kube.cache import owner_app
from tether.model.application import (
    API_GROUP,
    API_VERSION,
    CONDITION_BREAK_GLASS,
    CONDITION_COMPARISON_ERROR,
    CONDITION_HISTORY_REWRITTEN,
    CONDITION_INVALID_SPEC,
    CONDITION_SELF_HEAL_FAILING,
    CONDITION_SOURCE_ERROR,
    CONDITION_SYNC_ERROR,
    CONDITION_WAITING_FOR_DEPENDENCIES,
    DEFAULT_APP_NAMESPACE,
    FIELD_MANAGER,
    KIND,
    RECONCILE_REQUESTED_ANNOTATION,
    RECONCILE_WITH_SOURCE_ANNOTATION,
    Application,
    ApplicationStatus,
    Condition,
    ConditionStatus,
    OperationPhase,
    OperationState,
    remove_condition,
    set_condition,
)
from tether.model.fields import parse_duration
from tether.model.keys import ResourceKey, parse_rfc3339, resource_version_of
from tether.model.project import PROJECT_KIND

from .queue import WorkQueue
from .selfheal import heal_blocked, unrepaired, unrepaired_message

log = logging.getLogger(__name__)

AppKey = tuple[str, str]  # (namespace, name)
RUNNING_RECHECK = 2.0  # seconds between looks at a sync someone else is running
ABANDONED_GRACE = 60.0  # a Running sync older than its timeout plus this was abandoned
POLL_JITTER = 0.1  # ±10 % of the interval
CACHE_MAINTENANCE = 60.0  # seconds between tree evictions / cache measurements
EVENTFUL_CONDITIONS = (
    CONDITION_SOURCE_ERROR,
    CONDITION_HISTORY_REWRITTEN,
    CONDITION_BREAK_GLASS,
    CONDITION_SELF_HEAL_FAILING,
    CONDITION_COMPARISON_ERROR,
    CONDITION_SYNC_ERROR,
)


@dataclass
class ControllerOptions:
    app_namespace: str | None = "tether-system"  # None: every namespace
    shards: int = 1
    shard: int = 0
    workers: int = 4
    max_syncs: int = 4


@dataclass
class _AppMemory:
    heal: SelfHealMemory = field(default_factory=SelfHealMemory)
    drift: DriftTracker = field(default_factory=DriftTracker)
    seen: tuple[Any, ...] | None = None  # generation, labels, annotations of the last event
    was_live: set[ResourceKey] = field(default_factory=set)  # live objects at the last compare
    written_rv: int = 0  # resourceVersion of our last status write
    heal_before: dict[str, frozenset[str]] = field(default_factory=dict)  # drift a heal is for
    # Set by a self-heal sync (what each apply stored, the revision): the next reconcile's
    # compare tells which drift it left exactly as it was.
    heal_check: tuple[dict[ResourceKey, int], str | None] | None = None


class Controller:
    def __init__(self, engine: Engine, options: ControllerOptions) -> None:
        self.engine = engine
        self.options = options
        self.queue: WorkQueue[AppKey] = WorkQueue()
        self.counters = ControllerCounters()
        self.held_shards: set[int] = set() if options.shards > 1 else {0}
        self._memory: dict[AppKey, _AppMemory] = {}
        self._parsed: dict[AppKey, tuple[str, Application | None]] = {}
        self._desired_index: dict[ResourceKey, set[AppKey]] = {}
        self._syncing: set[AppKey] = set()
        self._sync_slots = asyncio.Semaphore(options.max_syncs)
        self._next_poll: dict[str, float] = {}
        self._refs: dict[str, str] = {}  # repository -> digest of its refs at the last poll
        self._fetch_errors: dict[str, str] = {}  # repository -> why its last fetch failed
        self._poll_wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = asyncio.Event()  # watching: ready for Leases and probes
        self._settled = False
        self._reconciled = 0  # apps compared so far (the first pass settles the heap)
        self.cache_bytes: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Start watching and reconciling; returns only when cancelled."""
        kube = self.engine.kube
        if not await crd_installed(kube):
            await install_crd(kube)
        await ensure_namespace(kube, self.options.app_namespace or DEFAULT_APP_NAMESPACE)
        self.engine.cache.add_listener(self._on_event)
        await self.engine.cache.watch_kind(API_VERSION, KIND)
        for key in self._app_keys():
            self.queue.add(key)
        self.started.set()
        workers = [
            asyncio.create_task(self._worker(), name=f"reconcile-worker-{i}")
            for i in range(self.options.workers)
        ]
        poller = asyncio.create_task(self._poll_loop(), name="git-poller")
        janitor = asyncio.create_task(self.maintain_caches(), name="cache-maintenance")
        try:
            await asyncio.gather(*workers, poller, janitor)
        finally:
            for task in [*workers, poller, janitor, *self._tasks]:
                task.cancel()
            for task in [*workers, poller, janitor, *self._tasks]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.queue.close()

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
        fingerprint = _fingerprint(meta)
        memory = self._memory.setdefault(key, _AppMemory())
        # Status-only updates (our own writes among them) need no reconcile of the app
        # itself, but its dependents wait for exactly such a change (Synced + Healthy).
        if memory.seen != fingerprint:
            memory.seen = fingerprint
            self._enqueue(key)
        for app in self._apps():
            if key in app.dependencies():
                self._enqueue((app.namespace, app.name))

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
        for url in urls:
            self._next_poll[url] = 0.0
        self._poll_wakeup.set()
        return urls

    # -- bookkeeping -------------------------------------------------------------------

    def _in_scope(self, key: AppKey) -> bool:
        wanted = self.options.app_namespace
        return wanted is None or key[0] == wanted

    def _shard(self, key: AppKey) -> int:
        return shard_of(key[0], key[1], self.options.shards)

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
        """Applications parsed once per resourceVersion (parsing validates every field)."""
        version = str((raw.get("metadata") or {}).get("resourceVersion", ""))
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            app: Application | None = Application.from_dict(raw)
        except InputError as exc:
            log.warning("skipping invalid Application %s/%s: %s", *key, exc)
            app = None
            if self._owns(key):
                task = asyncio.create_task(self._report_invalid(key, raw, exc.message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self._parsed[key] = (version, app)
        return app

    async def _report_invalid(self, key: AppKey, raw: dict[str, Any], message: str) -> None:
        """An Application tether cannot read says why in its own status (InvalidSpec),
        not only in the controller's log; the next valid spec's compare clears it."""
        conditions = ((raw.get("status") or {}).get("conditions")) or []
        if any(
            c.get("type") == CONDITION_INVALID_SPEC and c.get("message") == message
            for c in conditions
            if isinstance(c, dict)
        ):
            return  # said already (our own write comes back as an event)
        patch = {
            "status": {
                "sync": {"status": "Unknown"},
                "conditions": [
                    {
                        "type": CONDITION_INVALID_SPEC,
                        "status": "True",
                        "reason": CONDITION_INVALID_SPEC,
                        "message": message[:1024],
                        "lastTransitionTime": now_rfc3339(),
                    }
                ],
            }
        }
        try:
            await self.engine.kube.patch(
                API_VERSION, KIND, key[1], patch, namespace=key[0],
                patch_type=MERGE_PATCH, field_manager=FIELD_MANAGER, subresource="status",
            )  # fmt: skip
        except TetherError as exc:
            log.warning("cannot report invalid Application %s/%s: %s", *key, exc)

    def _forget(self, key: AppKey) -> None:
        self._memory.pop(key, None)
        self._parsed.pop(key, None)
        self.queue.forget(key)
        self.counters.forget_app(*key)
        for owners in self._desired_index.values():
            owners.discard(key)

    def metrics(self) -> MetricsSnapshot:
        apps = [a for a in self._apps() if self._owns((a.namespace, a.name))]
        return snapshot(apps, self.counters, self.cache_bytes)

    async def maintain_caches(self) -> None:
        """Every CACHE_MAINTENANCE seconds: evict extracted trees no app references (LRU
        past the size cap) and measure the caches for `tether_cache_bytes`."""
        repos = self.engine.repos
        while True:
            keep = {
                revision
                for app in self._apps()
                for revision in (
                    app.status.sync.revision if app.status else None,
                    *((e.revision for e in app.status.history) if app.status else ()),
                )
                if revision
            }
            try:
                await repos.prune_trees(keep=keep)
                self.cache_bytes = await asyncio.to_thread(repos.cache_bytes)
            except (OSError, TetherError) as exc:
                log.warning("cache maintenance: %s", exc)
            await asyncio.sleep(CACHE_MAINTENANCE)

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
        memory = self._memory.setdefault(key, _AppMemory())
        raw = self.engine.cache.get(ResourceKey(API_GROUP, KIND, key[0], key[1]))
        if raw is not None and resource_version_of(raw) < memory.written_rv:
            # The watch has not delivered our own last status write yet: a status computed
            # from this older copy could look unchanged and never be written.
            raw = await self.engine.apps.read(key[0], key[1])
            if raw is None:
                self._forget(key)
                return False
            app = Application.from_dict(raw)
        # What this reconcile has seen: the status write it is about to make comes back
        # as an event with the same fingerprint and must not queue the app once more.
        memory.seen = _fingerprint((raw or {}).get("metadata") or {})
        app = await self._recover_operation(app)
        token = app.annotations.get(RECONCILE_REQUESTED_ANNOTATION)
        handled = app.status.last_handled_reconcile_at if app.status else None
        requested = bool(token) and token != handled
        with_source = requested and app.annotations.get(RECONCILE_WITH_SOURCE_ANNOTATION) == token
        url = app.spec.source.repo_url
        if with_source or url not in self._next_poll:
            try:
                await self._fetch(app)
            except TetherError as exc:
                log.warning("fetch %s: %s", url, exc)  # recorded; the compare goes on
        comparison = await compare(self.engine, app, fetch=False)
        if memory.heal_check is not None:
            self._check_heal(memory, comparison)
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
                app, compared=status, dependencies=deps, memory=memory.heal, now=time.monotonic()
            )
            await self._drift_events(app, comparison, memory)
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
        status = self._controller_conditions(status, decision, memory)
        status = self._source_condition(status, url)
        starts_sync = comparison.error is None and decision.syncs and decision.delay <= 0
        if requested and not starts_sync:
            # A sync about to start hands the request on: the reconcile queued after it
            # marks it handled, so `app reconcile` reports the state the sync reached.
            status = dataclasses.replace(status, last_handled_reconcile_at=token)
        written = await write_status(self.engine.apps, app, status)
        if written.resource_version:
            memory.written_rv = max(memory.written_rv, int(written.resource_version))
        await self._condition_events(app, app.status, status)
        if decision.action is Action.WAIT and decision.reason == REASON_SYNC_RUNNING:
            self.queue.add_after(key, RUNNING_RECHECK)
        if comparison.error is not None:
            raise comparison.error  # retried with backoff; the status already says why
        if not decision.syncs:
            return False
        if decision.delay > 0:
            self.queue.add_after(key, decision.delay)
            return False
        # The copy our status write stored (the sync claims on its resourceVersion without
        # reading again), and this reconcile's comparison: the sync plans from it.
        stored = written.app or app
        task = asyncio.create_task(
            self._sync(key, stored, decision, comparison), name=f"sync {key[0]}/{key[1]}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _dependency_status(self, dep: AppKey) -> ApplicationStatus | None:
        other = self._app(dep)
        if other is None:
            return None
        return other.status or ApplicationStatus()

    def _controller_conditions(
        self, status: ApplicationStatus, decision: Decision, memory: _AppMemory
    ) -> ApplicationStatus:
        now = now_rfc3339()
        conditions = list(status.conditions)
        if decision.waits_for_dependencies:
            conditions = set_condition(
                conditions,
                Condition(
                    CONDITION_WAITING_FOR_DEPENDENCIES,
                    ConditionStatus.TRUE,
                    "DependenciesNotReady",
                    decision.reason,
                ),
                now,
            )
        else:
            conditions = remove_condition(conditions, CONDITION_WAITING_FOR_DEPENDENCIES)
        failing = (
            decision.action is Action.SELF_HEAL and memory.heal.attempts >= SELF_HEAL_FAILING_AFTER
        )
        if decision.heal_blocked:
            conditions = set_condition(
                conditions,
                Condition(
                    CONDITION_SELF_HEAL_FAILING,
                    ConditionStatus.TRUE,
                    decision.heal_blocked,
                    decision.reason,
                ),
                now,
            )
        elif failing:
            conditions = set_condition(
                conditions,
                Condition(
                    CONDITION_SELF_HEAL_FAILING,
                    ConditionStatus.TRUE,
                    "DriftKeepsReturning",
                    f"self-heal ran {memory.heal.attempts} times and the drift came back;"
                    f" next attempt in {decision.delay:.0f}s (see `tether drift`)",
                ),
                now,
            )
        elif decision.reason in (REASON_IN_SYNC, REASON_AUTO_SYNC_OFF, REASON_SUSPENDED) or (
            decision.syncs and heal_blocked(conditions)
        ):
            # A heal or sync that goes ahead: what held self-heal back no longer does.
            conditions = remove_condition(conditions, CONDITION_SELF_HEAL_FAILING)
        if decision.reason == REASON_IN_SYNC or decision.action is Action.AUTO_SYNC:
            conditions = remove_condition(conditions, CONDITION_SYNC_ERROR)
        return dataclasses.replace(status, conditions=tuple(conditions))

    def _source_condition(self, status: ApplicationStatus, url: str) -> ApplicationStatus:
        """A failed fetch leaves the app compared against the last fetched commit, and
        says so: drift is still seen while Git is unreachable."""
        error = self._fetch_errors.get(url)
        if error is None:
            conditions = remove_condition(status.conditions, CONDITION_SOURCE_ERROR)
        else:
            conditions = set_condition(
                status.conditions,
                Condition(CONDITION_SOURCE_ERROR, ConditionStatus.TRUE, "FetchFailed", error),
                now_rfc3339(),
            )
        return dataclasses.replace(status, conditions=tuple(conditions))

    async def _condition_events(
        self, app: Application, before: ApplicationStatus | None, after: ApplicationStatus
    ) -> None:
        """An event when a warning condition appears or clears (not on every reconcile)."""
        old = {c.type: c for c in (before.conditions if before else ())}
        new = {c.type: c for c in after.conditions}
        for ctype in EVENTFUL_CONDITIONS:
            if ctype in new and ctype not in old:
                await record_event(self.engine.kube, app, WARNING, ctype, new[ctype].message)
            elif ctype in old and ctype not in new:
                await record_event(
                    self.engine.kube, app, NORMAL, f"{ctype}Cleared", f"{ctype} no longer applies"
                )

    async def _recover_operation(self, app: Application) -> Application:
        """A Running operation nobody runs any more is marked failed (and resumed by the
        policy when it was ours): never "Running" forever after a crash."""
        state = app.status.operation_state if app.status else None
        key = (app.namespace, app.name)
        if state is None or state.phase is not OperationPhase.RUNNING or key in self._syncing:
            return app
        if is_controller_operation(state.initiated_by):
            message = INTERRUPTED_MESSAGE
        else:
            started = parse_rfc3339(state.started_at)
            limit = parse_duration(app.spec.timeout) + ABANDONED_GRACE
            if started is None or time.time() - started.timestamp() < limit:
                return app
            message = f"abandoned: {state.initiated_by or 'a client'} stopped during the sync"
        assert app.status is not None
        failed = dataclasses.replace(
            state, phase=OperationPhase.FAILED, finished_at=now_rfc3339(), message=message
        )
        status = dataclasses.replace(app.status, operation_state=failed)
        await write_status(self.engine.apps, app, status)
        await record_event(
            self.engine.kube,
            app,
            WARNING,
            "SyncInterrupted",
            f"sync of {state.revision}: {message}",
        )
        return dataclasses.replace(app, status=status)

    async def _drift_events(
        self, app: Application, comparison: Comparison, memory: _AppMemory
    ) -> None:
        """An event and a count per newly drifted object (not on every reconcile)."""
        diff, status = comparison.diff, comparison.status
        if diff is None:
            return
        # Drift is a change to a live object, or the deletion of one we saw; an object
        # that was never created yet (Missing before the first sync) is not drift.
        # An undeclared manual edit is drift too, though it leaves the object Synced.
        drifted = {
            str(d.key): frozenset(d.paths) | frozenset(d.manual_edits) or frozenset({"(deleted)"})
            for d in diff.objects
            if d.verdict is Verdict.OUT_OF_SYNC
            or (d.verdict is Verdict.MISSING and d.key in memory.was_live)
            or (d.verdict is Verdict.SYNCED and d.manual_edits)
        }
        memory.was_live = set(comparison.live)
        fresh = memory.drift.new_drift(drifted)
        # The compare already attributed each drifted object (status.resources[]).
        resources = {str(r.key): r for r in (status.resources if status else ())}
        for obj in sorted(fresh):
            found = resources.get(obj)
            cause = (found.drift_cause if found else None) or "unknown"
            writer = found.drift_writer if found else None
            if writer == FIELD_MANAGER and cause != DriftCause.NON_DETERMINISTIC_RENDER.value:
                # tether's own write (a sync interrupted by a restart, say) is not drift:
                # the next sync finishes it; an event would blame nobody for nothing.
                continue
            self.counters.drift_events[(app.namespace, app.name, cause)] += 1
            await record_event(
                self.engine.kube,
                app,
                WARNING,
                "DriftDetected",
                f"{obj}: {', '.join(sorted(fresh[obj])[:5])} changed (cause {cause}"
                + (f", writer {writer}" if writer else "")
                + ")",
            )

    def _check_heal(self, memory: _AppMemory, comparison: Comparison) -> None:
        """After a self-heal sync, the next compare shows what it could not repair."""
        assert memory.heal_check is not None
        stored_versions, revision = memory.heal_check
        memory.heal_check = None
        if comparison.error is not None:
            return
        still = unrepaired(comparison, stored_versions, memory.heal_before)
        if still:
            memory.heal.unrepairable = still
            memory.heal.unrepairable_revision = revision
            memory.heal.unrepairable_message = unrepaired_message(comparison, revision, still)

    async def _sync(
        self, key: AppKey, app: Application, decision: Decision, comparison: Comparison
    ) -> None:
        self._syncing.add(key)
        memory = self._memory.setdefault(key, _AppMemory())
        retry_count = 0
        state = app.status.operation_state if app.status else None
        if decision.action is Action.RETRY and state is not None:
            retry_count = state.retry_count + (0 if state.message == INTERRUPTED_MESSAGE else 1)
        if decision.action is Action.SELF_HEAL:
            memory.heal.attempts += 1
            memory.heal.last_at = time.monotonic()
        reason = {
            Action.AUTO_SYNC: "AutoSync",
            Action.SELF_HEAL: "SelfHeal",
            Action.RETRY: "SyncRetry",
        }[decision.action]
        request = SyncRequest(
            prune=app.auto_prune,
            initiated_by=f"{CONTROLLER_INITIATOR}/{decision.action.value}",
            fetch=False,
            refresh_after=False,  # the reconcile queued after the sync compares
            retry_count=retry_count,
            # Argo CD's operation semantics: done once the last wave is applied; a
            # rollout of minutes must not hold a sync slot (health is in the status).
            final_health_gate=False,
        )
        try:
            # A sync that had to wait for a slot compares again: the live state it was
            # planned from may have moved on meanwhile.
            planned: Comparison | None = None if self._sync_slots.locked() else comparison
            async with self._sync_slots:
                await record_event(self.engine.kube, app, NORMAL, reason, decision.reason)
                result = await sync_app(self.engine, app, request, comparison=planned)
            if decision.action is Action.SELF_HEAL:
                memory.heal_check = (dict(result.stored_versions), result.revision)
            self.counters.syncs[(*key, OperationPhase.SUCCEEDED.value)] += 1
            await record_event(self.engine.kube, app, NORMAL, "SyncSucceeded", result.message)
        except SyncInProgress:
            self.queue.add_after(key, RUNNING_RECHECK)
        except SyncRefused as exc:
            # A guard said no: remember it as this revision's outcome (no retry loop).
            await self._record_refusal(key, exc.message)
            self.counters.syncs[(*key, OperationPhase.ERROR.value)] += 1
            await record_event(self.engine.kube, app, WARNING, "SyncRefused", exc.message)
        except ConditionNotMet as exc:
            self.counters.syncs[(*key, OperationPhase.FAILED.value)] += 1
            await record_event(self.engine.kube, app, WARNING, "SyncFailed", exc.message)
        except TetherError as exc:
            self.counters.syncs[(*key, OperationPhase.ERROR.value)] += 1
            await record_event(self.engine.kube, app, WARNING, "SyncFailed", exc.message)
        except Exception:
            log.exception("sync %s/%s crashed", *key)
        finally:
            self._syncing.discard(key)
            self.queue.done(key)
            self.queue.add(key)

    async def _record_refusal(self, key: AppKey, message: str) -> None:
        app = self._app(key)
        if app is None:
            return
        base = app.status or ApplicationStatus()
        now = now_rfc3339()
        state = OperationState(
            OperationPhase.ERROR,
            base.sync.revision,
            now,
            now,
            message,
            f"{CONTROLLER_INITIATOR}/auto-sync",
        )
        conditions = set_condition(
            base.conditions,
            Condition(CONDITION_SYNC_ERROR, ConditionStatus.TRUE, "SyncRefused", message),
            now,
        )
        status = dataclasses.replace(base, operation_state=state, conditions=tuple(conditions))
        await write_status(self.engine.apps, app, status)

    # -- git ---------------------------------------------------------------------------

    async def _fetch(self, app: Application) -> None:
        """Fetch the app's repository. Its apps are reconciled when a ref moved, or when
        fetching starts or stops failing (their SourceError condition)."""
        url = app.spec.source.repo_url
        credentials = await self.engine.repo_credentials(app, url)
        try:
            await self.engine.repos.fetch(url, credentials)
            digest = await self.engine.repos.refs_digest(url, credentials=credentials)
        except TetherError as exc:
            if url not in self._fetch_errors:
                self._enqueue_repository(url)
            self._fetch_errors[url] = exc.message.splitlines()[0] if exc.message else str(exc)
            raise
        finally:
            self._next_poll[url] = time.monotonic() + _jittered(self._interval_of(url))
        recovered = self._fetch_errors.pop(url, None) is not None
        previous = self._refs.get(url)
        self._refs[url] = digest
        if recovered or (previous is not None and previous != digest):
            self._enqueue_repository(url)

    def _enqueue_repository(self, url: str) -> None:
        for other in self._apps():
            if other.spec.source.repo_url == url:
                self._enqueue((other.namespace, other.name))

    def _interval_of(self, url: str) -> float:
        intervals = [a.spec.interval_seconds for a in self._apps() if a.spec.source.repo_url == url]
        return max(min(intervals, default=180.0), 1.0)

    async def _poll_loop(self) -> None:
        while True:
            now = time.monotonic()
            by_repo: dict[str, list[Application]] = {}
            for app in self._apps():
                if self._owns((app.namespace, app.name)):
                    by_repo.setdefault(app.spec.source.repo_url, []).append(app)
            # A repository never fetched is fetched by its first reconcile, not here.
            due = [url for url in by_repo if url in self._next_poll and self._next_poll[url] <= now]
            if due:
                await asyncio.gather(*(self._poll(url, by_repo[url]) for url in due))
            upcoming = [self._next_poll.get(url, now) for url in by_repo]
            wait = min([t - time.monotonic() for t in upcoming], default=5.0)
            self._poll_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_wakeup.wait(), max(min(wait, 5.0), 0.05))

    async def _poll(self, url: str, apps: Iterable[Application]) -> None:
        # Apps are re-compared only when a ref moved, or when a fetch starts or stops
        # failing (their SourceError condition); see _fetch.
        apps = list(apps)
        try:
            await self._fetch(apps[0])
        except TetherError as exc:
            log.warning("fetch %s: %s", url, exc)


def _fingerprint(meta: dict[str, Any]) -> tuple[Any, ...]:
    """What of an Application's metadata asks for a reconcile when it changes."""
    return (
        meta.get("generation"),
        tuple(sorted((meta.get("labels") or {}).items())),
        tuple(sorted((meta.get("annotations") or {}).items())),
    )


def _jittered(interval: float) -> float:
    return interval * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)
