"""`tether revert`: roll apps back by reverting commits in Git, then sync them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from tether.errors import InputError
from tether.git import CommitInfo, GitCredentials
from tether.git.revert import (
    GitIdentity,
    RevertOutcome,
    branches,
    default_branch,
    revert_commits,
)
from tether.model.application import Application, HealthStatusCode

from .compare import Engine
from .operation import SyncInProgress
from .sync import Progress, SyncRequest, SyncResult, sync_app


@dataclass(frozen=True)
class RevertSelection:
    commit: str | None = None
    range: str | None = None  # "A..B": commits reachable from B and not from A
    to_last_healthy: bool = False


@dataclass
class RevertReport:
    outcome: RevertOutcome
    synced: list[SyncResult] = field(default_factory=list)


def identity_from_env() -> GitIdentity:
    """TETHER_GIT_AUTHOR_NAME/EMAIL, else the usual git variables, else tether's own."""
    name = os.environ.get("TETHER_GIT_AUTHOR_NAME") or os.environ.get("GIT_AUTHOR_NAME")
    email = os.environ.get("TETHER_GIT_AUTHOR_EMAIL") or os.environ.get("GIT_AUTHOR_EMAIL")
    return GitIdentity(name or "tether", email or "tether@localhost")


async def revert_apps(
    engine: Engine,
    apps: Sequence[Application],
    selection: RevertSelection,
    *,
    identity: GitIdentity,
    initiated_by: str,
    push: bool = True,
    sync: bool = True,
    preview: bool = False,
    progress: Progress = lambda _: None,
) -> RevertReport:
    """One revert commit for all `apps` (they must share a repository and branch). With
    `preview` the commit is made and shown (`outcome.changes`), never pushed or synced."""
    if not apps:
        raise InputError("tether revert: name at least one application")
    repo_url = apps[0].spec.source.repo_url
    if any(a.spec.source.repo_url != repo_url for a in apps):
        raise InputError("tether revert: the applications use different repositories")
    credentials = await engine.repo_credentials(apps[0], repo_url)
    await engine.repos.fetch(repo_url, credentials)
    branch = await _branch(engine, apps, credentials)
    head = await engine.repos.resolve(repo_url, branch, credentials=credentials)
    commits = await _select(engine, apps, selection, head, credentials)
    message = _message(apps, selection, commits, initiated_by)
    outcome = await revert_commits(
        engine.repos,
        repo_url,
        branch,
        [c.sha for c in commits],
        message=message,
        identity=identity,
        credentials=credentials,
        push=push,
        preview=preview,
    )
    if preview:
        return RevertReport(outcome)
    verb = "pushed" if outcome.pushed else f"committed (not pushed) in {outcome.workdir}"
    progress(
        f"revert commit {outcome.sha[:8]} on {branch} {verb}; reverted "
        + ", ".join(f"{c.sha[:8]} {c.subject}" for c in outcome.reverted)
    )
    report = RevertReport(outcome)
    if push and sync:
        for app in apps:
            report.synced.append(await sync_after_push(engine, app, initiated_by, progress))
    return report


