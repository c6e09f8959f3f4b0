"""Rendering of command results: data on stdout in table|wide|json|yaml|name form."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click
import orjson
import yaml
from rich.console import Console
from rich.table import Table

from tether.model.urls import scrub_userinfo

FORMATS = ("table", "wide", "json", "yaml", "name")

stderr = Console(stderr=True, highlight=False)


def scrubbed(data: Any) -> Any:
    """`data` with the credentials of every URL in every string masked (a repoURL may
    carry `user:token@`): nothing tether prints may show them."""
    if isinstance(data, str):
        return scrub_userinfo(data)
    if isinstance(data, dict):
        return {key: scrubbed(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [scrubbed(value) for value in data]
    return data


def emit_data(data: Any, fmt: str) -> None:
    """Machine-readable output of `data` (json or yaml)."""
    data = scrubbed(data)
    if fmt == "json":
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else scrub_userinfo(str(v)) for v in row))
    # Piped output (scripts, CI logs) is never wrapped to 80 columns.
    width = None if sys.stdout.isatty() else 10_000
    Console(highlight=False, soft_wrap=True, width=width).print(table)


def message(text: str) -> None:
    """A note for people: stderr, so that stdout stays data."""
    click.echo(scrub_userinfo(text), err=True)
