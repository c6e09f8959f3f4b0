"""tether.git against real repositories: bare repos on disk (file:// and plain paths) and
the `git http-backend` fixture with basic auth. No mocked git; no cluster needed."""

from __future__ import annotations

import asyncio
import base64
import os
import shlex
import shutil
import socket
import stat
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import tether.git.repos as repos_module
from tests.support.githttp import GitHttpServer, git
from tether.errors import InputError, UnreachableError
from tether.git import (
    GitCredentials,
    GitRepos,
    credentials_from_env,
    credentials_from_secret,
    redact_url,
    select_credentials,
)
from tether.process import ProcessResult


class Workspace:
    """A work clone that commits and pushes to one remote repository."""

    def __init__(self, path: Path, remote: str) -> None:
        self.path = path
        self.remote = remote
        git("init", "--quiet", "--initial-branch=main", str(path))

    def commit(self, files: Mapping[str, str | None], message: str) -> str:
        """Write (or, for None, delete) files, commit them, return the commit SHA."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                git("rm", "--quiet", name, cwd=self.path)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            git("add", name, cwd=self.path)
        git("commit", "--quiet", "-m", message, cwd=self.path)
        return self.sha("HEAD")

    def sha(self, revision: str) -> str:
        return git("rev-parse", f"{revision}^{{commit}}", cwd=self.path).strip()

    def push(self, *refs: str, force: bool = False) -> None:
        git("push", "--quiet", *(["--force"] if force else []), self.remote, *refs, cwd=self.path)


def bare_repo(path: Path) -> Path:
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def repos(tmp_path: Path) -> GitRepos:
    return GitRepos(tmp_path / "cache", timeout=30)


@pytest.fixture
def origin(tmp_path: Path) -> tuple[str, Workspace]:
    """A file:// repository with two commits on main, a lightweight and an annotated tag
    on the first, and a kustomize-style layout (an overlay referring to ../base)."""
    bare = bare_repo(tmp_path / "origin.git")
    work = Workspace(tmp_path / "work", str(bare))
    work.commit(
        {
            "base/deploy.yaml": "kind: Deployment\nreplicas: 1\n",
            "overlays/prod/kustomization.yaml": "resources: [../../base]\n",
            "apps/api/deploy.yaml": "kind: Deployment\nname: api\n",
        },
        "first",
    )
    git("tag", "v1", cwd=work.path)
    git("tag", "-a", "v1-annotated", "-m", "release 1", cwd=work.path)
    work.commit({"apps/web/deploy.yaml": "kind: Deployment\nname: web\n"}, "second")
    work.push("main", "--tags")
    return f"file://{bare}", work


class ProcessSpy:
    """Wraps run_process: records every argv and environment, tracks concurrent fetches."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], dict[str, str]]] = []
        self.active_fetches: dict[str, int] = {}
        self.max_fetches_per_repo = 0
        self.max_fetches = 0

    async def __call__(self, argv: Sequence[str], **kwargs: Any) -> ProcessResult:
        env = dict(kwargs.get("env") or {})
        self.calls.append((tuple(argv), env))
        if "fetch" not in argv:
            return await _real_run_process(argv, **kwargs)
        repo = argv[argv.index("--") + 1]
        self.active_fetches[repo] = self.active_fetches.get(repo, 0) + 1
        self.max_fetches_per_repo = max(self.max_fetches_per_repo, self.active_fetches[repo])
        self.max_fetches = max(self.max_fetches, sum(self.active_fetches.values()))
        try:
            await asyncio.sleep(0.2)  # widen the window in which an overlap would show
            return await _real_run_process(argv, **kwargs)
        finally:
            self.active_fetches[repo] -= 1


_real_run_process = repos_module.run_process


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ProcessSpy:
    probe = ProcessSpy()
    monkeypatch.setattr(repos_module, "run_process", probe)
    return probe


# --- resolve, tree, read -----------------------------------------------------------------


