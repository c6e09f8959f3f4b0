"""What the dashboard's buttons do: the same engine functions as the CLI (sync, refresh,
suspend/resume, break-glass rollback, revert), each recorded as a Kubernetes Event on the
Application naming who did it and why (the audit trail)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tether.errors import TetherError
from tether.model.application import Application

from .apps import get_app
from .compare import Engine, refresh
from .events import NORMAL, WARNING, record_event
from .revert import RevertSelection, identity_from_env, revert_apps
from .rollback import rollback_app
from .settings import set_suspend
from .sync import SyncRequest, describe_plan, sync_app

ACTIONS = (
    "preview",
    "sync",
    "refresh",
    "hard-refresh",
    "suspend",
    "resume",
    "rollback",
    "revert-preview",
    "revert",
)
PREVIEWS = frozenset({"preview", "revert-preview"})  # change nothing: not audited


@dataclass(frozen=True)
class ActionRequest:
    action: str  # one of ACTIONS
    user: str  # who asked (the kubeconfig's user, or the TokenReview's)
    reason: str = ""
    prune: bool = False  # sync
    entry_id: int | None = None  # rollback: the history entry
    revert: RevertSelection = field(default_factory=lambda: RevertSelection(to_last_healthy=True))


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str  # one line
    plan: tuple[str, ...] = field(default=())  # the sync plan (preview and sync)
    commit: str = ""  # revert-preview: the commit as `git show` prints it
    follow_up_range: str = ""  # rollback: the A..B the follow-up revert reverts


async def run_action(
    engine: Engine, namespace: str, name: str, request: ActionRequest
) -> ActionResult:
    """Run the request's action on the app; a failure is a result (one line), not a raise."""
    app: Application | None = None
    try:
        app = await get_app(engine.kube, namespace, name)
        result = await _run(engine, app, request)
    except TetherError as exc:
        result = ActionResult(False, exc.message.splitlines()[0] if exc.message else str(exc))
    if app is not None and request.action not in PREVIEWS:
        await _audit(engine, app, request, result)
    return result


async def _run(engine: Engine, app: Application, request: ActionRequest) -> ActionResult:
    action, user = request.action, request.user
    if action in ("preview", "sync"):
        sync = SyncRequest(
            prune=request.prune, dry_run=action == "preview", initiated_by=f"dashboard:{user}"
        )
        synced = await sync_app(engine, app, sync)
        plan = tuple(describe_plan(synced.plan)) if synced.plan else ()
        return ActionResult(synced.succeeded, synced.message, plan)
    if action in ("revert-preview", "revert"):
        return await _revert(engine, app, request)
    if action in ("refresh", "hard-refresh"):
        compared = await refresh(engine, app, hard_refresh=action == "hard-refresh")
        if compared.error is not None:
            return ActionResult(False, compared.error.message.splitlines()[0])
        state = compared.status.sync.status.value if compared.status else "Unknown"
        return ActionResult(True, f"compared at {(compared.revision or '')[:8]}: {state}")
    if action in ("suspend", "resume"):
        await set_suspend(engine.kube, app.namespace, app.name, action == "suspend")
        return ActionResult(True, f"{app.name} {action}{'ed' if action == 'suspend' else 'd'}")
    if action == "rollback" and request.entry_id is not None:
        # Break-glass: the entry's stored manifests (Git not needed); auto-sync goes off
        # first so that it does not re-apply the current revision right after.
        report = await rollback_app(
            engine,
            app,
            request.entry_id,
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
            follow_up_range=report.follow_up_range,
        )
    return ActionResult(False, f"unknown action {action!r} (one of {', '.join(ACTIONS)})")


async def _revert(engine: Engine, app: Application, request: ActionRequest) -> ActionResult:
    """`tether revert` for this one app: the preview makes the commit in a throwaway clone
    and shows it; the real one pushes it (never forced) and syncs the app."""
    preview = request.action == "revert-preview"
    report = await revert_apps(
        engine,
        [app],
        request.revert,
        identity=identity_from_env(),
        initiated_by=f"dashboard:{request.user}",
        preview=preview,
    )
    outcome = report.outcome
    reverted = ", ".join(f"{c.sha[:8]} {c.subject}" for c in outcome.reverted)
    if preview:
        return ActionResult(
            True,
            f"would commit on {outcome.branch} (on top of {outcome.parent[:8]}) a revert of"
            f" {reverted}; nothing pushed",
            commit=outcome.changes,
        )
    synced = report.synced[0] if report.synced else None
    ok = synced is None or synced.succeeded
    after = f"; sync: {synced.message}" if synced is not None else ""
    return ActionResult(
        ok, f"revert commit {outcome.sha[:8]} pushed to {outcome.branch} ({reverted}){after}"
    )


async def _audit(
    engine: Engine, app: Application, request: ActionRequest, result: ActionResult
) -> None:
    outcome = "done" if result.ok else "failed"
    why = f" ({request.reason})" if request.reason else ""
    await record_event(
        engine.kube,
        app,
        NORMAL if result.ok else WARNING,
        "DashboardAction",
        f"{request.action} by {request.user}{why}: {outcome}: {result.message}",
    )


__all__ = ["ACTIONS", "PREVIEWS", "ActionRequest", "ActionResult", "run_action"]
