"""A click group whose commands are imported only when they run: `tether app list` need
not load the engine, the controller, the web server and their libraries (start-up is
most of a short command's time: docs/design.md, CLI contract)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """`commands_at` maps each command name to (module under tether.cli, attribute)."""

    def __init__(self, *args: Any, commands_at: Mapping[str, tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.commands_at = dict(commands_at)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.commands_at})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.commands_at:
            module_name, attribute = self.commands_at[cmd_name]
            module = importlib.import_module(f"tether.cli.{module_name}")
            self.add_command(getattr(module, attribute), cmd_name)
        return self.commands.get(cmd_name)
