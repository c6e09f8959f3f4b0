"""Helm: `helm template` of a chart in the repository, offline and confined.

helm fetches nothing: chart dependencies must be vendored in `charts/` (`helm template`
never downloads them, and runs without network). No kubeconfig or in-cluster account
reaches it, so `lookup` finds nothing; no `--post-renderer`, `--validate` or plugin is
ever passed, and every value from the Application is inside one `--flag=value`
argument or after `--`. helm follows symbolic links when it loads a chart (a link to
/etc/passwd would be readable with `.Files.Get`): links leading out of the repository
are refused first.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from pathlib import Path

from tether.render import sops
from tether.render.context import RenderContext
from tether.render.documents import Document, helm_documents
from tether.render.files import encrypted_files, inside, to_completion, write_private
from tether.render.request import RenderProblem
from tether.render.tools import error_line

CHART_FILE = "Chart.yaml"


def value_file(ctx: RenderContext, chart_dir: Path, name: str) -> Path:
    if "://" in name:
        raise RenderProblem(
            f"helm value file {name}: remote value files are not supported",
            hint="commit the values file to the repository",
        )
    path = (chart_dir / name).resolve()
    # helm would read any file of the rendering machine: keep it to the repository.
    if not path.is_relative_to(ctx.root):
        raise RenderProblem(f"helm value file {name} is outside the repository")
    if not path.is_file():
        raise RenderProblem(f"helm value file {name} not found in the repository")
    return path


def check_chart_links(root: Path, chart_dir: Path) -> None:
    """Refuse a chart with a symbolic link that leads out of the repository, also through
    linked directories (helm follows those too)."""
    seen: set[Path] = set()
    pending = [chart_dir]
    while pending:
        directory = pending.pop()
        real = directory.resolve()
        if real in seen:
            continue  # a link cycle, or a directory reached twice
        seen.add(real)
        for path in sorted(directory.iterdir()):
            if path.is_symlink() and not inside(root, path):
                # Named as helm sees it: below the chart, through any linked directory.
                raise RenderProblem(
                    f"{path.relative_to(root).as_posix()} is a symbolic link pointing "
                    "outside the repository"
                )
            if path.is_dir():
                pending.append(path)


def helm_flags(ctx: RenderContext, value_files: Sequence[Path]) -> list[str]:
    """Flags in helm's precedence order: value files, then inline values (the last
    file), then --set parameters."""
    request = ctx.request
    # As Argo CD: the chart's crds/ are part of the render unless skipped, and test
    # hooks (`helm test`, never run by a sync) are not rendered unless asked for.
    flags = ["--skip-crds" if request.helm_skip_crds else "--include-crds"]
    if request.helm_skip_tests:
        flags.append("--skip-tests")
    if request.namespace is not None:
        flags.append(f"--namespace={request.namespace}")
    if request.helm_kube_version is not None:
        flags.append(f"--kube-version={request.helm_kube_version}")
    flags += [f"--api-versions={version}" for version in request.helm_api_versions]
    flags += [f"--values={path}" for path in value_files]
    flags += [f"--set={name}={value}" for name, value in request.helm_parameters]
    return flags


def helm_env(ctx: RenderContext) -> dict[str, str]:
    # Isolated, empty helm homes: no repositories, registries, plugins or caches of
    # the host are used, and nothing is left behind.
    helm_home = ctx.home / "helm"
    return {
        "HELM_CACHE_HOME": str(helm_home / "cache"),
        "HELM_CONFIG_HOME": str(helm_home / "config"),
        "HELM_DATA_HOME": str(helm_home / "data"),
    }


async def render_helm(ctx: RenderContext) -> list[Document]:
    request = ctx.request
    await asyncio.to_thread(check_chart_links, ctx.root, ctx.app_dir)
    value_files = [value_file(ctx, ctx.app_dir, name) for name in request.helm_value_files]
    encrypted = await asyncio.to_thread(
        encrypted_files, ctx.root, [ctx.app_dir], value_files, ctx.limits
    )
    tree = ctx.root
    if encrypted:
        tree = await sops.private_tree(ctx, encrypted)
    chart_dir = ctx.in_tree(tree, ctx.app_dir)
    files = [ctx.in_tree(tree, p) for p in value_files]
    for index, text in enumerate(request.helm_values_from):
        path = ctx.workspace / f"values-from-{index}.yaml"
        await to_completion(functools.partial(write_private, path, text.encode()))
        files.append(path)
    if request.helm_values is not None:
        data = request.helm_values.encode()
        await to_completion(functools.partial(write_private, ctx.inline_values, data))
        files.append(ctx.inline_values)
    argv = [str(ctx.tools.helm), "template", *helm_flags(ctx, files)]
    # `--` ends the flags: a release name can never be read as one.
    argv += ["--", request.helm_release_name or request.app_name, str(chart_dir)]
    result = await ctx.runner.run(
        f"helm template {request.path}",
        argv,
        env=helm_env(ctx),
        max_output=ctx.limits.max_manifest_bytes,
    )
    if not result.ok:
        message = ctx.repo_paths(error_line(result))
        hint = None
        if "missing in charts/ directory" in message:
            hint = "vendor the chart's dependencies (`helm dependency build`, commit charts/)"
        elif "incompatible with Kubernetes" in message:
            hint = (
                "the chart's kubeVersion does not admit the target cluster's version; "
                "spec.source.helm.kubeVersion renders it for another"
            )
        raise RenderProblem(f"helm template {request.path} failed: {message}", hint)
    output = result.stdout.decode("utf-8", "replace")
    return await asyncio.to_thread(helm_documents, output, ctx.budget)
