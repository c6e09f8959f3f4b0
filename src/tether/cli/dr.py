"""`tether dr bootstrap` and `tether dr check`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from tether.engine.dr import RecoveryReport, bootstrap, check_path, check_remote
from tether.engine.dr_cluster import rebuild_cluster
from tether.engine.drscan import RepositoryScan
from tether.errors import ConditionNotMet, InputError, TetherError
from tether.git import credentials_from_env
from tether.model.urls import display_url, is_repository_url

from .context import CliContext, output_option, pass_cli
from .engines import git_repos, open_engine
from .output import echo, emit_data, emit_table, message


@click.group("dr")
def dr_group() -> None:
    """Disaster recovery: rebuild a cluster from Git, lint a repo for recovery hazards."""


@dr_group.command("bootstrap")
@click.option("--repo", "repo_url", help="Git repository of the root app-of-apps.")
@click.option("--path", help="Path of the root app (a directory of Applications).")
@click.option(
    "--cluster",
    "cluster_name",
    help="Rebuild this registered cluster from the hub: sync every Application of the"
    " namespace (-n) that deploys to it, in recovery order (no --repo/--path).",
)
@click.option("--revision", default="HEAD", show_default=True)
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds in all.")
@click.option(
    "--age-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="age identity for SOPS secrets; stored as Secret tether-system/sops-age.",
)
@output_option
@pass_cli
def dr_bootstrap(
    cli: CliContext,
    repo_url: str | None,
    path: str | None,
    cluster_name: str | None,
    revision: str,
    timeout: float,
    age_key_file: Path | None,
    fmt: str | None,
) -> None:
    """Rebuild every application from Git on an empty cluster and time the recovery."""
    if cluster_name and (repo_url or path or age_key_file):
        raise InputError(
            "dr bootstrap --cluster rebuilds the apps the hub holds for that cluster:"
            " --repo, --path and --age-key-file are for bootstrapping this cluster"
        )
    if not cluster_name and not (repo_url and path):
        raise InputError("dr bootstrap needs --repo and --path (or --cluster NAME)")
    age_key = None
    if age_key_file is not None:
        try:
            age_key = age_key_file.read_text()
        except OSError as exc:
            raise InputError(f"--age-key-file {age_key_file}: {exc.strerror}") from exc

    report = RecoveryReport()

    async def run() -> None:
        async with open_engine(cli) as engine:
            if cluster_name:
                await rebuild_cluster(
                    engine,
                    cluster_name,
                    cli.app_namespace,
                    timeout=timeout,
                    progress=message,
                    report=report,
                )
                return
            assert repo_url and path  # checked above
            await bootstrap(
                engine,
                repo_url=repo_url,
                path=path,
                revision=revision,
                timeout=timeout,
                age_key=age_key,
                progress=message,
                report=report,
            )

    try:
        asyncio.run(run())
    except TetherError as exc:
        # What finished, and the phase that failed, before the error itself.
        if report.phases:
            _emit_report(report, cli.fmt(fmt), error=exc.message)
        raise
    _emit_report(report, cli.fmt(fmt))
    message(f"recovered {len(report.apps)} applications in {report.total:.1f}s")


def _emit_report(report: RecoveryReport, fmt: str, *, error: str | None = None) -> None:
    """Phases in order; a wave's row counts its applications, each listed below it."""
    if fmt in ("json", "yaml"):
        data: dict[str, Any] = {
            "total_seconds": round(report.total, 3),
            "applications": report.apps,
            "phases": [
                {
                    "phase": p.phase,
                    "seconds": round(p.seconds, 3),
                    "detail": p.detail,
                    **(
                        {
                            "applications": [
                                {
                                    "name": a.name,
                                    "seconds": round(a.seconds, 3),
                                    "outcome": a.outcome,
                                }
                                for a in p.apps
                            ]
                        }
                        if p.apps
                        else {}
                    ),
                }
                for p in report.phases
            ],
        }
        if error is not None:
            data["error"] = error
        emit_data(data, fmt)
        return
    rows: list[tuple[str, str, str]] = []
    for phase in report.phases:
        rows.append((phase.phase, f"{phase.seconds:.2f}s", phase.detail))
        rows += [(f"  {a.name}", f"{a.seconds:.2f}s", a.outcome) for a in phase.apps]
    rows.append(("total", f"{report.total:.2f}s", "failed" if error is not None else ""))
    emit_table(["PHASE", "TIME", "DETAIL"], rows)


@dr_group.command("check")
@click.argument("source")
@click.option(
    "--revision", default="HEAD", show_default=True, help="Branch, tag or commit (a URL only)."
)
@pass_cli
def dr_check(cli: CliContext, source: str, revision: str) -> None:
    """Lint a GitOps repository (a directory, or a git URL) for recovery hazards; exit 1 if
    any is found."""
    if is_repository_url(source):

        async def fetch() -> tuple[str, RepositoryScan]:
            return await check_remote(git_repos(cli), source, revision, credentials_from_env())

        sha, scan = asyncio.run(fetch())
        shown = f"{display_url(source)}@{sha[:12]}"
    else:
        if revision != "HEAD":
            raise InputError(f"dr check {source}: --revision needs a repository URL")
        scan, shown = check_path(Path(source)), source
    for note in scan.notes():
        message(note)
    for finding in scan.findings:
        echo(str(finding))
    if scan.findings:
        raise ConditionNotMet(f"{len(scan.findings)} recovery hazard(s) in {shown}")
    message(f"{shown}: no recovery hazards found")
