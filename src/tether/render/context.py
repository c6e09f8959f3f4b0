"""One render in progress: the request, its tree, its private workspace and its budget."""

from __future__ import annotations

import asyncio
import functools
import shutil
import tempfile
from pathlib import Path

from tether.render.files import make_private_tree, relative_name, to_completion
from tether.render.loading import LoadBudget
from tether.render.request import RenderRequest, RenderTools
from tether.render.tools import ToolRunner, tool_message


class RenderContext:
    """Workspace layout: `home/` (HOME of every tool), `tmp/` (their TMPDIR), `tree/` (a
    copy of the repository, made only when files must change), `values.yaml` (inline
    Helm values). Nothing outside the workspace is written.

    The workspace is made on first use: a plain directory of manifests runs no tool and
    changes no file, and a fleet's renders are mostly that (removing the workspace was
    ~5 % of a 1,000-app controller's profile samples)."""

    def __init__(
        self, request: RenderRequest, tools: RenderTools, root: Path, app_dir: Path
    ) -> None:
        self.request = request
        self.tools = tools
        self.root = root
        self.app_dir = app_dir
        self.limits = request.limits
        self.budget = LoadBudget(request.limits)
        self._deadline = asyncio.get_running_loop().time() + request.timeout
        self._workspace: Path | None = None
        self._runner: ToolRunner | None = None

    @property
    def workspace(self) -> Path:
        # Made inline, never in a thread: no await between making it and recording it,
        # so a cancelled render cannot leave one behind that `remove_workspace` misses.
        if self._workspace is None:
            self._workspace = Path(tempfile.mkdtemp(prefix="tether-render-"))  # mode 0700
        return self._workspace

    @property
    def runner(self) -> ToolRunner:
        if self._runner is None:
            self._runner = ToolRunner(
                workspace=self.workspace,
                deadline=self._deadline,
                timeout=self.request.timeout,
                limits=self.request.limits,
            )
        return self._runner

    @property
    def home(self) -> Path:
        return self.runner.home

    @property
    def tree(self) -> Path:
        return self.workspace / "tree"

    @property
    def inline_values(self) -> Path:
        return self.workspace / "values.yaml"

    async def remove_workspace(self) -> None:
        """Remove the workspace, if this render made one."""
        if self._workspace is not None:
            await asyncio.to_thread(shutil.rmtree, self._workspace, True)

    def relative(self, path: Path) -> str:
        return relative_name(self.root, path)

    def repo_paths(self, message: str) -> str:
        """Tool messages name absolute paths of the cache or of the private copy: show
        them relative to the repository, as the user knows them, on one line."""
        replacements = []
        if self._workspace is not None:
            replacements += [
                (f"{self.tree}/", ""),
                (str(self.inline_values), "spec.source.helm.values"),
                (str(self._workspace), "<render workspace>"),
            ]
        replacements += [(f"{self.root}/", ""), (str(self.root), ".")]
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
