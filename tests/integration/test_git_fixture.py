"""The git fixture is a real git server: clone and push over `git http-backend` with basic auth."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.githttp import GitHttpServer, git


def test_push_and_clone_over_http_with_basic_auth(
    git_server: GitHttpServer, tmp_path: Path
) -> None:
    git_server.create_repo("gitops")
    work = tmp_path / "work"
    git("init", "--initial-branch=main", str(work))
    (work / "app.yaml").write_text("kind: ConfigMap\n")
    git("add", ".", cwd=work)
    git("commit", "-m", "first", cwd=work)
    git("push", git_server.url("gitops", with_credentials=True), "main", cwd=work)

    clone = tmp_path / "clone"
    git("clone", git_server.url("gitops", with_credentials=True), str(clone))
    assert (clone / "app.yaml").read_text() == "kind: ConfigMap\n"
    assert git("log", "--format=%s", cwd=clone).strip() == "first"


def test_wrong_credentials_are_refused(git_server: GitHttpServer, tmp_path: Path) -> None:
    git_server.create_repo("private")
    bad = git_server.url("private").replace("http://", "http://tether:wrong@")
    with pytest.raises(RuntimeError, match=r"Authentication failed|401"):
        git("ls-remote", bad)
    with pytest.raises(RuntimeError):
        git("ls-remote", git_server.url("private"))
