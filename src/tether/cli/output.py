"""Rendering of command results: data on stdout in table|wide|json|yaml|name form."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click
import orjson
import yaml
from rich.cells import cell_len
from rich.console import Console

from tether.model.urls import scrub_userinfo

FORMATS = ("table", "wide", "json", "yaml", "name")

stderr = Console(stderr=True, highlight=False)


def terminal_safe(text: str) -> str:
    """Text from outside (a repository's manifests and render errors, a server's or
    another writer's message) as a terminal may show it: every control character but
    newline and tab shown escaped, so that no escape sequence it carries reaches the
    terminal (a changed title, a cleared screen, a hidden or spoofed line, a hyperlink).
    tether's own colours are added after this, never to the text inside."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)


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


def _cell(value: Any) -> str:
    """One table cell on one line (a row is a line: grep and awk rely on it)."""
    if value is None:
        return ""
    text = scrub_userinfo(str(value))
    text = " ".join(text.splitlines()) if "\n" in text else text
    return terminal_safe(text)


def _width(text: str) -> int:
    """Display width: wide characters take two cells (ASCII, the usual case, one each)."""
    return len(text) if text.isascii() else cell_len(text)


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns aligned on display width, two spaces apart, like kubectl's tables.

    Written by hand rather than with rich's Table: that measured 6 s for 5,000 rows
    (`tether app list` of a large fleet), this takes milliseconds. Piped output (scripts,
    CI logs) is never wrapped; a terminal wraps long lines itself.
    """
    count = len(headers)
    cells = [list(headers)] + [[_cell(v) for v in row][:count] for row in rows]
    for row in cells:
        row.extend([""] * (count - len(row)))
    lengths = [[_width(cell) for cell in row] for row in cells]
    widths = [max(row[i] for row in lengths) for i in range(count)]
    lines = []
    for row, row_lengths in zip(cells, lengths, strict=True):
        padded = [
            cell + " " * (width - length)
            for cell, length, width in zip(row, row_lengths, widths, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    if sys.stdout.isatty():
        lines[0] = click.style(lines[0], bold=True)
    sys.stdout.write("\n".join(lines) + "\n")


def message(text: str) -> None:
    """A note for people: stderr, so that stdout stays data."""
    click.echo(terminal_safe(scrub_userinfo(text)), err=True)


def echo(text: str) -> None:
    """Lines for people on stdout (a description, evidence, a finding), made safe."""
    click.echo(terminal_safe(text))
