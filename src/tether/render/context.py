"""One render in progress: the request, its tree, its private workspace and its budget."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from tether.render.files import make_private_tree, relative_name, to_completion
from tether.render.loading import LoadBudget
from tether.render.request import RenderRequest, RenderTools
from tether.render.tools import ToolRunner, tool_message


class RenderContext:
    """Workspace layout: `home/` (HOME of every tool), `tmp/` (their TMPDIR), `tree/` (a
    copy of the repository, made only when files must change), `values.yaml` (inline
    Helm values). Nothing outside the workspace is written."""

    def __init__(
        self, request: RenderRequest, tools: RenderTools, root: Path, app_dir: Path, work: Path
    ) -> None:
        self.request = request
        self.tools = tools
        self.root = root
        self.app_dir = app_dir
        self.workspace = work
        self.limits = request.limits
        self.budget = LoadBudget(request.limits)
        deadline = asyncio.get_running_loop().time() + request.timeout
        self.runner = ToolRunner(
            workspace=work, deadline=deadline, timeout=request.timeout, limits=request.limits
        )
        self.home = self.runner.home
        self.tree = work / "tree"
        self.inline_values = work / "values.yaml"

    def relative(self, path: Path) -> str:
        return relative_name(self.root, path)

    def repo_paths(self, message: str) -> str:
        """Tool messages name absolute paths of the cache or of the private copy: show
        them relative to the repository, as the user knows them, on one line."""
        replacements = [
            (f"{self.tree}/", ""),
            (str(self.inline_values), "spec.source.helm.values"),
            (str(self.workspace), "<render workspace>"),
            (f"{self.root}/", ""),
            (str(self.root), "."),
        ]
        given = self.request.root.absolute()
        if given != self.root:  # the tree was named through a symbolic link
            replacements += [(f"{given}/", ""), (str(given), ".")]
        return tool_message(message, replacements)

    async def private_tree(self, plaintexts: dict[Path, bytes]) -> Path:
        """A writable copy of the repository with the given files replaced by plaintext."""
        await to_completion(functools.partial(make_private_tree, self.root, self.tree, plaintexts))
        return self.tree

    def in_tree(self, tree: Path, path: Path) -> Path:
        """`path` of the repository as it is in `tree` (the repository or its copy)."""
        return tree / path.relative_to(self.root)
