"""What a command needs to open an engine: its settings (the controller's flags set them)
and the git cache, render tools, live cache and cluster engines of `open_engine`.
Apart from cli/context.py so that a command that opens no engine (`app list`) does
not load one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from tether.engine.cluster_engines import ClusterEngines
from tether.engine.compare import Engine
from tether.git import DEFAULT_MAX_TREE_CACHE_BYTES, GitRepos, credentials_from_env
from tether.kube import LiveCache
from tether.localcluster import binaries
from tether.model.project import DEFAULT_PROJECT_NAMESPACE
from tether.render import RenderLimits, RenderTools
from tether.sandbox import EvaluationLimits, Evaluator

from .context import CliContext


@dataclass
class EngineSettings:
    """What bounds and confines the engine (the controller's flags set them; the CLI
    reads the same from the environment): docs/security.md."""

    project_namespace: str = field(
        default_factory=lambda: (
            os.environ.get("TETHER_PROJECT_NAMESPACE") or DEFAULT_PROJECT_NAMESPACE
        )
    )
    default_service_account: str | None = None
    allow_remote_bases: bool = False
    render_limits: RenderLimits = field(default_factory=RenderLimits)
    evaluation: EvaluationLimits = field(default_factory=EvaluationLimits)
    tree_cache_bytes: int = DEFAULT_MAX_TREE_CACHE_BYTES
    shadow: bool = False  # every app detect-only (tether controller --shadow)


def cache_dir() -> Path:
    """Git mirrors and trees: $TETHER_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/tether."""
    if os.environ.get("TETHER_CACHE_DIR"):
        return Path(os.environ["TETHER_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tether"


def render_tools() -> RenderTools:
    """helm/kustomize/sops from the build cache when present, else from PATH."""
    built = binaries.bin_dir()
    return RenderTools.from_dir(built) if (built / "helm").is_file() else RenderTools.from_path()


def git_repos(cli: CliContext) -> GitRepos:
    """The git mirrors and trees of this user's cache, under the command's limits."""
    return GitRepos(cache_dir() / "git", max_tree_cache_bytes=cli.settings.tree_cache_bytes)


@contextlib.asynccontextmanager
async def open_engine(cli: CliContext) -> AsyncIterator[Engine]:
    kube = cli.kube()
    settings = cli.settings
    engine = Engine(
        kube=kube,
        repos=git_repos(cli),
        tools=render_tools(),
        cache=LiveCache(kube),
        credentials=credentials_from_env(),
        evaluator=Evaluator(settings.evaluation),
        project_namespace=settings.project_namespace,
        default_service_account=settings.default_service_account,
        render_limits=settings.render_limits,
        allow_remote_bases=settings.allow_remote_bases,
        shadow=settings.shadow,
    )
    clusters = ClusterEngines(engine, cli.app_namespace)
    engine.resolver = clusters  # apps of registered clusters go there, as the controller's
    try:
        yield engine
    finally:
        await clusters.close()
        await engine.evaluator.close()
        await engine.cache.close()
        kube.close()
