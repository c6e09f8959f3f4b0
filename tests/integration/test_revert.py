"""`tether revert`: one revert commit, pushed without force (retry on non-fast-forward),
conflicts stop with nothing pushed, then the apps are synced back."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.apps import application
from tests.support.githttp import GitHttpServer, git
from tests.support.repos import GitopsRepo
from tether.engine.apps import create_app
from tether.engine.compare import Engine
from tether.engine.revert import RevertSelection, revert_apps
from tether.engine.sync import SyncRequest, sync_app
from tether.errors import InputError
from tether.git import GitCredentials
from tether.git import revert as git_revert
from tether.git.revert import GitIdentity, RevertConflict
from tether.kube import KubeClient

IDENTITY = GitIdentity("On-call Bot", "oncall@example.test")


def deploy(image: str, replicas: int = 1) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers: [{{name: api, image: "{image}"}}]
"""


def remote_log(repo: GitopsRepo) -> list[str]:
    return git("--git-dir", str(repo.bare), "log", "--format=%H %s", "main").splitlines()


def remote_file(repo: GitopsRepo, path: str) -> str:
    return git("--git-dir", str(repo.bare), "show", f"main:{path}")


async def live_image(kube: KubeClient, namespace: str) -> str:
    obj = await kube.get("apps/v1", "Deployment", "api", namespace)
    assert obj is not None
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_revert_one_commit_then_sync(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"apps/api/d.yaml": deploy("api:2.3.0")})
    repo.commit("feat: api 2.3.0")
    repo.write({"apps/api/d.yaml": deploy("api:2.3.1")})
    bad = repo.commit("chore: bump api to 2.3.1")
    repo.write({"README.md": "docs\n"})
    repo.commit("docs: readme")
    app = application("api", namespace, repo.url, "apps/api")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest(timeout=60))).succeeded
    assert await live_image(kube, namespace) == "api:2.3.1"
    # The remote refuses any non-fast-forward push, as protected branches do: the revert
    # must get through anyway, because it never rewrites history.
    git("--git-dir", str(repo.bare), "config", "receive.denyNonFastForwards", "true")
    before = remote_log(repo)

    report = await revert_apps(
        engine, [app], RevertSelection(commit=bad[:10]), identity=IDENTITY, initiated_by="test"
    )
    after = remote_log(repo)
    assert after[1:] == before  # a new commit on top: history kept, nothing rewritten
    assert after[0].split()[0] == report.outcome.sha and report.outcome.pushed
    message = git("--git-dir", str(repo.bare), "log", "-1", "--format=%B", "main")
    assert f'Reverts {bad[:12]} "chore: bump api to 2.3.1"' in message
    assert "Why: tether revert --commit" in message
    author = git("--git-dir", str(repo.bare), "log", "-1", "--format=%an <%ae>", "main").strip()
    assert author == "On-call Bot <oncall@example.test>"
    assert "api:2.3.0" in remote_file(repo, "apps/api/d.yaml")
    assert remote_file(repo, "README.md") == "docs\n"  # later commits untouched
    assert [r.phase.value for r in report.synced] == ["Succeeded"]
    assert await live_image(kube, namespace) == "api:2.3.0"


async def test_non_fast_forward_is_retried_on_the_new_head(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo.write({"apps/api/d.yaml": deploy("api:1.0")})
    repo.commit("api 1.0")
    repo.write({"apps/api/d.yaml": deploy("api:1.1")})
    bad = repo.commit("api 1.1")
    app = application("api", namespace, repo.url, "apps/api")
    await create_app(kube, app)

    real = git_revert._make_revert
    calls: list[int] = []

    async def racing(*args: Any, **kwargs: Any) -> str:
        sha = await real(*args, **kwargs)
        if not calls:  # someone else pushes between our revert and our push
            repo.write({"other.txt": "concurrent\n"})
            repo.commit("someone else's change")
        calls.append(1)
        return sha

    monkeypatch.setattr(git_revert, "_make_revert", racing)
    report = await revert_apps(
        engine, [app], RevertSelection(commit=bad), identity=IDENTITY, initiated_by="t", sync=False
    )
    assert report.outcome.attempts == 2 and len(calls) == 2
    subjects = [line.split(" ", 1)[1] for line in remote_log(repo)]
    assert subjects[:2] == ["Revert 1 commit(s) for api", "someone else's change"]
    assert remote_file(repo, "other.txt") == "concurrent\n"  # nothing of theirs lost


async def test_conflict_stops_with_files_named_and_nothing_pushed(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"apps/api/d.yaml": deploy("api:1.0")})
    repo.commit("1.0")
    repo.write({"apps/api/d.yaml": deploy("api:1.1")})
    middle = repo.commit("1.1")
    repo.write({"apps/api/d.yaml": deploy("api:1.2")})
    repo.commit("1.2")
    app = application("api", namespace, repo.url, "apps/api")
    await create_app(kube, app)
    before = remote_log(repo)
    with pytest.raises(RevertConflict, match=re.escape("apps/api/d.yaml")):
        await revert_apps(
            engine, [app], RevertSelection(commit=middle), identity=IDENTITY, initiated_by="t"
        )
    assert remote_log(repo) == before


