"""`git revert` as a new commit, pushed without force (DESIGN §3 "Rollback, the Git way").

The revert is made in a throwaway clone of the local mirror, on top of the branch's
current head. A push rejected as non-fast-forward (someone pushed meanwhile) means:
fetch, redo the revert on the new head, try again; never force. A conflict stops
everything with the conflicting files named and nothing pushed.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tether.errors import ConditionNotMet, InputError
from tether.process import ProcessOutputTooLarge

from .config import LOCAL, GitEnv
from .credentials import GitCredentials
from .objects import CommitInfo
from .remote import Remote, parse_remote, unreachable
from .repos import GitRepos

_REJECTED = ("non-fast-forward", "fetch first", "[rejected]", "failed to update ref", "stale info")


@dataclass(frozen=True)
class GitIdentity:
    name: str
    email: str


@dataclass(frozen=True)
class RevertOutcome:
    sha: str  # the new revert commit
    branch: str
    parent: str  # the branch head it was made on
    reverted: tuple[CommitInfo, ...]
    pushed: bool
    attempts: int
    workdir: Path | None = None  # with push=False: a clone holding the commit, to inspect/push
    changes: str = ""  # with preview=True: the commit as `git show --stat --patch` prints it


class RevertConflict(InputError):
    """The revert does not apply cleanly; nothing was committed or pushed."""


async def default_branch(repos: GitRepos, repo_url: str, credentials: GitCredentials | None) -> str:
    """The branch the mirror's HEAD points at (what `targetRevision: HEAD` follows)."""
    remote = parse_remote(repo_url, credentials)
    mirror = await repos._ensure_mirror(remote)
    result = await repos._read(remote, mirror, ["symbolic-ref", "--short", "HEAD"])
    return repos._checked(remote, result).stdout.decode().strip()


async def branches(repos: GitRepos, repo_url: str, credentials: GitCredentials | None) -> set[str]:
    """Branch names in the mirror (a revert commit can only go onto a branch)."""
    remote = parse_remote(repo_url, credentials)
    mirror = await repos._ensure_mirror(remote)
    args = ["for-each-ref", "--format=%(refname:short)", "refs/heads"]
    result = repos._checked(remote, await repos._read(remote, mirror, args))
    return set(result.stdout.decode().split())


async def revert_commits(
    repos: GitRepos,
    repo_url: str,
    branch: str,
    commits: Sequence[str],
    *,
    message: str,
    identity: GitIdentity,
    credentials: GitCredentials | None = None,
    push: bool = True,
    max_attempts: int = 3,
    keep_dir: Path | None = None,
    preview: bool = False,
) -> RevertOutcome:
    """One commit on `branch` that reverts `commits` (full SHAs, any order). With
    `preview` the commit is made in a throwaway clone, shown in `changes` and dropped:
    what the revert will be, checked to apply cleanly, with nothing pushed."""
    if not commits:
        raise InputError("nothing to revert: no commits selected")
    remote = parse_remote(repo_url, credentials)
    for attempt in range(1, max_attempts + 1):
        await repos.fetch(repo_url, credentials)
        head = await repos.resolve(repo_url, branch, credentials=credentials)
        infos = await _ordered_infos(repos, repo_url, head, commits, credentials)
        work = Path(tempfile.mkdtemp(prefix="tether-revert-"))
        keep = False
        try:
            sha = await _make_revert(repos, remote, work, head, infos, message, identity)
            if preview:
                changes = await _show(repos, remote, work, sha)
                return RevertOutcome(sha, branch, head, infos, False, attempt, changes=changes)
            if not push:
                keep = True
                kept = _keep(work, keep_dir, sha)
                return RevertOutcome(sha, branch, head, infos, False, attempt, kept)
            if await _push(repos, remote, work, branch):
                await repos.fetch(repo_url, credentials)
                return RevertOutcome(sha, branch, head, infos, True, attempt)
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)
    raise ConditionNotMet(
        f"git remote {remote.url}: push of the revert to {branch} was rejected {max_attempts}"
        " times (the branch keeps moving)",
        hint="try again; tether never force-pushes",
    )


async def _ordered_infos(
    repos: GitRepos,
    repo_url: str,
    head: str,
    commits: Sequence[str],
    credentials: GitCredentials | None,
) -> tuple[CommitInfo, ...]:
    """The commits newest first (the order `git revert` must undo them), all on the branch."""
    history = await repos.log(repo_url, head, limit=10_000, credentials=credentials)
    position = {info.sha: i for i, info in enumerate(history)}
    missing = [c for c in commits if c not in position]
    if missing:
        raise InputError(
            f"repository {parse_remote(repo_url, None).url}: commit {missing[0][:12]} is not"
            " on the branch being reverted",
        )
    return tuple(
        sorted((history[position[c]] for c in set(commits)), key=lambda i: position[i.sha])
    )


