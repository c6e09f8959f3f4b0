"""`tether app`: its subcommands and the module each lives in (imported when it runs)."""

from __future__ import annotations

import click

from .lazy import LazyGroup

_SUBCOMMANDS = {
    "list": ("app_list", "app_list"),
    "get": ("app", "app_get"),
    "delete": ("app", "app_delete"),
    "diff": ("app", "app_diff"),
    "sync": ("app", "app_sync"),
    "wait": ("app", "app_wait"),
    "rollback": ("app", "app_rollback"),
    "create": ("app_create", "app_create"),
    "set": ("app_settings", "app_set"),
    "suspend": ("app_settings", "app_suspend"),
    "resume": ("app_settings", "app_resume"),
    "history": ("app_settings", "app_history_command"),
    "reconcile": ("app_settings", "app_reconcile"),
}


@click.group("app", cls=LazyGroup, commands_at=_SUBCOMMANDS)
def app_group() -> None:
    """Applications: what to deploy from Git, where, and how."""