async def test_resolve_branches_tags_shas_and_head(
    repos: GitRepos, origin: tuple[str, Workspace]
) -> None:
    url, work = origin
    first, second = work.sha("main~1"), work.sha("main")
    await repos.fetch(url)
    assert await repos.resolve(url, "main") == second
    assert await repos.resolve(url, "HEAD") == second
    assert await repos.resolve(url, "") == second  # empty targetRevision means HEAD
    assert await repos.resolve(url, "v1") == first
    assert await repos.resolve(url, "v1-annotated") == first  # peeled, not the tag object
    assert await repos.resolve(url, first[:8]) == first
    assert await repos.resolve(url, first) == first
    assert repos.mirror_path(url).parent == repos.cache_dir / "mirrors"


async def test_plain_path_and_resolve_without_fetch(
    repos: GitRepos, origin: tuple[str, Workspace]
) -> None:
    url, work = origin
    path = url.removeprefix("file://")
    # No fetch first: a missing mirror is created on demand.
    assert await repos.resolve(path, "main") == work.sha("main")
    assert repos.mirror_path(path).is_dir()


async def test_tree_at_two_commits_is_whole_read_only_and_reused(
    repos: GitRepos, origin: tuple[str, Workspace]
) -> None:
    url, work = origin
    first, second = work.sha("main~1"), work.sha("main")
    async with repos.lease_tree(url, first) as old, repos.lease_tree(url, second) as new:
        # trees/<sha>.<random>: no repository can name another checkout by its path.
        assert old.parent == repos.cache_dir / "trees"
        assert old.name.startswith(f"{first}.") and len(old.name) == len(first) + 33
        assert stat.S_IMODE(old.stat().st_mode) == 0o500
        assert not (old / "apps/web").exists()
        assert (new / "apps/web/deploy.yaml").read_text() == "kind: Deployment\nname: web\n"
        # The whole tree, so an overlay's ../../base resolves.
        assert (new / "overlays/prod/../../base/deploy.yaml").is_file()
        for path in [new, new / "apps", new / "apps/web/deploy.yaml"]:
            assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        inode = (new / "apps/web/deploy.yaml").stat().st_ino
    async with repos.lease_tree(url, second) as again:
        assert again == new
        assert (new / "apps/web/deploy.yaml").stat().st_ino == inode
    assert not [p for p in new.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left
    # A later process reuses the tree on disk, with the remote gone.
    shutil.rmtree(work.remote)
    later = GitRepos(repos.cache_dir, timeout=30)
    async with later.lease_tree(url, second) as reused:
        assert reused == new


async def test_concurrent_tree_extraction_of_one_commit(
    repos: GitRepos, origin: tuple[str, Workspace]
) -> None:
    url, work = origin
    await repos.fetch(url)

    async def lease() -> Path:
        async with repos.lease_tree(url, work.sha("main")) as root:
            assert (root / "base/deploy.yaml").is_file()
            await asyncio.sleep(0.05)
            return root

    trees = await asyncio.gather(*(lease() for _ in range(6)))
    assert len(set(trees)) == 1
    assert [p.name for p in (repos.cache_dir / "trees").iterdir()] == [trees[0].name]


async def test_tree_ignores_export_attributes_and_refuses_escaping_symlinks(
    repos: GitRepos, tmp_path: Path
) -> None:
    bare = bare_repo(tmp_path / "attrs.git")
    work = Workspace(tmp_path / "attrs-work", str(bare))
    sha = work.commit(
        {".gitattributes": "secret.yaml export-ignore\n", "secret.yaml": "kind: Secret\n"}, "a"
    )
    (work.path / "escape").symlink_to("/etc/passwd")
    git("add", "escape", cwd=work.path)
    escaping = work.commit({}, "symlink out of the repository")
    work.push("main")
    url = f"file://{bare}"
    async with repos.lease_tree(url, sha) as root:
        assert (root / "secret.yaml").read_text() == "kind: Secret\n"
    with pytest.raises(InputError, match="escape"):
        async with repos.lease_tree(url, escaping):
            pass
    assert not list((repos.cache_dir / "trees").glob(f"{escaping}*"))


async def test_read_file_and_path_exists(repos: GitRepos, origin: tuple[str, Workspace]) -> None:
    url, work = origin
    first = work.sha("main~1")
    await repos.fetch(url)
    assert await repos.read_file(url, first, "apps/api/deploy.yaml") == (
        b"kind: Deployment\nname: api\n"
    )
    assert await repos.read_file(url, "main", "./apps/web/deploy.yaml")
    assert await repos.path_exists(url, first, "apps/api")
    assert await repos.path_exists(url, first, "apps/api/deploy.yaml")
    assert await repos.path_exists(url, first, "")
    assert not await repos.path_exists(url, first, "apps/web")
    assert not await repos.path_exists(url, first, "app")


async def test_missing_path_and_unknown_revision_are_input_errors(
    repos: GitRepos, origin: tuple[str, Workspace]
) -> None:
    url, work = origin
    first = work.sha("main~1")
    await repos.fetch(url)
    with pytest.raises(InputError) as missing:
        await repos.read_file(url, first, "apps/nope.yaml")
    assert missing.value.exit_code == 2
    assert url in str(missing.value) and first in str(missing.value)
    assert "apps/nope.yaml" in str(missing.value)
    with pytest.raises(InputError, match="not a file"):
        await repos.read_file(url, first, "apps")
    with pytest.raises(InputError, match="not inside the repository"):
        await repos.read_file(url, first, "../origin.git/config")
    with pytest.raises(InputError, match=r"revision 'no-such-branch' not found") as unknown:
        await repos.resolve(url, "no-such-branch")
    assert unknown.value.exit_code == 2 and url in str(unknown.value)
    with pytest.raises(InputError, match="not valid"):
        await repos.resolve(url, "--upload-pack=touch /tmp/x")
    with pytest.raises(InputError, match="not found"):
        await repos.path_exists(url, "0" * 40, "apps")
    with pytest.raises(InputError, match="not a full commit SHA"):
        async with repos.lease_tree(url, "main"):
            pass
    with pytest.raises(InputError, match="not found"):
        async with repos.lease_tree(url, "0" * 40):
            pass


async def test_invalid_urls_are_input_errors(repos: GitRepos) -> None:
    for url in ["", "ext::sh -c touch% /tmp/pwned", "ftp://example.test/x.git", "-oProxy=x"]:
        with pytest.raises(InputError):
            await repos.fetch(url)


# --- fetch -------------------------------------------------------------------------------


async def test_fetch_picks_up_new_commits_and_prunes_deleted_branches(
    repos: GitRepos, origin: tuple[str, Workspace]
) -> None:
    url, work = origin
    git("branch", "feature", cwd=work.path)
    work.push("feature")
    await repos.fetch(url)
    before = await repos.resolve(url, "main")
    assert await repos.resolve(url, "feature") == before
    third = work.commit({"apps/api/deploy.yaml": "kind: Deployment\nname: api-v2\n"}, "third")
    work.push("main")
    work.push(":feature")
    assert await repos.resolve(url, "main") == before  # reads never touch the network
    await repos.fetch(url)
    assert await repos.resolve(url, "main") == third
    with pytest.raises(InputError):
        await repos.resolve(url, "feature")


async def test_concurrent_fetches_of_one_repo_are_serialized(
    tmp_path: Path, origin: tuple[str, Workspace], spy: ProcessSpy
) -> None:
    url, work = origin
    repos = GitRepos(tmp_path / "cache", timeout=30, max_concurrency=4)

    async def fetch_after(delay: float) -> None:
        await asyncio.sleep(delay)
        await repos.fetch(url)

    # The first call creates the mirror; calls arriving meanwhile wait for it.
    await asyncio.gather(*(fetch_after(0.02 * i) for i in range(5)))
    newer = work.commit({"apps/new.yaml": "kind: ConfigMap\n"}, "newer")
    work.push("main")
    spy.calls.clear()
    # Calls that arrive while a fetch runs wait for it, then fetch once more between them
    # (the running one may have started before what they want to see was pushed).
    await asyncio.gather(*(fetch_after(0.02 * i) for i in range(5)))
    assert await repos.resolve(url, "main") == newer
    assert spy.max_fetches_per_repo == 1
    assert sum("fetch" in argv for argv, _env in spy.calls) == 2


async def test_fetches_of_different_repos_are_bounded(tmp_path: Path, spy: ProcessSpy) -> None:
    urls = []
    for index in range(4):
        bare = bare_repo(tmp_path / f"r{index}.git")
        work = Workspace(tmp_path / f"w{index}", str(bare))
        work.commit({"a.yaml": f"n: {index}\n"}, "one")
        work.push("main")
        urls.append(f"file://{bare}")
    repos = GitRepos(tmp_path / "cache", timeout=30, max_concurrency=2)
    await asyncio.gather(*(repos.fetch(url) for url in urls))
    assert spy.max_fetches == 2
    assert len({repos.mirror_path(url) for url in urls}) == 4


# --- history -----------------------------------------------------------------------------


async def test_log_with_a_path_filter(repos: GitRepos, origin: tuple[str, Workspace]) -> None:
    url, work = origin
    third = work.commit({"apps/api/deploy.yaml": "kind: Deployment\nname: api-2\n"}, "api v2")
    work.push("main")
    await repos.fetch(url)
    api = await repos.log(url, third, "apps/api")
    assert [c.subject for c in api] == ["api v2", "first"]
    assert api[0].sha == third
    assert api[0].author_name == "Test Author"
    assert api[0].author_email == "author@example.test"
    assert api[0].authored_at[:2] == "20" and "T" in api[0].authored_at
    assert [c.subject for c in await repos.log(url, third)] == ["api v2", "second", "first"]
    assert len(await repos.log(url, third, limit=1)) == 1
    assert await repos.log(url, third, "nothing/here") == []


async def test_is_ancestor_detects_a_history_rewrite(
    repos: GitRepos, origin: tuple[str, Workspace]
) -> None:
    url, work = origin
    first, synced = work.sha("main~1"), work.sha("main")
    await repos.fetch(url)
    assert await repos.is_ancestor(url, first, "main")
    assert await repos.is_ancestor(url, synced, synced)
    # Someone rewrites main: drop the synced commit and force-push a different one.
    git("reset", "--quiet", "--hard", first, cwd=work.path)
    work.commit({"apps/other.yaml": "kind: ConfigMap\n"}, "rewritten")
    work.push("main", force=True)
    await repos.fetch(url)
    assert not await repos.is_ancestor(url, synced, "main")
    assert await repos.is_ancestor(url, first, "main")
    assert not await repos.is_ancestor(url, "f" * 40, "main")  # gone entirely: not an ancestor
    with pytest.raises(InputError):
        await repos.is_ancestor(url, first, "no-such-branch")


# --- http with basic auth ----------------------------------------------------------------


@pytest.fixture
def http_origin(git_server: GitHttpServer, tmp_path: Path) -> tuple[str, Workspace]:
    name = f"gitops-{uuid.uuid4().hex[:8]}"
    git_server.create_repo(name)
    work = Workspace(tmp_path / "http-work", git_server.url(name, with_credentials=True))
    work.commit({"apps/api/deploy.yaml": "kind: Deployment\n"}, "first")
    git("tag", "-a", "v1", "-m", "v1", cwd=work.path)
    work.commit({"apps/web/deploy.yaml": "kind: Deployment\n"}, "second")
    work.push("main", "--tags")
    return git_server.url(name), work


def _no_secret_anywhere(spy: ProcessSpy, server: GitHttpServer) -> None:
    """Neither the password nor user:password reached any git argv."""
    assert spy.calls
    for argv, _env in spy.calls:
        assert not any(server.password in arg for arg in argv), argv


async def test_http_fetch_with_basic_auth(
    repos: GitRepos, git_server: GitHttpServer, http_origin: tuple[str, Workspace], spy: ProcessSpy
) -> None:
    url, work = http_origin
    credentials = GitCredentials(username=git_server.username, password=git_server.password)
    await repos.fetch(url, credentials)
    assert await repos.resolve(url, "HEAD") == work.sha("main")
    assert await repos.resolve(url, "v1") == work.sha("main~1")
    async with repos.lease_tree(url, work.sha("main")) as root:
        assert (root / "apps/web/deploy.yaml").is_file()
    newer = work.commit({"apps/new.yaml": "kind: ConfigMap\n"}, "third")
    work.push("main")
    await repos.fetch(url, credentials)
    assert await repos.resolve(url, "main") == newer
    _no_secret_anywhere(spy, git_server)


async def test_credentials_in_the_url_are_stripped_and_still_work(
    repos: GitRepos, git_server: GitHttpServer, http_origin: tuple[str, Workspace], spy: ProcessSpy
) -> None:
    url, work = http_origin
    with_secret = url.replace("http://", f"http://{git_server.username}:{git_server.password}@")
    await repos.fetch(with_secret)
    assert await repos.resolve(with_secret, "main") == work.sha("main")
    mirror = repos.mirror_path(with_secret)
    assert mirror == repos.mirror_path(url)  # the same mirror as the URL without them
    assert redact_url(with_secret) == url
    config = git("config", "--list", cwd=mirror)
    assert git_server.password not in config and git_server.username not in config
    for path in mirror.rglob("*"):
        if path.is_file() and "objects" not in path.parts:
            assert git_server.password.encode() not in path.read_bytes(), path
    _no_secret_anywhere(spy, git_server)


async def test_wrong_password_is_unreachable_without_leaking_it(
    repos: GitRepos, git_server: GitHttpServer, http_origin: tuple[str, Workspace]
) -> None:
    url, _work = http_origin
    wrong = "wr0ng-p@ss/word"
    attempts = [
        (url, GitCredentials(username=git_server.username, password=wrong)),
        (url.replace("http://", f"http://{git_server.username}:wr0ng-p%40ss%2Fword@"), None),
    ]
    for repo_url, credentials in attempts:
        with pytest.raises(UnreachableError) as caught:
            await repos.fetch(repo_url, credentials)
        error = caught.value
        text = f"{error} {error.hint} {error!r} {error.args}"
        assert error.exit_code == 3
        assert url in str(error) and "Authentication failed" in str(error)
        assert "credentials" in (error.hint or "")
        for secret in [wrong, "wr0ng-p%40ss%2Fword", f"{git_server.username}:{wrong}"]:
            assert secret not in text
        assert not repos.mirror_path(url).exists()  # a failed first fetch leaves no mirror


async def test_unauthenticated_http_fetch_is_refused(
    repos: GitRepos, http_origin: tuple[str, Workspace]
) -> None:
    url, _work = http_origin
    with pytest.raises(UnreachableError) as caught:
        await repos.fetch(url)
    assert caught.value.exit_code == 3


async def test_closed_port_is_unreachable(repos: GitRepos) -> None:
    url = f"http://127.0.0.1:{closed_port()}/x.git"
    with pytest.raises(UnreachableError, match=r"git remote http://127\.0\.0\.1:\d+/x\.git") as e:
        await repos.fetch(url, GitCredentials(username="u", password="closed-port-secret"))
    assert e.value.exit_code == 3 and "closed-port-secret" not in str(e.value)


async def test_a_remote_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never responds
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/slow.git"
        repos = GitRepos(tmp_path / "cache", timeout=1)
        with pytest.raises(UnreachableError, match=r"did not finish within 1s") as caught:
            await repos.fetch(url)
    assert url in str(caught.value) and caught.value.exit_code == 3
    assert not repos.mirror_path(url).exists()


async def test_ssh_key_goes_to_a_private_temp_file_that_is_removed(
    tmp_path: Path, spy: ProcessSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys_dir = tmp_path / "tmp"
    keys_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(keys_dir))
    seen_modes: list[int] = []

    async def spy_and_stat(argv: Sequence[str], **kwargs: Any) -> ProcessResult:
        command = (kwargs.get("env") or {}).get("GIT_SSH_COMMAND", "")
        key_files = list(keys_dir.glob("tether-ssh-*"))
        if command:
            assert [str(k) for k in key_files] == [shlex.split(command)[2]]
            assert "-oIdentitiesOnly=yes" in command
            assert "-oStrictHostKeyChecking=accept-new" in command
            seen_modes.append(stat.S_IMODE(key_files[0].stat().st_mode))
        return await spy(argv, **kwargs)

    monkeypatch.setattr(repos_module, "run_process", spy_and_stat)
    repos = GitRepos(tmp_path / "cache", timeout=20)
    key = "\n".join(
        ["-----BEGIN OPENSSH PRIVATE KEY-----", "bm90LWEta2V5", "-----END OPENSSH PRIVATE KEY-----"]
    )
    url = f"ssh://git@127.0.0.1:{closed_port()}/repo.git"
    with pytest.raises(UnreachableError) as caught:
        await repos.fetch(url, GitCredentials(ssh_private_key=key))
    assert caught.value.exit_code == 3 and "bm90LWEta2V5" not in str(caught.value)
    assert seen_modes == [0o600]
    assert list(keys_dir.iterdir()) == []
    assert all(key not in " ".join(argv) for argv, _ in spy.calls)


# --- credentials -------------------------------------------------------------------------


def _secret(url: str, **values: str) -> dict[str, Any]:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in {"url": url, **values}.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "repo",
            "namespace": "tether-system",
            "labels": {"tether.dev/secret-type": "repository"},
        },
        "data": data,
    }


