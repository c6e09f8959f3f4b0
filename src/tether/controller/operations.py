"""The controller's writes of the operation state outside a sync: a Running operation
nobody runs any more (a crash, a client that went away) marked failed, and an auto-sync a
guard refused recorded as the revision's outcome."""

from __future__ import annotations

import dataclasses
import time

from tether.core.autosync import CONTROLLER_INITIATOR, INTERRUPTED_MESSAGE, is_controller_operation
from tether.engine.apps import shadowed, write_status
from tether.engine.compare import Engine, now_rfc3339
from tether.engine.events import WARNING, record_event
from tether.model.application import (
    CONDITION_SYNC_ERROR,
    Application,
    ApplicationStatus,
    Condition,
    ConditionStatus,
    OperationPhase,
    OperationState,
    set_condition,
)
from tether.model.fields import parse_duration
from tether.model.keys import parse_rfc3339

ABANDONED_GRACE = 60.0  # a Running sync older than its timeout plus this was abandoned


async def recover_operation(engine: Engine, app: Application, *, syncing: bool) -> Application:
    """A Running operation nobody runs any more is marked failed (and resumed by the
    policy when it was ours): never "Running" forever after a crash."""
    state = app.status.operation_state if app.status else None
    if state is None or state.phase is not OperationPhase.RUNNING or syncing:
        return app
    # The copy at hand may predate the sync's own last write (the watch lags behind it, and
    # the reconcile after a sync comes right after that write): ask the API server first.
    raw = await engine.apps.read(app.namespace, app.name)
    if raw is None:
        return app
    app = shadowed(Application.from_dict(raw), engine.shadow)
    state = app.status.operation_state if app.status else None
    if state is None or state.phase is not OperationPhase.RUNNING:
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
    await write_status(engine.apps, app, status)
    await record_event(
        engine.kube,
        app,
        WARNING,
        "SyncInterrupted",
        f"sync of {state.revision}: {message}",
    )
    return dataclasses.replace(app, status=status)


async def record_refusal(
    engine: Engine, app: Application | None, message: str, revision: str | None = None
) -> None:
    """A guard refused the auto-sync of `revision`: remember it as that revision's outcome
    (operation Error, SyncError condition) instead of retrying. The revision is the one
    the sync was for, not the cached status's: the watch may not have delivered the
    reconcile's write of the new revision yet, and an older one would ask for the same
    auto-sync again."""
    if app is None:
        return
    base = app.status or ApplicationStatus()
    now = now_rfc3339()
    state = OperationState(
        OperationPhase.ERROR,
        revision or base.sync.revision,
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
    await write_status(engine.apps, app, status)