async def test_range_and_two_apps_in_one_commit_and_no_push(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"apps/api/d.yaml": deploy("api:1.0"), "apps/web/d.yaml": deploy("web:1.0")})
    base = repo.commit("both 1.0")
    repo.write({"apps/api/d.yaml": deploy("api:2.0")})
    repo.commit("api 2.0")
    repo.write({"apps/web/d.yaml": deploy("web:2.0")})
    top = repo.commit("web 2.0")
    api = application("api", namespace, repo.url, "apps/api")
    web = application("web", namespace, repo.url, "apps/web")
    for app in (api, web):
        await create_app(kube, app)
    before = remote_log(repo)

    dry = await revert_apps(
        engine,
        [api, web],
        RevertSelection(range=f"{base}..{top}"),
        identity=IDENTITY,
        initiated_by="t",
        push=False,
    )
    assert not dry.outcome.pushed and dry.outcome.workdir is not None
    kept = dry.outcome.workdir  # left for a person to inspect and push; the test tidies it
    assert remote_log(repo) == before  # --no-push: the remote is untouched
    try:
        assert "api:1.0" in git("-C", str(kept), "show", "HEAD:apps/api/d.yaml")
    finally:
        shutil.rmtree(kept, ignore_errors=True)

    report = await revert_apps(
        engine,
        [api, web],
        RevertSelection(range=f"{base}..{top}"),
        identity=IDENTITY,
        initiated_by="t",
        sync=False,
    )
    assert len(remote_log(repo)) == len(before) + 1  # ONE coordinated commit
    assert {c.subject for c in report.outcome.reverted} == {"api 2.0", "web 2.0"}
    assert "api:1.0" in remote_file(repo, "apps/api/d.yaml")
    assert "web:1.0" in remote_file(repo, "apps/web/d.yaml")


async def test_revert_pushes_over_http_with_basic_auth(
    engine: Engine, kube: KubeClient, namespace: str, git_server: GitHttpServer, tmp_path: Path
) -> None:
    git_server.create_repo("auth-revert")
    work = tmp_path / "w"
    git("init", "--initial-branch=main", str(work))
    for image in ("api:1", "api:2"):
        (work / "apps/api").mkdir(parents=True, exist_ok=True)
        (work / "apps/api/d.yaml").write_text(deploy(image))
        git("add", "-A", cwd=work)
        git("commit", "-m", image, cwd=work)
    git("push", git_server.url("auth-revert", with_credentials=True), "main", cwd=work)
    bad = git("rev-parse", "HEAD", cwd=work).strip()
    engine.credentials = GitCredentials(git_server.username, git_server.password)
    app = application("api", namespace, git_server.url("auth-revert"), "apps/api")
    await create_app(kube, app)
    report = await revert_apps(
        engine, [app], RevertSelection(commit=bad), identity=IDENTITY, initiated_by="t", sync=False
    )
    assert report.outcome.pushed
    clone = tmp_path / "check"
    git("clone", git_server.url("auth-revert", with_credentials=True), str(clone))
    assert "api:1" in (clone / "apps/api/d.yaml").read_text()


async def test_an_app_pinned_to_a_tag_cannot_take_a_revert(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"apps/api/d.yaml": deploy("api:1.0")})
    sha = repo.commit("1.0")
    git("tag", "v1.0", cwd=repo.work)
    git("push", "-q", "origin", "v1.0", cwd=repo.work)
    app = application("api", namespace, repo.url, "apps/api", source={"targetRevision": "v1.0"})
    await create_app(kube, app)
    with pytest.raises(InputError, match="is not a branch"):
        await revert_apps(
            engine, [app], RevertSelection(commit=sha), identity=IDENTITY, initiated_by="t"
        )