def test_credentials_from_secret_env_and_selection() -> None:
    org = credentials_from_secret(_secret("https://git.example.test/org", password="org-token"))
    app = credentials_from_secret(
        _secret("https://git.example.test/org/app.git", username="bot", password="app-pass")
    )
    ssh = credentials_from_secret(_secret("git@git.example.test:", sshPrivateKey="KEY"))
    assert org.credentials == GitCredentials(password="org-token")
    assert ssh.credentials.ssh_private_key == "KEY"
    secrets = [org, app, ssh]
    assert select_credentials("https://git.example.test/org/app.git", secrets) == app.credentials
    assert select_credentials("https://git.example.test/org/app", secrets) == app.credentials
    assert select_credentials("https://git.example.test/org/other", secrets) == org.credentials
    assert select_credentials("https://git.example.test/organization/x", secrets) is None
    assert select_credentials("git@git.example.test:org/x.git", secrets) == ssh.credentials
    unlabelled = _secret("https://x.test")
    unlabelled["metadata"]["labels"] = {}
    with pytest.raises(InputError, match="not a repository secret"):
        credentials_from_secret(unlabelled)
    broken = _secret("https://x.test")
    broken["data"]["password"] = "%%%not-base64"
    with pytest.raises(InputError, match="'password'") as caught:
        credentials_from_secret(broken)
    assert "not-base64" not in str(caught.value)

    env = {"TETHER_GIT_USERNAME": "me", "TETHER_GIT_PASSWORD": "pw"}
    assert credentials_from_env(env) == GitCredentials(username="me", password="pw")
    assert credentials_from_env({}) is None
    shown = repr(GitCredentials("token-as-user", "hunter2", "KEY")) + str(app)
    assert "hunter2" not in shown and "token-as-user" not in shown and "KEY" not in shown
    assert "app-pass" not in shown


