"""`tether app set|suspend|resume|history`, registered on the `app` group of `.app`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from tether.engine.history import app_history
from tether.engine.reconcile_request import request_reconcile, wait_handled
from tether.engine.settings import (
    describe_sync_policy,
    set_source_and_options,
    set_suspend,
    set_sync_policy,
)
from tether.errors import InputError
from tether.kube import KubeClient
from tether.model.application import Application, HistoryEntry
from tether.render import load_untrusted_yaml

from .context import CliContext, output_option, pass_cli
from .output import emit_data, emit_table, message

T = TypeVar("T")

SYNC_POLICIES = ("automated", "none")
HISTORY_HEADERS = ["ID", "DATE", "REVISION", "INITIATED-BY", "HEALTH"]
WIDE_HISTORY_HEADERS = [*HISTORY_HEADERS, "STARTED", "MANIFESTS"]
SHORT_REVISION = 8


def _run(cli: CliContext, work: Callable[[KubeClient], Awaitable[T]]) -> T:
    """Run one engine call with a cluster client that is closed afterwards."""

    async def run() -> T:
        kube = cli.kube()
        try:
            return await work(kube)
        finally:
            kube.close()

    return asyncio.run(run())


# -- set ---------------------------------------------------------------------------------


@click.command("set")
@click.argument("name")
@click.option(
    "--sync-policy",
    type=click.Choice(SYNC_POLICIES),
    help="automated: sync on every new revision; none: sync only when asked.",
)
@click.option("--self-heal/--no-self-heal", default=None, help="Undo live drift automatically.")
@click.option("--auto-prune/--no-auto-prune", default=None, help="Delete objects removed from Git.")
@click.option("--revision", help="Track another branch, tag or commit.")
@click.option("--path", help="Deploy another path of the repository.")
@click.option(
    "--sync-option", "sync_options", multiple=True, help="Set sync option KEY=VALUE (repeatable)."
)
@click.option(
    "--remove-sync-option", "remove_options", multiple=True, help="Unset sync option KEY."
)
@click.option(
    "--ignore-difference",
    "ignores",
    multiple=True,
    help="Add an ignoreDifferences rule (YAML/JSON), e.g. '{kind: Deployment, jsonPointers:"
    " [/spec/replicas]}'.",
)
@click.option("--clear-ignore-differences", is_flag=True, help="Remove every ignore rule.")
@pass_cli
def app_set(
    cli: CliContext,
    name: str,
    sync_policy: str | None,
    self_heal: bool | None,
    auto_prune: bool | None,
    revision: str | None,
    path: str | None,
    sync_options: tuple[str, ...],
    remove_options: tuple[str, ...],
    ignores: tuple[str, ...],
    clear_ignore_differences: bool,
) -> None:
    """Change an application's sync policy, source revision/path, sync options or ignore
    rules (flags not given keep their value)."""
    rules = [_ignore_rule(text) for text in ignores]
    options = [_option(text) for text in sync_options]
    changes_source = bool(
        revision or path or options or remove_options or rules or clear_ignore_differences
    )
    changes_policy = sync_policy is not None or self_heal is not None or auto_prune is not None
    if changes_source:
        app = _run(
            cli,
            lambda kube: set_source_and_options(
                kube,
                cli.app_namespace,
                name,
                revision=revision,
                path=path,
                set_options=options,
                remove_options=remove_options,
                add_ignores=rules,
                clear_ignores=clear_ignore_differences,
            ),
        )
        message(f"application {app.namespace}/{app.name}: spec updated")
    if changes_policy or not changes_source:
        automated = None if sync_policy is None else sync_policy == "automated"
        app = _run(
            cli,
            lambda kube: set_sync_policy(
                kube,
                cli.app_namespace,
                name,
                automated=automated,
                self_heal=self_heal,
                prune=auto_prune,
            ),
        )
        policy = describe_sync_policy(app)
        message(f"application {app.namespace}/{app.name}: sync policy {policy}")


def _option(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise InputError(f"app set: --sync-option {text!r} must look like KEY=VALUE")
    return key.strip(), value


def _ignore_rule(text: str) -> dict[str, Any]:
    documents = load_untrusted_yaml(text, "--ignore-difference")
    rule = documents[0] if documents else None
    if not isinstance(rule, dict):
        raise InputError(
            f"app set: --ignore-difference {text!r} must be a mapping",
            hint="e.g. '{group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}'",
        )
    return rule


# -- suspend / resume --------------------------------------------------------------------


def _set_suspend(cli: CliContext, name: str, suspend: bool) -> Application:
    return _run(cli, lambda kube: set_suspend(kube, cli.app_namespace, name, suspend))


@click.command("suspend")
@click.argument("name")
@pass_cli
def app_suspend(cli: CliContext, name: str) -> None:
    """Stop every write (sync, self-heal) to an application; status stays current."""
    app = _set_suspend(cli, name, True)
    message(f"application {app.namespace}/{app.name} suspended")


@click.command("resume")
@click.argument("name")
@pass_cli
def app_resume(cli: CliContext, name: str) -> None:
    """Let a suspended application sync (and self-heal) again."""
    app = _set_suspend(cli, name, False)
    message(f"application {app.namespace}/{app.name} resumed")


# -- history -----------------------------------------------------------------------------


def _history_row(entry: HistoryEntry, wide: bool) -> list[Any]:
    row: list[Any] = [
        entry.id,
        entry.deployed_at,
        entry.revision if wide else entry.revision[:SHORT_REVISION],
        entry.initiated_by or "",
        entry.health.value if entry.health is not None else "",
    ]
    if wide:
        row += [entry.deploy_started_at or "", entry.manifests_ref or ""]
    return row


@click.command("history")
@click.argument("name")
@output_option
@pass_cli
def app_history_command(cli: CliContext, name: str, fmt: str | None) -> None:
    """Deployments of an application, oldest first (rollback targets by ID)."""
    fmt = cli.fmt(fmt)
    entries = _run(cli, lambda kube: app_history(kube, cli.app_namespace, name))
    if fmt in ("json", "yaml"):
        emit_data([e.to_dict() for e in entries], fmt)
    elif fmt == "name":
        click.echo("\n".join(str(e.id) for e in entries))
    else:
        wide = fmt == "wide"
        headers = WIDE_HISTORY_HEADERS if wide else HISTORY_HEADERS
        emit_table(headers, [_history_row(e, wide) for e in entries])
    if not entries:
        message(f"application {cli.app_namespace}/{name} has no history yet (no full sync)")


# -- reconcile ---------------------------------------------------------------------------


@click.command("reconcile")
@click.argument("name")
@click.option("--with-source", is_flag=True, help="Fetch the Git repository first.")
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=120.0, show_default=True, help="Seconds."
)
@pass_cli
def app_reconcile(cli: CliContext, name: str, with_source: bool, timeout: float) -> None:
    """Ask the controller to reconcile an application now, and wait until it has."""

    async def work(kube: KubeClient) -> Application:
        token = await request_reconcile(kube, cli.app_namespace, name, with_source=with_source)
        message(f"reconcile of {cli.app_namespace}/{name} requested ({token})")
        return await wait_handled(kube, cli.app_namespace, name, token, timeout)

    app = _run(cli, work)
    status = app.status
    sync = status.sync if status else None
    health = status.health.status.value if status else "Unknown"
    revision = (sync.revision or "")[:SHORT_REVISION] if sync else ""
    message(
        f"application {app.namespace}/{app.name} reconciled:"
        f" {sync.status.value if sync else 'Unknown'} {health} at {revision or '-'}"
    )
