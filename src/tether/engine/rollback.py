"""Break-glass rollback: apply the stored manifests of a history entry (DESIGN §3).

It works while Git is unreachable (the manifests come from the app's history Secrets).
It refuses while auto-sync is on, unless told to turn it off, because auto-sync would
re-apply the broken revision. Afterwards the app is marked `breakGlass.active` with a
`BreakGlass` condition until Git renders the rolled-back state again; the follow-up
`tether revert` that gets Git there is printed, or made with `revert=True`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tether.core.plan import plan_sync
from tether.errors import InputError
from tether.git.revert import GitIdentity
from tether.model.application import (
    CONDITION_BREAK_GLASS,
    Application,
    ApplicationStatus,
    BreakGlass,
    Condition,
    ConditionStatus,
    HistoryEntry,
    set_condition,
)

from .apps import get_app, write_status
from .compare import Engine, now_rfc3339
from .history import find_entry, load_manifests
from .revert import RevertReport, RevertSelection, revert_apps
from .settings import set_sync_policy
from .sync import Progress, SyncRequest, SyncResult, refuse_detect_only, run_operation


@dataclass
class RollbackReport:
    entry: HistoryEntry
    result: SyncResult
    follow_up: str
    revert: RevertReport | None = None
    follow_up_range: str = ""  # A..B for the follow-up revert ("" when Git is already there)


async def rollback_app(
    engine: Engine,
    app: Application,
    entry_id: int | None,
    *,
    disable_auto_sync: bool,
    make_revert: bool,
    identity: GitIdentity,
    initiated_by: str,
    progress: Progress = lambda _: None,
) -> RollbackReport:
    refuse_detect_only(app, "rollback")
    engine = await engine.for_app(app)  # stored manifests go where the app deploys
    entry = _choose(app, entry_id)
    if app.auto_sync_enabled:
        if not disable_auto_sync:
            raise InputError(
                f"Application {app.name} has auto-sync on: it would re-apply the current"
                " revision right after a rollback",
                hint="pass --disable-auto-sync (re-enable later with tether app set)",
            )
        app = await set_sync_policy(engine.home_kube, app.namespace, app.name, automated=False)
        progress(f"auto-sync of {app.name} disabled")
    manifests = await load_manifests(engine.home_kube, app, entry.id)
    plan = plan_sync(manifests, [], prune=False)
    result = await run_operation(
        engine,
        app,
        plan,
        entry.revision,
        SyncRequest(initiated_by=initiated_by),
        progress,
        record=False,
        action="rollback",
        verb="rolled back",
    )
    head = (app.status.sync.revision if app.status else None) or "HEAD"
    follow_up = f"tether revert {app.name} --range {entry.revision[:12]}..{head[:12]}"
    await _mark_break_glass(engine, app, entry, follow_up)
    report = RollbackReport(entry, result, follow_up)
    if head not in (entry.revision, "HEAD"):
        report.follow_up_range = f"{entry.revision}..{head}"
    if make_revert and head != entry.revision:
        report.revert = await revert_apps(
            engine,
            [await get_app(engine.home_kube, app.namespace, app.name)],
            RevertSelection(range=f"{entry.revision}..{head}"),
            identity=identity,
            initiated_by=initiated_by,
            sync=False,  # the cluster is already where the revert takes Git
            progress=progress,
        )
    return report


def _choose(app: Application, entry_id: int | None) -> HistoryEntry:
    history = app.status.history if app.status else ()
    if entry_id is not None:
        return find_entry(app, entry_id)
    if len(history) < 2:
        raise InputError(
            f"Application {app.name}: no earlier deployment to roll back to",
            hint=f"tether app history {app.name}",
        )
    return history[-2]


async def _mark_break_glass(
    engine: Engine, app: Application, entry: HistoryEntry, follow_up: str
) -> None:
    current = await get_app(engine.home_kube, app.namespace, app.name)
    now = now_rfc3339()
    message = (
        f"rolled back to history {entry.id} ({entry.revision[:8]}) outside Git;"
        f" make Git match: {follow_up}"
    )
    status = current.status or ApplicationStatus()
    status = dataclasses.replace(
        status,
        break_glass=BreakGlass(True, entry.id, now, message),
        conditions=tuple(
            set_condition(
                status.conditions,
                Condition(CONDITION_BREAK_GLASS, ConditionStatus.TRUE, "RolledBack", message),
                now,
            )
        ),
    )
    await write_status(engine.apps, current, status)