# --- bounded tree cache ------------------------------------------------------------------


def _two_megabyte_history(tmp_path: Path, commits: int) -> tuple[str, list[str]]:
    """A ~2 MB repository (200 files of 10 KB) and `commits` commits, each changing one."""
    bare = bare_repo(tmp_path / "big.git")
    work = Workspace(tmp_path / "big-work", str(bare))
    line = "data: " + "x" * 94 + "\n"
    files = {f"apps/app{i:03d}/values.yaml": f"n: {i}\n" + line * 100 for i in range(200)}
    shas = [work.commit(dict(files), "initial")]
    for index in range(1, commits):
        shas.append(work.commit({"apps/app000/values.yaml": f"n: {index}\n" + line}, f"c{index}"))
    work.push("main")
    return f"file://{bare}", shas


async def test_tree_cache_stays_under_its_cap_and_never_evicts_a_leased_tree(
    tmp_path: Path,
) -> None:
    url, shas = _two_megabyte_history(tmp_path, 50)
    unbounded = GitRepos(tmp_path / "unbounded", timeout=60, max_tree_cache_bytes=None)
    for sha in shas:
        async with unbounded.lease_tree(url, sha):
            pass
    grown = unbounded.cache_bytes()

    cap = 10 << 20
    repos = GitRepos(tmp_path / "bounded", timeout=60, max_tree_cache_bytes=cap)
    peak = 0
    async with repos.lease_tree(url, shas[0]) as pinned:  # in use for the whole loop
        for sha in shas[1:]:
            async with repos.lease_tree(url, sha) as root:
                assert (root / "apps/app000/values.yaml").is_file()
                peak = max(peak, repos.cache_bytes()["trees"])
            assert pinned.is_dir()
        assert (pinned / "apps/app199/values.yaml").read_text().startswith("n: 199\n")
    bounded = repos.cache_bytes()
    print(
        f"\n50 commits of a 2 MB repository: trees {grown['trees'] / 2**20:.1f} MiB unbounded,"
        f" {bounded['trees'] / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB) with a"
        f" {cap / 2**20:.0f} MiB cap; mirror {bounded['mirrors'] / 2**20:.1f} MiB"
    )
    assert grown["trees"] > 5 * cap  # what the cap prevents
    assert peak <= cap and bounded["trees"] <= cap
    assert bounded["mirrors"] > 0

    # The controller's periodic call: keep what applications use, drop the rest.
    pruned = await repos.prune_trees(keep={shas[-1]}, max_bytes=0)
    left = [p.name.split(".")[0] for p in (repos.cache_dir / "trees").iterdir()]
    assert left == [shas[-1]]
    assert pruned.remaining_bytes == repos.cache_bytes()["trees"] > 0
    # A tree evicted is checked out again on the next use.
    async with repos.lease_tree(url, shas[0]) as again:
        assert (again / "apps/app199/values.yaml").is_file()


