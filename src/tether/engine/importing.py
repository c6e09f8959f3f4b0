"""`tether import`: read Argo CD or Flux definitions from files, look into the
repositories they point at, convert (core.importing), and optionally apply.

The input and the repositories are hostile like any repository: YAML is read under the
render limits, trees are checked out by GitRepos (fsck, no links out), and only files a
generator names are read, each under the size limit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tether.core.importing import RepoTree, Tool, Trees, TreeWanted, convert, trees_wanted
from tether.core.importing.report import Conversion
from tether.core.importing.trees import glob_match
from tether.errors import InputError, TetherError
from tether.git import GitCredentials, GitRepos
from tether.kube import KubeClient
from tether.render.limits import RenderLimits
from tether.render.loading import load_untrusted_yaml

from .apps import crd_installed, ensure_namespace, install_crd

SUFFIXES = (".yaml", ".yml", ".json")
MAX_INPUT_FILES = 5000
MAX_TREE_FILES = 100_000


def read_definitions(where: str, limits: RenderLimits | None = None) -> list[dict[str, Any]]:
    """Every object in FILE, in the YAML/JSON files below DIR (sorted), or on stdin ("-")."""
    if where == "-":
        return _objects(load_untrusted_yaml(sys.stdin.read(), "stdin", limits))
    path = Path(where)
    if path.is_file():
        return _objects(load_untrusted_yaml(path.read_bytes(), str(path), limits))
    if not path.is_dir():
        raise InputError(f"{where}: no such file or directory")
    found: list[dict[str, Any]] = []
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix in SUFFIXES
        and p.is_file()
        and not p.is_symlink()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if len(files) > MAX_INPUT_FILES:
        raise InputError(f"{where}: {len(files)} files, more than {MAX_INPUT_FILES}")
    for file in files:
        try:
            found += _objects(load_untrusted_yaml(file.read_bytes(), str(file), limits))
        except InputError as exc:
            hint = "a Helm template? render it first: helm template DIR | tether import ... -"
            raise InputError(exc.message, exc.hint or hint) from None
    return found


def _objects(documents: Sequence[Any]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            objects += [i for i in doc.get("items") or [] if isinstance(i, dict)]
        elif isinstance(doc, dict):
            objects.append(doc)
    return objects


async def read_trees(
    repos: GitRepos,
    wanted: Sequence[TreeWanted],
    credentials: Callable[[str], GitCredentials | None] = lambda _url: None,
    limits: RenderLimits | None = None,
) -> Trees:
    """Each wanted tree, or why it could not be read (a failure converts with less)."""
    limits = limits or RenderLimits()
    trees: dict[tuple[str, str], RepoTree | str] = {}
    patterns: dict[tuple[str, str], set[str]] = {}
    for want in wanted:
        patterns.setdefault((want.repo_url, want.revision), set()).update(want.file_patterns)
    for (url, revision), globs in patterns.items():
        try:
            auth = credentials(url)
            await repos.fetch(url, auth)
            sha = await repos.resolve(url, revision, credentials=auth)
            async with repos.lease_tree(url, sha, credentials=auth) as root:
                trees[(url, revision)] = _tree(root, globs, limits)
        except TetherError as exc:
            trees[(url, revision)] = exc.message
    return trees


def _tree(root: Path, globs: set[str], limits: RenderLimits) -> RepoTree:
    paths: list[str] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        base = Path(directory).relative_to(root)
        paths += [(base / f).as_posix() for f in files]
        if len(paths) > MAX_TREE_FILES:
            raise InputError(f"{root.name}: more than {MAX_TREE_FILES} files")
    contents: dict[str, str] = {}
    for path in paths:
        if any(glob_match(g, path) for g in globs):
            file = root / path
            if file.is_symlink() or file.stat().st_size > limits.max_file_bytes:
                continue  # reported by the converter as not read
            contents[path] = file.read_text(errors="replace")
    return RepoTree(frozenset(p.removeprefix("./") for p in paths), contents)


async def import_definitions(
    tool: Tool,
    objects: Sequence[dict[str, Any]],
    app_namespace: str,
    repos: GitRepos,
    credentials: Callable[[str], GitCredentials | None] = lambda _url: None,
) -> Conversion:
    trees = await read_trees(repos, trees_wanted(tool, objects), credentials)
    return convert(tool, objects, app_namespace, trees)


async def apply_applications(
    kube: KubeClient, app_namespace: str, applications: Sequence[dict[str, Any]]
) -> None:
    """Create or update the converted Applications (server-side apply, tether's manager)."""
    if not await crd_installed(kube):
        await install_crd(kube)
    await ensure_namespace(kube, app_namespace)
    for app in applications:
        await kube.apply(app, field_manager="tether-import")
