"""The `tether` command line.

Owns: flags, exit codes (DESIGN §4), and how results are printed (tables, YAML, JSON,
diffs with Secret values masked). Must not: hold logic of its own — every command calls
the same engine functions the controller does — or talk to a cluster or Git except
through the engine. click and rich are used here and nowhere else.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

import click

from tether import __version__
from tether.errors import EXIT_CONDITION, TetherError
from tether.model.urls import scrub_userinfo

from .context import CliContext
from .lazy import LazyGroup
from .output import FORMATS, terminal_safe

# Each command's module (imported only when the command runs: cli/lazy.py).
_COMMANDS = {
    "cluster": ("cluster", "cluster_group"),
    "app": ("app_group", "app_group"),
    "revert": ("revert", "revert_command"),
    "dr": ("dr", "dr_group"),
    "drift": ("drift", "drift_command"),
    "alerts": ("alerts", "alerts_command"),
    "controller": ("controller", "controller_command"),
    "dashboard": ("dashboard", "dashboard_command"),
    "install": ("install", "install_command"),
    "import": ("importing", "import_command"),
    "notify": ("notify", "notify_group"),
}


@click.group(
    cls=LazyGroup,
    commands_at=_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="tether")
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file.")
@click.option("--context", "kube_context", help="The kubeconfig context to use.")
@click.option(
    "-n",
    "--app-namespace",
    default="tether-system",
    show_default=True,
    help="Namespace of the Application resources.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format for commands that print data (table|wide|json|yaml|name).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    kubeconfig: str | None,
    kube_context: str | None,
    app_namespace: str,
    output: str | None,
) -> None:
    """tether: keep Kubernetes clusters tethered to Git."""
    ctx.obj = CliContext(kubeconfig, kube_context, app_namespace, output)


class _ScrubbingStream:
    """A text stream that masks URL credentials in everything written to it: whatever a
    command prints (tables, YAML, messages, errors), `user:token@` never reaches the
    terminal or a log that captures it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(scrub_userinfo(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    """Entry point: one clear line (plus a hint) and the documented exit code on errors."""
    sys.stdout = _ScrubbingStream(sys.stdout)
    sys.stderr = _ScrubbingStream(sys.stderr)
    try:
        cli.main(standalone_mode=False)
    except TetherError as exc:
        click.echo(terminal_safe(scrub_userinfo(f"error: {exc.message}")), err=True)
        if exc.hint:
            click.echo(terminal_safe(scrub_userinfo(f"hint: {exc.hint}")), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_CONDITION)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: keep the line, hide the traceback unless asked
        if os.environ.get("TETHER_DEBUG"):
            raise
        click.echo(scrub_userinfo(f"error: internal error: {type(exc).__name__}: {exc}"), err=True)
        click.echo("hint: rerun with TETHER_DEBUG=1 for a traceback", err=True)
        sys.exit(EXIT_CONDITION)
    sys.exit(0)
