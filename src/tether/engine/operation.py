"""The sync operation: what is asked (SyncRequest), what came of it (SyncResult), the
claim that makes it one per app at a time, and the outcome recorded at its end.

A sync starts by writing `status.operationState` (phase Running) through the status
writer (engine/apps.update_status), guarded by the Application's resourceVersion: of two
clients racing for the same app, one gets a conflict, reads again, finds the operation
Running and stops. It ends with one status write on the copy the claim stored: the
outcome and, after a success, the history entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.core.health import (
    HealthStatus,
    aggregate_health,
    health_of_missing,
)
from tether.core.plan import SyncPlan
from tether.core.status import merge_status
from tether.errors import ConditionNotMet, InputError, TetherError
from tether.kube import KubeClient
from tether.model.application import (
    Application,
    ApplicationStatus,
    OperationPhase,
    OperationState,
)
from tether.model.keys import ResourceKey, resource_version_of

from .apps import ApplicationStore, StatusConflict, update_status, write_status
from .compare import (
    Comparison,
    Engine,
    compare,
    now_rfc3339,
)
from .history import append_history
from .hooks import (
    HookRun,
)
from .waiting import Waiting


@dataclass(frozen=True)
class SyncRequest:
    prune: bool = False
    confirm_prune: bool = False
    dry_run: bool = False
    revision: str | None = None
    force: bool = False
    initiated_by: str = "tether-cli"
    timeout: float | None = None  # default: spec.timeout
    fetch: bool = True  # the controller fetches on its own schedule and passes False
    # Wait for the last wave to be healthy before the operation ends (the CLI does, as
    # `argocd app sync` waits for health). Without it the sync ends once the last wave is
    # applied, as an Argo CD sync operation does; health is then tracked by the status.
    # Waves before the last, and hooks, are always health-gated.
    final_health_gate: bool = True
    retry_count: int = 0  # failed attempts before this one (syncPolicy.retry)
    # Compare again once the operation ends and store that comparison in the status (the
    # CLI does, to print the state it reached). The controller passes False: it queues
    # the app again right away, and that reconcile's compare is the one after the sync.
    refresh_after: bool = True


@dataclass
class SyncResult:
    app: Application
    phase: OperationPhase
    message: str
    revision: str | None
    plan: SyncPlan | None = None
    applied: list[ResourceKey] = field(default_factory=list)
    pruned: list[ResourceKey] = field(default_factory=list)
    comparison: Comparison | None = None
    hint: str | None = None
    # resourceVersion each apply returned: the health gate never judges an older copy.
    stored_versions: dict[ResourceKey, int] = field(default_factory=dict)
    # What each apply returned (the health recorded with the history entry reads it when
    # the watch has not caught up yet, instead of a GET).
    stored_objects: dict[ResourceKey, dict[str, Any]] = field(default_factory=dict, repr=False)
    # The client of every write to the app's objects (impersonating its ServiceAccount).
    writer: KubeClient | None = field(default=None, repr=False, compare=False)
    # Every hook object this sync created, for the hook delete policies.
    hooks: list[HookRun] = field(default_factory=list)
    # What the health gate waits for right now, and why: a timeout names it.
    waiting: Waiting = field(default_factory=dict, repr=False)

    def write_client(self, engine: Engine) -> KubeClient:
        return self.writer or engine.writer_for(self.app)

    @property
    def succeeded(self) -> bool:
        return self.phase is OperationPhase.SUCCEEDED


class SyncRefused(ConditionNotMet):
    """A guard refused the sync before anything was written (prune guards)."""


class SyncInProgress(ConditionNotMet):
    """Another sync of the app is running (or claimed it at the same moment)."""


async def claim_operation(
    store: ApplicationStore,
    app: Application,
    revision: str | None,
    started: str,
    initiated_by: str,
    retry_count: int = 0,
    *,
    status: ApplicationStatus | None = None,
) -> Application:
    """Mark the operation Running and return the Application as stored after it.

    `status`, computed from `app` (the controller's reconcile), is written with the claim
    (merged like engine/apps.write_status): one write where there were two. A conflict
    caused by another kind of status write (a controller refreshing the comparison) is
    retried on a fresh read; only a Running operation refuses the claim.
    """

    def claim(current: Application) -> ApplicationStatus:
        state = current.status.operation_state if current.status else None
        if state is not None and state.phase is OperationPhase.RUNNING:
            raise SyncInProgress(
                f"Application {app.name}: a sync started at {state.started_at} by"
                f" {state.initiated_by or 'someone'} is still running",
                hint="wait for it (tether app wait) and try again",
            )
        base = current.status
        if status is not None:
            base = merge_status(app.status, status, current.status)
        return dataclasses.replace(
            base or ApplicationStatus(),
            operation_state=OperationState(
                OperationPhase.RUNNING,
                revision,
                started,
                None,
                "sync started",
                initiated_by,
                retry_count,
            ),
        )

    try:
        written = await update_status(store, app, claim, what="the sync claim")
    except StatusConflict as exc:
        raise SyncInProgress(
            f"Application {app.name}: another sync claimed it at the same time",
            hint="wait for it (tether app wait) and try again",
        ) from exc
    if written.app is None:
        raise InputError(f"Application {app.namespace}/{app.name} not found")
    return written.app


async def release_claim(store: ApplicationStore, claimed: Application, message: str) -> None:
    """End a claimed operation that never recorded an outcome (refused or failed before
    its first write) as Error with `message`: a claim is never left Running. Nothing is
    written when the outcome is there already (the claim is no longer what is stored)."""
    mine = claimed.status.operation_state if claimed.status else None
    if mine is None or mine.phase is not OperationPhase.RUNNING:
        return
    raw = await store.read(claimed.namespace, claimed.name)  # the outcome may be there
    if raw is None:
        return

    def release(current: Application) -> ApplicationStatus | None:
        state = current.status.operation_state if current.status else None
        if state != mine or current.status is None:
            return None
        ended = dataclasses.replace(
            mine, phase=OperationPhase.ERROR, finished_at=now_rfc3339(), message=message
        )
        return dataclasses.replace(current.status, operation_state=ended)

    await update_status(
        store, Application.from_dict(raw), release, what="the end of the sync claim"
    )


async def finish_operation(
    engine: Engine,
    app: Application,
    result: SyncResult,
    started: str,
    request: SyncRequest,
    *,
    record: bool = True,
) -> None:
    """Record the outcome in operationState (with the comparison after the sync when
    `request.refresh_after`) and, after a successful sync, the history entry."""
    finished = now_rfc3339()
    after: Comparison | None = None
    if request.refresh_after:
        # The compare reads the watch cache: let it see what this sync wrote first, or an
        # object just created (a ConfigMap has no health wait) would read as missing.
        await _cache_caught_up(engine, result.stored_versions, result.pruned)
        after = await compare(engine, app, revision=request.revision, fetch=False)
        result.comparison = after
    state = OperationState(
        result.phase,
        result.revision,
        started,
        finished,
        result.message,
        request.initiated_by,
        request.retry_count,
    )
    base = after.status if after is not None and after.status is not None else app.status
    status = dataclasses.replace(
        base or ApplicationStatus(),
        history=app.status.history if app.status else (),
        operation_state=state,
    )
    if not (record and result.phase is OperationPhase.SUCCEEDED and result.revision):
        written = await write_status(engine.apps, app, status)
        result.app = written.app or result.app
        return
    # The rendered manifests of this revision, kept in Secrets owned by the app, are what
    # a break-glass rollback applies when Git is unreachable.
    applied = after if after is not None else result.comparison
    manifests = (
        [o for o in applied.desired if ResourceKey.of(o) not in applied.shared]
        if applied is not None
        else []
    )
    if after is not None:
        health = after.app_health.status if after.app_health else None
    else:
        health = await _health_now(engine, app, manifests, result)
    try:
        # The outcome and the history entry in one status write (they were two).
        _, stored = await append_history(
            engine.home_kube,
            engine.apps,
            app,
            revision=result.revision,
            manifests=manifests,
            deployed_at=finished,
            deploy_started_at=started,
            initiated_by=request.initiated_by,
            health=str(health) if health is not None else None,
            along=lambda current: merge_status(app.status, status, current.status),
        )
    except TetherError:
        # No entry (its Secret or the write was refused): the outcome is still recorded.
        with contextlib.suppress(TetherError):
            await write_status(engine.apps, app, status)
        raise
    result.app = stored or result.app


CACHE_CATCH_UP_SECONDS = 5.0


async def _cache_caught_up(
    engine: Engine, versions: Mapping[ResourceKey, int], pruned: Sequence[ResourceKey] = ()
) -> None:
    """Until every watched object holds at least the version this sync stored and every
    object it pruned is gone from the cache (bounded: a watch that lags longer is the
    compare's to report, not the sync's to wait for)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CACHE_CATCH_UP_SECONDS
    while loop.time() < deadline:
        behind = [
            key
            for key, version in versions.items()
            if engine.cache.watched(key.group, key.kind)
            and resource_version_of(engine.cache.get(key) or {}) < version
        ]
        behind += [
            key
            for key in pruned
            if engine.cache.watched(key.group, key.kind) and engine.cache.get(key) is not None
        ]
        if not behind:
            return
        await asyncio.sleep(0.05)


async def _health_now(
    engine: Engine,
    app: Application,
    objects: Sequence[dict[str, Any]],
    result: SyncResult,
) -> HealthStatus | None:
    """The app's health right after its last wave, from the live copies (no new compare:
    the history entry records it, the next reconcile's compare stores the full picture):
    the watch cache's copy, or what the apply returned when the watch is behind it."""
    lives = []
    for obj in objects:
        key = ResourceKey.of(obj)
        version = result.stored_versions.get(key, 0)
        cached = engine.cache.get(key) if engine.cache.watched(key.group, key.kind) else None
        live = cached if cached is not None and resource_version_of(cached) >= version else None
        live = live or result.stored_objects.get(key)
        live = live or await engine.live_copy(obj, at_least=version)
        if live is not None:
            lives.append((key, live))
    rules = await engine.health_rules(app.namespace, app)
    assessed = await engine.evaluator.assess_health(
        [live for _, live in lives], rules, what=f"Application {app.name}"
    )
    found = {key: health for (key, _), health in zip(lives, assessed, strict=True)}
    keys = [ResourceKey.of(o) for o in objects]
    overall = aggregate_health(
        (key, found[key] if key in found else health_of_missing()) for key in keys
    )
    return overall.status
