"""`tether drift [APP] [-o table|json|yaml] [--explain]`."""

from __future__ import annotations

import asyncio

import click

from tether.core.drift_suggestions import suggestion_yaml
from tether.engine.apps import get_app, list_apps
from tether.engine.drift import DriftReport, explain_drift

from .context import CliContext, output_option, pass_cli
from .engines import open_engine
from .output import echo, emit_data, emit_table, message


@click.command("drift")
@click.argument("app", required=False)
@click.option("--explain", is_flag=True, help="Print the evidence behind each cause.")
@output_option
@pass_cli
def drift_command(cli: CliContext, app: str | None, explain: bool, fmt: str | None) -> None:
    """Drifted fields with who changed them, when, the probable cause and an ignore rule."""

    async def run() -> list[DriftReport]:
        async with open_engine(cli) as engine:
            if app:
                apps = [await get_app(engine.kube, cli.app_namespace, app)]
            else:
                apps = await list_apps(engine.kube, cli.app_namespace)
            return [await explain_drift(engine, a) for a in apps]

    reports = asyncio.run(run())
    fmt = cli.fmt(fmt)
    if fmt in ("json", "yaml"):
        emit_data(
            [
                {
                    "application": r.app.name,
                    "object": str(f.key),
                    "path": f.path,
                    "cause": f.cause.value,
                    "writer": f.writer.manager if f.writer else None,
                    "operation": f.writer.operation if f.writer else None,
                    "subresource": f.writer.subresource if f.writer else None,
                    "when": f.when,
                    "evidence": list(f.evidence),
                    "suggestion": f.suggestion,
                }
                for r in reports
                for f in r.findings
            ],
            fmt,
        )
        return
    rows = []
    evidence: list[str] = []
    for report in reports:
        for f in report.findings:
            writer = f.writer.manager if f.writer else "-"
            if f.writer and f.writer.subresource:
                writer += f" ({f.writer.subresource})"
            rows.append([str(f.key), f.path or "(object)", f.cause.value, writer, f.when or "-"])
            if explain:
                # Below the table, not in it: one long evidence line would widen every row.
                evidence.append(f"\n{f.key} {f.path or '(object)'}: {f.cause.value}")
                evidence += [f"  {line}" for line in f.evidence]
    emit_table(["OBJECT", "PATH", "CAUSE", "WRITER", "WHEN"], rows)
    if evidence:
        echo("\n".join(evidence))
    suggestions = suggestion_yaml([f for r in reports for f in r.findings])
    if suggestions:
        message("\nto accept the intentional drift, add to the Application spec:\n" + suggestions)
    if not rows:
        message("no drift")