async def sync_after_push(
    engine: Engine, app: Application, initiated_by: str, progress: Progress, poll: float = 1.0
) -> SyncResult:
    """Sync `app` to the pushed revert. A controller may have seen the push first and be
    syncing it already: then wait for that sync to end (up to the app's timeout) and
    sync after it, instead of failing the revert on a race it did not lose."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + app.spec.timeout_seconds
    while True:
        try:
            return await sync_app(engine, app, SyncRequest(initiated_by=initiated_by), progress)
        except SyncInProgress:
            if loop.time() > deadline:
                raise
            progress(f"{app.name}: a sync is running (the controller saw the push): waiting")
            await asyncio.sleep(poll)


async def _branch(
    engine: Engine, apps: Sequence[Application], credentials: GitCredentials | None
) -> str:
    revisions = {a.spec.source.target_revision for a in apps}
    if len(revisions) != 1:
        raise InputError("tether revert: the applications track different revisions")
    revision = revisions.pop()
    if revision in ("", "HEAD"):
        return await default_branch(engine.repos, apps[0].spec.source.repo_url, credentials)
    if revision not in await branches(engine.repos, apps[0].spec.source.repo_url, credentials):
        raise InputError(
            f"tether revert: targetRevision {revision!r} is not a branch",
            hint="a tag or commit cannot take a revert commit; point the app at a branch",
        )
    return revision


async def _select(
    engine: Engine,
    apps: Sequence[Application],
    selection: RevertSelection,
    head: str,
    credentials: GitCredentials | None,
) -> list[CommitInfo]:
    repo_url = apps[0].spec.source.repo_url
    chosen = [bool(selection.commit), bool(selection.range), selection.to_last_healthy]
    if sum(chosen) != 1:
        raise InputError("tether revert: give exactly one of --commit, --range, --to-last-healthy")
    history = await engine.repos.log(repo_url, head, limit=10_000, credentials=credentials)
    if selection.commit:
        sha = await engine.repos.resolve(repo_url, selection.commit, credentials=credentials)
        return [c for c in history if c.sha == sha] or _not_on_branch(selection.commit)
    if selection.range:
        start, sep, end = selection.range.partition("..")
        if not sep or not start or not end:
            raise InputError(f"--range {selection.range}: expected A..B")
        old = await engine.repos.resolve(repo_url, start, credentials=credentials)
        new = await engine.repos.resolve(repo_url, end, credentials=credentials)
        below_new = await engine.repos.log(repo_url, new, limit=10_000, credentials=credentials)
        below_old = {
            c.sha
            for c in await engine.repos.log(repo_url, old, limit=10_000, credentials=credentials)
        }
        picked = [c for c in below_new if c.sha not in below_old]
        if not picked:
            raise InputError(f"--range {selection.range}: no commits in that range")
        return picked
    return await _since_last_healthy(engine, apps, head, credentials)


async def _since_last_healthy(
    engine: Engine, apps: Sequence[Application], head: str, credentials: GitCredentials | None
) -> list[CommitInfo]:
    """Every commit since each app's last Healthy history entry that touched its path."""
    repo_url = apps[0].spec.source.repo_url
    picked: dict[str, CommitInfo] = {}
    for app in apps:
        entries = app.status.history if app.status else ()
        healthy = [e for e in entries if e.health is HealthStatusCode.HEALTHY]
        if not healthy:
            raise InputError(
                f"Application {app.name}: no history entry ended Healthy",
                hint="use --commit or --range",
            )
        good = healthy[-1].revision
        since_good = {
            c.sha
            for c in await engine.repos.log(repo_url, good, limit=10_000, credentials=credentials)
        }
        touching = await engine.repos.log(
            repo_url,
            head,
            app.spec.source.path,
            limit=10_000,
            credentials=credentials,
        )
        for commit in touching:
            if commit.sha not in since_good:
                picked.setdefault(commit.sha, commit)
    if not picked:
        raise InputError(
            "nothing to revert: no commit touched the apps since their last Healthy revision"
        )
    return list(picked.values())


def _not_on_branch(commit: str) -> list[CommitInfo]:
    raise InputError(f"--commit {commit}: not on the branch the application tracks")


def _message(
    apps: Sequence[Application],
    selection: RevertSelection,
    commits: Sequence[CommitInfo],
    initiated_by: str,
) -> str:
    names = ", ".join(a.name for a in apps)
    how = (
        f"--commit {selection.commit}"
        if selection.commit
        else f"--range {selection.range}"
        if selection.range
        else "--to-last-healthy"
    )
    lines = [f"Revert {len(commits)} commit(s) for {names}", ""]
    lines += [
        f'Reverts {c.sha[:12]} "{c.subject}" ({c.author_name}, {c.authored_at})' for c in commits
    ]
    lines += ["", f"Why: tether revert {how}, initiated by {initiated_by}."]
    return "\n".join(lines)