async def _make_revert(
    repos: GitRepos,
    remote: Remote,
    work: Path,
    head: str,
    infos: Sequence[CommitInfo],
    message: str,
    identity: GitIdentity,
) -> str:
    mirror = repos._mirror_of(remote)
    # Hooks stay off here too (repos._git adds core.hooksPath=/dev/null to every call):
    # the work tree is a checkout of repository content, and `git commit` runs hooks.
    env = LOCAL | GitEnv(
        {
            "GIT_AUTHOR_NAME": identity.name,
            "GIT_AUTHOR_EMAIL": identity.email,
            "GIT_COMMITTER_NAME": identity.name,
            "GIT_COMMITTER_EMAIL": identity.email,
        }
    )

    async def git(*args: str) -> tuple[bool, str]:
        result = await repos._git(remote, ["-C", str(work), *args], env=env)
        return result.ok, (result.stdout + result.stderr).decode("utf-8", "replace")

    clone = await repos._git(
        remote, ["clone", "--quiet", "--no-checkout", "--shared", str(mirror), str(work)], env=env
    )
    repos._checked(remote, clone)
    ok, out = await git("checkout", "--quiet", "--detach", head)
    if not ok:
        raise InputError(f"cannot check out {head[:12]}: {out.strip()[:200]}")
    ok, out = await git("revert", "--no-commit", "--no-edit", *[i.sha for i in infos])
    if not ok:
        _, conflicted = await git("diff", "--name-only", "--diff-filter=U")
        await git("revert", "--abort")
        files = ", ".join(conflicted.split()) or "unknown files"
        raise RevertConflict(
            f"revert of {', '.join(i.sha[:8] for i in infos)} conflicts in {files};"
            " nothing was committed or pushed",
            hint="revert fewer commits, or resolve by hand with git revert",
        )
    clean, _ = await git("diff", "--cached", "--quiet")
    if clean:
        raise InputError(
            f"reverting {', '.join(i.sha[:8] for i in infos)} changes nothing on {head[:8]}"
            " (already reverted?)"
        )
    ok, out = await git("commit", "--quiet", "--no-verify", "-m", message)
    if not ok:
        raise InputError(f"git commit of the revert failed: {out.strip()[:200]}")
    ok, out = await git("rev-parse", "HEAD")
    return out.strip()


PREVIEW_BYTES = 64 * 1024


async def _show(repos: GitRepos, remote: Remote, work: Path, sha: str) -> str:
    """The commit's message and file summary, then its patch unless longer than
    PREVIEW_BYTES (a revert of a vendored chart is no page to read)."""
    head = ["-C", str(work), "show", "--no-color"]
    text = ""
    for stat in ("--stat", "--shortstat"):  # a revert of thousands of files: just the count
        try:
            summary = await repos._git(
                remote, [*head, stat, "--format=fuller", sha], env=LOCAL, max_output=PREVIEW_BYTES
            )
        except ProcessOutputTooLarge:
            continue
        text = repos._checked(remote, summary).stdout.decode("utf-8", "replace")
        break
    try:
        patch = await repos._git(
            remote, [*head, "--format=", "--patch", sha], env=LOCAL, max_output=PREVIEW_BYTES
        )
    except ProcessOutputTooLarge:
        return text + f"\n(the patch is longer than {PREVIEW_BYTES // 1024} KiB: not shown)\n"
    return text + repos._checked(remote, patch).stdout.decode("utf-8", "replace")


async def _push(repos: GitRepos, remote: Remote, work: Path, branch: str) -> bool:
    """Push HEAD to the branch without force; False when rejected as non-fast-forward."""
    async with repos._network:
        with repos._remote_env(remote) as env:
            result = await repos._git(
                remote,
                [
                    "-C",
                    str(work),
                    "push",
                    "--porcelain",
                    "--",
                    remote.url,
                    f"HEAD:refs/heads/{branch}",
                ],
                env=LOCAL | env,
            )
    if result.ok:
        return True
    text = (result.stdout + result.stderr).decode("utf-8", "replace").lower()
    if any(marker in text for marker in _REJECTED):
        return False
    raise unreachable(remote, result)


def _keep(work: Path, keep_dir: Path | None, sha: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = keep_dir or Path(tempfile.gettempdir())
    target = base / f"tether-revert-{stamp}-{sha[:8]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(work), target)
    return target