async def test_a_tree_leased_elsewhere_is_not_pruned(
    repos: GitRepos, origin: tuple[str, Workspace]
) -> None:
    url, work = origin
    sha = work.sha("main")
    other = GitRepos(repos.cache_dir, timeout=30)  # another process on the same cache
    async with repos.lease_tree(url, sha) as root:
        assert (await other.prune_trees(max_bytes=0)).removed == ()
        assert root.is_dir()
        async with other.lease_tree(url, sha) as shared:
            assert shared == root  # the other one reuses the leased tree
    assert (await other.prune_trees(max_bytes=0)).removed == (root.name,)
    assert not root.exists()


async def test_prune_removes_what_crashed_processes_left(
    repos: GitRepos, origin: tuple[str, Workspace]
) -> None:
    url, work = origin
    async with repos.lease_tree(url, work.sha("main")):
        pass
    trees = repos.cache_dir / "trees"
    legacy = trees / work.sha("main~1")  # trees/<sha> of earlier versions (tarfile)
    stale = trees / ".staging-0123456789abcdef"
    fresh = trees / ".staging-fedcba9876543210"
    for path in (legacy, stale / "tree" / "x", fresh):
        path.mkdir(parents=True)
    (legacy / "old.yaml").write_text("kind: ConfigMap\n")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    pruned = await repos.prune_trees()  # under the cap: only leftovers go
    assert sorted(pruned.removed) == sorted([legacy.name, stale.name])
    assert fresh.is_dir()  # may be a checkout that just started elsewhere
    assert len([p for p in trees.iterdir() if not p.name.startswith(".")]) == 1


async def test_every_fetch_checks_objects_and_collects_garbage(
    repos: GitRepos, origin: tuple[str, Workspace], spy: ProcessSpy
) -> None:
    url, work = origin
    await repos.fetch(url)
    work.commit({"apps/new.yaml": "kind: ConfigMap\n"}, "third")
    work.push("main")
    await repos.fetch(url)
    fetches = [env for argv, env in spy.calls if "fetch" in argv]
    assert len(fetches) == 2
    for env in fetches:
        assert {("fetch.fsckObjects", "true"), ("transfer.fsckObjects", "true")} <= _pairs(env)
    assert all(("core.hooksPath", os.devnull) in _pairs(env) for _argv, env in spy.calls)
    gcs = [argv for argv, _env in spy.calls if "gc" in argv]
    assert len(gcs) == 2 and all("--auto" in argv for argv in gcs)
    sizes = repos.cache_bytes()
    assert sizes["mirrors"] > 0 and sizes["trees"] == 0


def _pairs(env: Mapping[str, str]) -> set[tuple[str, str]]:
    count = int(env["GIT_CONFIG_COUNT"])
    return {(env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"]) for i in range(count)}
