"""`tether app get|delete|diff|sync|wait|rollback` (list, create and the settings live in
app_list.py, app_create.py and app_settings.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from tether.engine.apps import delete_app, get_app, list_apps
from tether.engine.compare import Comparison
from tether.engine.compare import refresh as refresh_app  # `refresh` is a flag here
from tether.engine.events import last_notification
from tether.engine.revert import identity_from_env
from tether.engine.rollback import RollbackReport, rollback_app
from tether.engine.sync import SyncRequest, SyncResult, delete_cascade, describe_plan, sync_app
from tether.engine.wait import wait_for_apps
from tether.errors import ConditionNotMet, InputError
from tether.model.application import (
    Application,
    ApplicationStatus,
)

from .context import CliContext, initiator, output_option, pass_cli
from .diff_view import diff_json, print_diff
from .engines import open_engine
from .output import echo, emit_data, emit_table, message
from .progress import SyncProgress

# -- get --------------------------------------------------------------------------


def _status(app: Application) -> ApplicationStatus:
    return app.status or ApplicationStatus()


@click.command("get")
@click.argument("name")
@click.option("--refresh", is_flag=True, help="Compare with Git now and update the status.")
@output_option
@pass_cli
def app_get(cli: CliContext, name: str, refresh: bool, fmt: str | None) -> None:
    """Show an application: spec summary, conditions and resources."""
    fmt = cli.fmt(fmt)

    async def run() -> tuple[Application, str | None]:
        async with open_engine(cli) as engine:
            app = await get_app(engine.kube, cli.app_namespace, name)
            if refresh:
                await refresh_app(engine, app)
                app = await get_app(engine.kube, cli.app_namespace, name)
            wanted = fmt not in ("json", "yaml", "name")
            return app, await last_notification(engine.kube, app) if wanted else None

    app, notified = asyncio.run(run())
    if fmt in ("json", "yaml"):
        emit_data(app.to_dict(), fmt)
        return
    if fmt == "name":
        click.echo(f"application/{app.name}")
        return
    _print_app(app, notified)


def _print_app(app: Application, notified: str | None = None) -> None:
    status = _status(app)
    source = app.spec.source
    lines = [
        f"Name:          {app.namespace}/{app.name}",
        f"Repo:          {source.repo_url}",
        f"Path:          {source.path}",
        f"Target:        {source.target_revision}",
        f"Destination:   {app.spec.destination.namespace or '-'}",
        f"Sync policy:   {'automated' if app.auto_sync_enabled else 'none'}"
        + (" (self-heal)" if app.self_heal else "")
        + (" (prune)" if app.auto_prune else "")
        + (" [suspended]" if app.spec.suspend else ""),
        f"Sync status:   {status.sync.status.value}"
        + (f" to {status.sync.revision[:8]}" if status.sync.revision else "")
        + (f" (out of sync since {status.out_of_sync_since})" if status.out_of_sync_since else ""),
        f"Health:        {status.health.status.value}"
        + (f": {status.health.message}" if status.health.message else ""),
        f"Compared at:   {status.sync.compared_at or '-'}",
        f"Notified:      {notified or '-'}",
    ]
    echo("\n".join(lines))
    if status.conditions:
        click.echo("\nCONDITIONS")
        emit_table(
            ["TYPE", "STATUS", "REASON", "MESSAGE", "SINCE"],
            [
                (c.type, c.status.value, c.reason, c.message, c.last_transition_time)
                for c in status.conditions
            ],
        )
    if status.resources:
        click.echo("\nRESOURCES")
        emit_table(
            ["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "DRIFT"],
            [
                (
                    r.group,
                    r.kind,
                    r.namespace,
                    r.name,
                    r.status.value,
                    r.health.status.value if r.health else "",
                    ", ".join(r.drift)
                    + (
                        f" ({r.drift_cause}" + (f", {r.drift_writer})" if r.drift_writer else ")")
                        if r.drift_cause
                        else ""
                    ),
                )
                for r in status.resources
            ],
        )


# -- delete ----------------------------------------------------------------------------------


@click.command("delete")
@click.argument("name")
@click.option("--cascade", is_flag=True, help="Also delete every object the app manages.")
@pass_cli
def app_delete(cli: CliContext, name: str, cascade: bool) -> None:
    """Delete the Application (with --cascade, its objects first, in reverse order)."""

    async def run() -> int:
        async with open_engine(cli) as engine:
            app = await get_app(engine.kube, cli.app_namespace, name)
            count = await delete_cascade(engine, app, message) if cascade else 0
            await delete_app(engine.kube, cli.app_namespace, name)
            return count

    count = asyncio.run(run())
    extra = f" and {count} objects" if cascade else " (its objects stay in the cluster)"
    message(f"application {cli.app_namespace}/{name} deleted{extra}")


# -- diff --------------------------------------------------------------------------------------


@click.command("diff")
@click.argument("name")
@click.option(
    "--local",
    "local_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Compare manifests from a local directory instead of Git.",
)
@click.option("--revision", help="Compare another branch, tag or commit.")
@click.option("--hard-refresh", is_flag=True, help="Fetch Git and re-render (no cached result).")
@click.option("--exit-code", is_flag=True, help="Exit 1 when any object differs.")
@output_option
@pass_cli
def app_diff(
    cli: CliContext,
    name: str,
    local_dir: Path | None,
    revision: str | None,
    hard_refresh: bool,
    exit_code: bool,
    fmt: str | None,
) -> None:
    """Show how the cluster differs from Git (server-side dry-run diff)."""
    fmt = cli.fmt(fmt)

    async def run() -> Comparison:
        async with open_engine(cli) as engine:
            app = await get_app(engine.kube, cli.app_namespace, name)
            # Stored in the status unless it is a --local/--revision diff (refresh says).
            result = await refresh_app(
                engine, app, revision=revision, local_dir=local_dir, hard_refresh=hard_refresh
            )
            return result

    result = asyncio.run(run())
    if result.error is not None:
        raise result.error
    assert result.diff is not None
    if fmt in ("json", "yaml"):
        emit_data(diff_json(result, result.diff), fmt)
    else:
        print_diff(result, result.diff)
        edits = sum(len(d.manual_edits) for d in result.diff.objects)
        message(
            f"{result.app.name}: {result.diff.verdict.value}"
            f" ({len(result.diff.out_of_sync)} of {len(result.diff.objects)} objects differ"
            + (f", {edits} undeclared manual edit(s)" if edits else "")
            + ")"
            + (f" at {result.revision[:8]}" if result.revision else "")
        )
    if exit_code and not result.diff.in_sync:
        raise ConditionNotMet(f"{result.app.name} differs from Git", hint=None)


# -- sync / wait -------------------------------------------------------------------------------


@click.command("sync")
@click.argument("name")
@click.option("--prune", is_flag=True, help="Delete tracked objects no longer in Git.")
@click.option("--confirm-prune", is_flag=True, help="Allow deleting more than half the app.")
@click.option("--dry-run", is_flag=True, help="Preflight and print the plan; change nothing.")
@click.option("--revision", help="Sync another branch, tag or commit.")
@click.option("--force", is_flag=True, help="Recreate objects whose immutable fields changed.")
@click.option("--timeout", type=float, help="Seconds for the whole sync (default spec.timeout).")
@output_option
@pass_cli
def app_sync(
    cli: CliContext,
    name: str,
    prune: bool,
    confirm_prune: bool,
    dry_run: bool,
    revision: str | None,
    force: bool,
    timeout: float | None,
    fmt: str | None,
) -> None:
    """Apply Git to the cluster: preflight, waves with health waits, prune, hooks."""
    fmt = cli.fmt(fmt)
    request = SyncRequest(
        prune=prune,
        confirm_prune=confirm_prune,
        dry_run=dry_run,
        revision=revision,
        force=force,
        initiated_by=initiator(),
        timeout=timeout,
    )

    async def run(progress: SyncProgress) -> SyncResult:
        async with open_engine(cli) as engine:
            app = await get_app(engine.kube, cli.app_namespace, name)
            return await sync_app(engine, app, request, progress)

    with SyncProgress() as progress:
        result = asyncio.run(run(progress))
    if fmt in ("json", "yaml"):
        emit_data(
            {
                "application": f"{result.app.namespace}/{result.app.name}",
                "phase": result.phase.value,
                "message": result.message,
                "revision": result.revision,
                "applied": [str(k) for k in result.applied],
                "pruned": [str(k) for k in result.pruned],
                "plan": describe_plan(result.plan) if result.plan else [],
            },
            fmt,
        )
    elif dry_run and result.plan is not None:
        echo("\n".join(describe_plan(result.plan)))
    message(f"{name}: {result.phase.value}: {result.message}")


@click.command("wait")
@click.argument("names", nargs=-1)
@click.option("-l", "--selector", help="Wait for the apps matching a label selector.")
@click.option("--all", "all_apps", is_flag=True, help="Wait for every app in the namespace.")
@click.option("--sync", "want_sync", is_flag=True, help="Wait until Synced.")
@click.option("--health", "want_health", is_flag=True, help="Wait until Healthy.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds.")
@pass_cli
def app_wait(
    cli: CliContext,
    names: tuple[str, ...],
    selector: str | None,
    all_apps: bool,
    want_sync: bool,
    want_health: bool,
    timeout: float,
) -> None:
    """Wait until apps are Synced and/or Healthy (both when neither flag is given).

    The CLI compares by itself on every round, so it works without a controller.
    """
    if not names and not selector and not all_apps:
        raise InputError("app wait: name apps, or use -l SELECTOR or --all")
    if not want_sync and not want_health:
        want_sync = want_health = True

    async def run() -> list[str]:
        async with open_engine(cli) as engine:
            if names:
                apps = [await get_app(engine.kube, cli.app_namespace, n) for n in names]
            else:
                apps = await list_apps(engine.kube, cli.app_namespace, selector)
            return await wait_for_apps(
                engine, apps, want_sync=want_sync, want_health=want_health, timeout=timeout
            )

    waiting = asyncio.run(run())
    if waiting:
        for line in waiting:
            message(f"not ready: {line}")
        raise ConditionNotMet(
            f"{len(waiting)} app(s) not ready after {timeout:.0f}s: "
            + ", ".join(w.split(":")[0] for w in waiting)
        )
    message("ready")


@click.command("rollback")
@click.argument("name")
@click.argument("history_id", type=int, required=False)
@click.option("--disable-auto-sync", is_flag=True, help="Turn auto-sync off (required if on).")
@click.option(
    "--revert",
    "make_revert",
    is_flag=True,
    help="Also make the git revert that brings Git to the rolled-back state.",
)
@pass_cli
def app_rollback(
    cli: CliContext,
    name: str,
    history_id: int | None,
    disable_auto_sync: bool,
    make_revert: bool,
) -> None:
    """Break-glass: apply a history entry's stored manifests (works with Git down)."""

    async def run() -> RollbackReport:
        async with open_engine(cli) as engine:
            app = await get_app(engine.kube, cli.app_namespace, name)
            return await rollback_app(
                engine,
                app,
                history_id,
                disable_auto_sync=disable_auto_sync,
                make_revert=make_revert,
                identity=identity_from_env(),
                initiated_by=initiator(),
                progress=message,
            )

    report = asyncio.run(run())
    entry = report.entry
    message(f"{name}: rolled back to history {entry.id} ({entry.revision[:8]}); break-glass active")
    if report.revert is not None:
        message(f"git now matches: revert commit {report.revert.outcome.sha[:8]} pushed")
    else:
        message(f"make Git match the cluster again with: {report.follow_up}")
