"""What the dashboard's buttons do: the same engine functions as the CLI (sync, refresh,
suspend/resume), each recorded as a Kubernetes Event on the Application naming who did
it and why (the audit trail)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tether.errors import TetherError
from tether.model.application import Application

from .apps import get_app
from .compare import Engine, refresh
from .events import NORMAL, WARNING, record_event
from .revert import identity_from_env
from .rollback import rollback_app
from .settings import set_suspend
from .sync import SyncRequest, describe_plan, sync_app

ACTIONS = ("preview", "sync", "refresh", "hard-refresh", "suspend", "resume", "rollback")


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str  # one line
    plan: tuple[str, ...] = field(default=())  # the sync plan (preview and sync)


async def run_action(
    engine: Engine,
    namespace: str,
    name: str,
    action: str,
    *,
    user: str,
    reason: str,
    prune: bool = False,
    entry_id: int | None = None,
) -> ActionResult:
    """Run `action` on the app as `user`; a failure is a result (one line), not a raise."""
    app: Application | None = None
    try:
        app = await get_app(engine.kube, namespace, name)
        result = await _run(engine, app, action, user=user, prune=prune, entry_id=entry_id)
    except TetherError as exc:
        result = ActionResult(False, exc.message.splitlines()[0] if exc.message else str(exc))
    if app is not None and action != "preview":  # a preview changes nothing
        await _audit(engine, app, action, user, reason, result)
    return result


async def _run(
    engine: Engine,
    app: Application,
    action: str,
    *,
    user: str,
    prune: bool,
    entry_id: int | None,
) -> ActionResult:
    if action in ("preview", "sync"):
        request = SyncRequest(
            prune=prune, dry_run=action == "preview", initiated_by=f"dashboard:{user}"
        )
        synced = await sync_app(engine, app, request)
        plan = tuple(describe_plan(synced.plan)) if synced.plan else ()
        return ActionResult(synced.succeeded, synced.message, plan)
    if action in ("refresh", "hard-refresh"):
        compared = await refresh(engine, app, hard_refresh=action == "hard-refresh")
        if compared.error is not None:
            return ActionResult(False, compared.error.message.splitlines()[0])
        sync = compared.status.sync.status.value if compared.status else "Unknown"
        return ActionResult(True, f"compared at {(compared.revision or '')[:8]}: {sync}")
    if action in ("suspend", "resume"):
        await set_suspend(engine.kube, app.namespace, app.name, action == "suspend")
        return ActionResult(True, f"{app.name} {action}{'ed' if action == 'suspend' else 'd'}")
    if action == "rollback" and entry_id is not None:
        # Break-glass: the entry's stored manifests (Git not needed); auto-sync goes off
        # first so that it does not re-apply the current revision right after.
        report = await rollback_app(
            engine,
            app,
            entry_id,
            disable_auto_sync=True,
            make_revert=False,
            identity=identity_from_env(),
            initiated_by=f"dashboard:{user}",
        )
        entry = report.entry
        return ActionResult(
            True,
            f"rolled back to history {entry.id} ({entry.revision[:8]}); break-glass active,"
            f" auto-sync off; make Git match the cluster with: {report.follow_up}",
        )
    return ActionResult(False, f"unknown action {action!r} (one of {', '.join(ACTIONS)})")


async def _audit(
    engine: Engine, app: Application, action: str, user: str, reason: str, result: ActionResult
) -> None:
    outcome = "done" if result.ok else "failed"
    why = f" ({reason})" if reason else ""
    await record_event(
        engine.kube,
        app,
        NORMAL if result.ok else WARNING,
        "DashboardAction",
        f"{action} by {user}{why}: {outcome}: {result.message}",
    )


__all__ = ["ACTIONS", "ActionResult", "run_action"]
