"""The controller's sync tasks: each auto-sync, self-heal, retry or rebuild runs as its
own task (bounded by `max_syncs` slots), so a long health wait never blocks the compares
of other apps. The reconcile that decides to sync claims the operation in its own status
write (`claim`); the task records its Events, counters and notification, ends a claim
that got no outcome, and hands the app back to the work queue (ahead of ordinary work)
when it ends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tether.core.autosync import (
    CONTROLLER_INITIATOR,
    INTERRUPTED_MESSAGE,
    Action,
    Decision,
)
from tether.core.metrics import ControllerCounters
from tether.core.notify_event import NotificationEvent
from tether.engine.compare import Comparison, Engine
from tether.engine.events import NORMAL, WARNING, record_event
from tether.engine.operation import claim_operation, release_claim
from tether.engine.runtime import now_rfc3339
from tether.engine.sync import SyncInProgress, SyncRefused, SyncRequest, SyncResult, sync_app
from tether.errors import ConditionNotMet, TetherError
from tether.model.application import Application, ApplicationStatus, OperationPhase

from .destinations import Destinations
from .memory import AppMemory
from .notifications import controller_sync_event, refused_event
from .operations import record_refusal
from .queue import WorkQueue

log = logging.getLogger(__name__)

AppKey = tuple[str, str]  # (namespace, name)
RUNNING_RECHECK = 2.0  # seconds between looks at a sync someone else is running

REASONS = {
    Action.AUTO_SYNC: "AutoSync",
    Action.SELF_HEAL: "SelfHeal",
    Action.RETRY: "SyncRetry",
    Action.REBUILD: "ClusterRebuild",
}


@dataclass
class SyncTasks:
    engine: Engine
    destinations: Destinations
    queue: WorkQueue[AppKey]
    counters: ControllerCounters
    memory: Callable[[AppKey], AppMemory]
    app: Callable[[AppKey], Application | None]  # the app as the watch cache has it now
    notify: Callable[[NotificationEvent, Application], None]
    max_syncs: int = 4

    def __post_init__(self) -> None:
        self.running: set[AppKey] = set()
        self._slots = asyncio.Semaphore(self.max_syncs)

    def request_for(self, app: Application, decision: Decision) -> SyncRequest:
        """The sync a decision asks for, from the app as the reconcile read it."""
        retry_count = 0
        state = app.status.operation_state if app.status else None
        if decision.action is Action.RETRY and state is not None:
            retry_count = state.retry_count + (0 if state.message == INTERRUPTED_MESSAGE else 1)
        return SyncRequest(
            prune=app.auto_prune,
            initiated_by=f"{CONTROLLER_INITIATOR}/{decision.action.value}",
            fetch=False,
            # The outcome is written with the compare after the sync (Synced, and the
            # health then), so the reconcile queued after it finds nothing to write
            # unless the health moved on: one status write per sync fewer.
            refresh_after=True,
            retry_count=retry_count,
            # Argo CD's operation semantics: done once the last wave is applied; a
            # rollout of minutes must not hold a sync slot (health is in the status).
            final_health_gate=False,
        )

    async def claim(
        self,
        app: Application,
        status: ApplicationStatus,
        request: SyncRequest,
        revision: str | None,
    ) -> Application | None:
        """Write the reconcile's `status` with the sync's claim (one status write where
        there were two). None: another sync runs; nothing was written."""
        try:
            return await claim_operation(
                self.engine.apps,
                app,
                revision,
                now_rfc3339(),
                request.initiated_by,
                request.retry_count,
                status=status,
            )
        except SyncInProgress:
            return None

    async def run(
        self,
        key: AppKey,
        app: Application,
        decision: Decision,
        comparison: Comparison,
        request: SyncRequest,
    ) -> None:
        """Run the sync `app` (the copy its claim stored) was claimed for."""
        self.running.add(key)
        kube = self.engine.kube
        memory = self.memory(key)
        if decision.action is Action.SELF_HEAL:
            memory.heal.attempts += 1
            memory.heal.last_at = time.monotonic()

        def sync_event(message: str, result: SyncResult | None) -> NotificationEvent:
            return controller_sync_event(app, decision, comparison, message, result, kube.server)

        try:
            # A sync that had to wait for a slot compares again: the live state it was
            # planned from may have moved on meanwhile.
            planned: Comparison | None = None if self._slots.locked() else comparison
            async with self._slots:
                await record_event(kube, app, NORMAL, REASONS[decision.action], decision.reason)
                engine = await self.destinations.engine_for(app)
                result = await sync_app(engine, app, request, comparison=planned, claimed=True)
            if decision.action is Action.SELF_HEAL:
                memory.heal_check = (dict(result.stored_versions), result.revision)
            self.counters.syncs[(*key, OperationPhase.SUCCEEDED.value)] += 1
            await record_event(kube, app, NORMAL, "SyncSucceeded", result.message)
            self.notify(sync_event(result.message, result), app)
        except SyncInProgress:
            self.queue.add_after(key, RUNNING_RECHECK)
        except SyncRefused as exc:
            # A guard said no: remember it as this revision's outcome (no retry loop).
            await record_refusal(self.engine, self.app(key), exc.message, comparison.revision)
            self.counters.syncs[(*key, OperationPhase.ERROR.value)] += 1
            await record_event(kube, app, WARNING, "SyncRefused", exc.message)
            self.notify(refused_event(app, exc.message, kube.server), app)
        except TetherError as exc:
            phase = OperationPhase.FAILED if isinstance(exc, ConditionNotMet) else None
            self.counters.syncs[(*key, (phase or OperationPhase.ERROR).value)] += 1
            await self._release(app, exc.message)
            await record_event(kube, app, WARNING, "SyncFailed", exc.message)
            self.notify(sync_event(exc.message, None), app)
        except Exception:
            log.exception("sync %s/%s crashed", *key)
            await self._release(app, "the sync crashed (see the controller's log)")
        finally:
            self.running.discard(key)
            self.queue.done(key)
            self.queue.add(key, urgent=True)  # the reconcile that shows the outcome

    async def _release(self, claimed: Application, message: str) -> None:
        """A sync that failed before it recorded its outcome does not stay Running."""
        try:
            await release_claim(self.engine.apps, claimed, message)
        except TetherError as exc:
            log.warning(
                "sync %s/%s: cannot end its claim: %s", claimed.namespace, claimed.name, exc
            )


__all__ = ["RUNNING_RECHECK", "SyncTasks"]
