"""Source stage of a reconcile: the git tree (or a local directory) at a revision."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tether.errors import InputError
from tether.git import GitCredentials, GitRepos


@dataclass(frozen=True)
class SourceTree:
    root: Path
    revision: str | None  # the commit SHA; None for --local directories
    repo_url: str | None


@contextlib.asynccontextmanager
async def load_source(
    repos: GitRepos,
    repo_url: str,
    target_revision: str,
    *,
    credentials: GitCredentials | None = None,
    revision: str | None = None,
    local_dir: Path | None = None,
    fetch: bool = True,
) -> AsyncIterator[SourceTree]:
    """Fetch (unless told not to), resolve the revision to a SHA and check out its tree.

    `async with load_source(...) as tree:` — the tree stays on disk (leased, so no cache
    eviction removes it) until the block ends; render inside the block.
    """
    if local_dir is not None:
        if not local_dir.is_dir():
            raise InputError(f"--local {local_dir}: not a directory")
        yield SourceTree(local_dir.resolve(), None, None)
        return
    if fetch or not repos.mirror_path(repo_url).exists():
        await repos.fetch(repo_url, credentials)
    sha = await repos.resolve(repo_url, revision or target_revision, credentials=credentials)
    async with repos.lease_tree(repo_url, sha, credentials=credentials) as root:
        yield SourceTree(root, sha, repo_url)
