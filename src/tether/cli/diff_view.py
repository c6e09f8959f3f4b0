"""How `tether app diff` shows a comparison: the changed objects with their writers, the
undeclared manual edits in a section of their own, and the same as data."""

from __future__ import annotations

import sys
from typing import Any

import click

from tether.core.diff import AppDiff, ObjectDiff, Verdict, unified_diff
from tether.core.drift_findings import DriftCause
from tether.engine.compare import Comparison

from .output import echo, terminal_safe


def diff_json(result: Comparison, diff: AppDiff) -> dict[str, Any]:
    return {
        "application": f"{result.app.namespace}/{result.app.name}",
        "revision": result.revision,
        "sync": diff.verdict.value,
        "objects": [
            {
                "group": d.key.group,
                "kind": d.key.kind,
                "namespace": d.key.namespace,
                "name": d.key.name,
                "status": d.verdict.value,
                "paths": d.paths,
                "manualEdits": _manual_edits(result, d),
            }
            for d in diff.objects
        ],
    }


def _manual_edits(result: Comparison, obj: ObjectDiff) -> list[dict[str, Any]]:
    """The object's undeclared manual edits: path, writer and time of each."""
    if not obj.manual_edits:
        return []
    findings = [f for f in result.findings if f.key == obj.key]
    return [
        {
            "path": f.path,
            "writer": f.writer.manager if f.writer else None,
            "time": f.when,
        }
        for f in findings
        if f.cause is DriftCause.UNDECLARED_MANUAL_EDIT
    ]


def _writers(result: Comparison, obj: ObjectDiff) -> dict[str, str]:
    """path -> "writer (cause)" from the live object's managedFields."""
    findings = [f for f in result.findings if f.key == obj.key]
    return {
        f.path: f"{f.writer.manager if f.writer else 'unknown writer'}, {f.cause.value}"
        for f in findings
    }


def print_diff(result: Comparison, diff: AppDiff) -> None:
    color = sys.stdout.isatty()
    for obj in diff.out_of_sync:
        header = terminal_safe(f"===== {obj.key} ({obj.verdict.value}) =====")
        click.echo(click.style(header, bold=True) if color else header)
        if obj.verdict is Verdict.OUT_OF_SYNC and obj.paths:
            writers = _writers(result, obj)
            echo(
                "changed: "
                + ", ".join(f"{p} ({writers[p]})" if p in writers else p for p in obj.paths)
            )
        # Escaped first: a manifest's value is the repository's, the colour is ours.
        for line in map(terminal_safe, unified_diff(obj).splitlines()):
            click.echo(_colored(line) if color else line)
    edited = [(obj, _manual_edits(result, obj)) for obj in diff.objects if obj.manual_edits]
    if edited:
        strict = any(e["path"] in obj.paths for obj, edits in edited for e in edits)
        header = "===== undeclared manual edits ====="
        click.echo(click.style(header, bold=True) if color else header)
        click.echo(
            "fields a person changed that Git does not set: a sync leaves them"
            + (
                " (StrictManualEdits: they are drift, and a sync removes them)"
                if strict
                else " (the app stays Synced; StrictManualEdits=true makes them drift)"
            )
        )
        for obj, edits in edited:
            for edit in edits:
                by = ", ".join(str(v) for v in (edit["writer"], edit["time"]) if v)
                echo(f"{obj.key}: {edit['path']}" + (f" ({by})" if by else ""))


def _colored(line: str) -> str:
    if line.startswith("+") and not line.startswith("+++"):
        return click.style(line, fg="green")
    if line.startswith("-") and not line.startswith("---"):
        return click.style(line, fg="red")
    return line


__all__ = ["diff_json", "print_diff"]
