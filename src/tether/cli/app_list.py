"""`tether app list`: kept apart from the other app commands so that it loads only what
it needs (a list of 5,000 apps in well under a second: bench/cli_list.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import click

from tether.core.fleet import MESSAGE_WIDTH, ListLine, clip, list_line
from tether.engine.apps import InvalidApplication, list_app_lines, list_apps
from tether.model.application import Application

from .context import CliContext, output_option, pass_cli
from .output import emit_data, emit_table, message

WIDE_MESSAGE_WIDTH = 160
HEADERS = ["NAME", "SYNC", "HEALTH", "REVISION", "OUT-OF-SYNC"]
WIDE_HEADERS = [*HEADERS, "NAMESPACE", "REPO", "PATH", "DEST", "AUTOSYNC", "SUSPENDED"]


def age(since: str | None) -> str:
    if not since:
        return ""
    try:
        then = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return since
    seconds = int((dt.datetime.now(dt.UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def line_row(line: ListLine) -> list[Any]:
    """The table row of one app (the message is added by the caller, to its width)."""
    return [
        line.name,
        line.sync + (" (empty)" if line.empty_render else ""),
        line.health,
        line.revision[:8],
        age(line.out_of_sync_since),
    ]


def _row(line: ListLine) -> list[Any]:
    return [*line_row(line), clip(line.message, MESSAGE_WIDTH)]


def wide_row(app: Application) -> list[Any]:
    line = list_line(app)
    return [
        *line_row(line),
        app.namespace,
        app.spec.source.repo_url,
        app.spec.source.path,
        app.spec.destination.namespace or "",
        "on" if app.auto_sync_enabled else "off",
        "yes" if app.spec.suspend else "no",
        clip(line.message, WIDE_MESSAGE_WIDTH),
    ]


def _invalid_row(bad: InvalidApplication, wide: bool) -> list[Any]:
    row: list[Any] = [bad.name, "Unknown", "Unknown", "", ""]
    if wide:
        row += [bad.namespace, "", "", "", "", ""]
    text = f"invalid spec: {bad.problem}"
    return [*row, clip(text, WIDE_MESSAGE_WIDTH if wide else MESSAGE_WIDTH)]


@click.command("list")
@click.option("-l", "--selector", help="Label selector, e.g. team=payments.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Applications in every namespace.")
@output_option
@pass_cli
def app_list(cli: CliContext, selector: str | None, all_namespaces: bool, fmt: str | None) -> None:
    """List applications with their sync and health status."""
    fmt = cli.fmt(fmt)
    namespace = None if all_namespaces else cli.app_namespace
    invalid: list[InvalidApplication] = []

    async def run() -> tuple[list[ListLine] | None, list[Application]]:
        kube = cli.kube()
        try:
            # The table and the names come from the server's table of the CRD's columns;
            # the rest (and what the table cannot say: list_app_lines) needs the objects.
            if fmt in ("table", "name"):
                lines = await list_app_lines(kube, namespace, selector)
                if lines is not None:
                    return lines, []
            summary = fmt not in ("json", "yaml")  # those show every field
            apps = await list_apps(kube, namespace, selector, invalid=invalid, summary=summary)
            return None, apps
        finally:
            kube.close()

    lines, apps = asyncio.run(run())
    if fmt in ("json", "yaml"):
        emit_data([a.to_dict() for a in apps], fmt)
    elif fmt == "wide":
        rows = [wide_row(a) for a in apps] + [_invalid_row(b, True) for b in invalid]
        emit_table([*WIDE_HEADERS, "MESSAGE"], rows)
    else:
        shown = lines if lines is not None else [list_line(a) for a in apps]
        if fmt == "name":
            click.echo("\n".join(f"application/{line.name}" for line in shown))
        else:
            rows = [_row(line) for line in shown] + [_invalid_row(b, False) for b in invalid]
            emit_table([*HEADERS, "MESSAGE"], rows)
    for bad in invalid:
        message(f"warning: Application {bad.namespace}/{bad.name} is invalid: {bad.problem}")
