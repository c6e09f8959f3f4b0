"""A GitOps repository for tests: a bare repo on disk plus a work tree that commits to it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.githttp import git


class GitopsRepo:
    def __init__(self, root: Path, name: str = "gitops") -> None:
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        git("init", "--bare", "--initial-branch=main", str(self.bare))
        git("init", "--initial-branch=main", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def write(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def remove(self, *rels: str) -> None:
        for rel in rels:
            path = self.work / rel
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()

    def commit(self, message: str) -> str:
        """Commit everything in the work tree, push to the bare repo; returns the SHA."""
        git("add", "-A", cwd=self.work)
        git("commit", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).strip()
