"""The sync operation's claim: one sync per app at a time.

A sync starts by writing `status.operationState` (phase Running) through the status
writer (engine/apps.update_status), guarded by the Application's resourceVersion: of two
clients racing for the same app, one gets a conflict, reads again, finds the operation
Running and stops.
"""

from __future__ import annotations

import dataclasses

from tether.errors import ConditionNotMet, InputError
from tether.model.application import (
    Application,
    ApplicationStatus,
    OperationPhase,
    OperationState,
)

from .apps import ApplicationStore, StatusConflict, update_status


class SyncInProgress(ConditionNotMet):
    """Another sync of the app is running (or claimed it at the same moment)."""


async def claim_operation(
    store: ApplicationStore,
    app: Application,
    revision: str | None,
    started: str,
    initiated_by: str,
    retry_count: int = 0,
) -> Application:
    """Mark the operation Running and return the Application as stored after it.

    A conflict caused by another kind of status write (a controller refreshing the
    comparison) is retried on a fresh read; only a Running operation refuses the claim.
    """

    def claim(current: Application) -> ApplicationStatus:
        state = current.status.operation_state if current.status else None
        if state is not None and state.phase is OperationPhase.RUNNING:
            raise SyncInProgress(
                f"Application {app.name}: a sync started at {state.started_at} by"
                f" {state.initiated_by or 'someone'} is still running",
                hint="wait for it (tether app wait) and try again",
            )
        return dataclasses.replace(
            current.status or ApplicationStatus(),
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


__all__ = ["SyncInProgress", "claim_operation"]
