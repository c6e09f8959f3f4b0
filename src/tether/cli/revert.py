"""`tether revert APP... (--commit SHA | --range A..B | --to-last-healthy)`."""

from __future__ import annotations

import asyncio

import click

from tether.engine.apps import get_app
from tether.engine.revert import RevertReport, RevertSelection, identity_from_env, revert_apps
from tether.engine.wait import wait_for_apps
from tether.errors import ConditionNotMet

from .context import CliContext, initiator, output_option, pass_cli
from .engines import open_engine
from .output import emit_data, message


@click.command("revert")
@click.argument("apps", nargs=-1, required=True)
@click.option("--commit", help="Revert this commit.")
@click.option("--range", "range_", help="Revert every commit in A..B (reachable from B, not A).")
@click.option(
    "--to-last-healthy",
    is_flag=True,
    help="Revert every commit since the last history entry that ended Healthy.",
)
@click.option("--no-push", is_flag=True, help="Make the commit in a local clone; do not push.")
@click.option("--no-sync", is_flag=True, help="Push, but do not sync the apps.")
@click.option("--wait", is_flag=True, help="After syncing, wait until every app is Healthy.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds for --wait.")
@output_option
@pass_cli
def revert_command(
    cli: CliContext,
    apps: tuple[str, ...],
    commit: str | None,
    range_: str | None,
    to_last_healthy: bool,
    no_push: bool,
    no_sync: bool,
    wait: bool,
    timeout: float,
    fmt: str | None,
) -> None:
    """Roll apps back the Git way: one revert commit, pushed without force, then sync."""
    selection = RevertSelection(commit=commit, range=range_, to_last_healthy=to_last_healthy)
    initiated_by = initiator()

    async def run() -> RevertReport:
        async with open_engine(cli) as engine:
            resolved = [await get_app(engine.kube, cli.app_namespace, name) for name in apps]
            report = await revert_apps(
                engine,
                resolved,
                selection,
                identity=identity_from_env(),
                initiated_by=initiated_by,
                push=not no_push,
                sync=not no_sync,
                progress=message,
            )
            if wait and report.synced:
                waiting = await wait_for_apps(
                    engine, resolved, want_sync=True, want_health=True, timeout=timeout
                )
                if waiting:
                    raise ConditionNotMet(
                        f"after the revert, not ready: {'; '.join(waiting)}",
                        hint="the revert commit is pushed; see tether app get",
                    )
            return report

    report = asyncio.run(run())
    outcome = report.outcome
    data = {
        "commit": outcome.sha,
        "branch": outcome.branch,
        "parent": outcome.parent,
        "pushed": outcome.pushed,
        "attempts": outcome.attempts,
        "reverted": [{"sha": c.sha, "subject": c.subject} for c in outcome.reverted],
        "workdir": str(outcome.workdir) if outcome.workdir else None,
        "synced": {r.app.name: r.phase.value for r in report.synced},
    }
    if cli.fmt(fmt) in ("json", "yaml"):
        emit_data(data, cli.fmt(fmt))
    else:
        click.echo(outcome.sha)
