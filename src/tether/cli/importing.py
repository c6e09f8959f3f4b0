"""`tether import argocd|flux PATH [--apply]`: Argo CD or Flux definitions as tether
Applications (docs/import.md)."""

from __future__ import annotations

import asyncio

import click

from tether.core.importing import TOOLS, Conversion, Outcome, Tool
from tether.engine.importing import apply_applications, import_definitions, read_definitions
from tether.errors import InputError
from tether.git import credentials_from_env
from tether.model.names import MODE_DETECT_ONLY

from .context import CliContext, pass_cli
from .engines import git_repos
from .output import emit_data, message


@click.command("import")
@click.argument("tool", type=click.Choice(TOOLS))
@click.argument("path")
@click.option("--apply", "apply_now", is_flag=True, help="Create or update the apps as well.")
@click.option(
    "--all-findings", is_flag=True, help="Also list fields converted or dropped on the way."
)
@click.option(
    "--shadow",
    is_flag=True,
    help="spec.mode: detect-only: report drift of the objects Argo CD or Flux manage, never"
    " write to them (to try tether next to them).",
)
@click.option(
    "-o", "--output", "fmt", type=click.Choice(("yaml", "json")), default="yaml",
    help="Format of the Applications printed on stdout.",
)  # fmt: skip
@pass_cli
def import_command(
    cli: CliContext,
    tool: Tool,
    path: str,
    apply_now: bool,
    all_findings: bool,
    shadow: bool,
    fmt: str,
) -> None:
    """Convert Argo CD Applications/ApplicationSets or Flux GitRepository +
    Kustomization/HelmRelease definitions (FILE, DIR or - for stdin) into tether
    Applications; every field that does not carry over is reported on stderr."""
    objects = read_definitions(path, cli.settings.render_limits)
    credentials = credentials_from_env()

    async def run() -> Conversion:
        conversion = await import_definitions(
            tool, objects, cli.app_namespace, git_repos(cli), lambda _url: credentials
        )
        if shadow:
            for app in conversion.applications:
                app["spec"]["mode"] = MODE_DETECT_ONLY
        if apply_now and conversion.applications and not _failed(conversion):
            kube = cli.kube()
            try:
                await apply_applications(kube, cli.app_namespace, conversion.applications)
            finally:
                kube.close()
        return conversion

    conversion = asyncio.run(run())
    if fmt == "json":
        emit_data(conversion.applications, "json")
    elif conversion.applications:
        emit_data(conversion.applications[0], "yaml")
        for app in conversion.applications[1:]:
            click.echo("---")
            emit_data(app, "yaml")
    for finding in conversion.findings:
        if not all_findings and finding.outcome in (Outcome.CONVERTED, Outcome.DROPPED):
            continue
        where = f" {finding.field}" if finding.field else ""
        message(f"{finding.outcome.value}: {finding.source}{where}: {finding.reason}")
    counts = {o: sum(1 for f in conversion.findings if f.outcome is o) for o in Outcome}
    applied = apply_now and conversion.applications and not _failed(conversion)
    message(
        f"import {tool}: {len(conversion.applications)} application(s) from {len(objects)}"
        f" object(s); {counts[Outcome.UNSUPPORTED]} unsupported, {counts[Outcome.ERROR]}"
        f" not converted, {counts[Outcome.CONVERTED] + counts[Outcome.DROPPED]} changed"
        " (--all-findings)" + (f"; applied in namespace {cli.app_namespace}" if applied else "")
    )
    if _failed(conversion):
        first = next(f for f in conversion.findings if f.outcome is Outcome.ERROR)
        raise InputError(
            f"import {tool}: {first.source}: {first.reason}",
            hint="nothing was applied" if apply_now else None,
        )
    if not conversion.applications:
        raise InputError(f"import {tool}: no {tool} definitions in {path}")


def _failed(conversion: Conversion) -> bool:
    return any(f.outcome is Outcome.ERROR for f in conversion.findings)
