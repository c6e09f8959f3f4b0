"""Git adapter: one bare mirror per repository, kept current with the git CLI, read at a commit.

Everything runs the real `git` through `tether.process.run_process`, each call with a
timeout. Fetches are serialized per mirror and bounded globally; reads go to the local
mirror only. Repository content is hostile input: every fetch runs git's fsck on what
it receives, no git process runs hooks (`tether.git.config`), and a commit's tree is
checked from its listing (`tether.git.treecheck`) before git itself checks it out into
a private directory (`tether.git.trees`), so nothing is ever written outside it.
Credentials never reach argv, logs, exceptions or a stored config
(`tether.git.credentials`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from pathlib import Path

from tether.errors import InputError, TetherError, UnreachableError
from tether.process import ProcessResult, ProcessTimeout, run_process

from .checkout import TreeLimits, check_out, write_error
from .config import FSCK_CONFIG, LOCAL, GitEnv, process_environment
from .credentials import GitCredentials
from .objects import (
    LOG_FORMAT,
    BatchObject,
    CommitInfo,
    check_path,
    check_revision,
    check_sha,
    parse_batch,
    parse_log,
    revision_not_found,
)
from .remote import (
    HINT_NETWORK,
    Remote,
    checked,
    fsck_refusal,
    parse_remote,
    remote_env,
    subcommand,
    unreachable,
)
from .trees import PrunedTrees, TreeStore, disk_usage

log = logging.getLogger(__name__)

DEFAULT_MAX_TREE_ENTRIES = 100_000
DEFAULT_MAX_TREE_BYTES = 1 << 30  # 1 GiB of files in one commit
DEFAULT_MAX_TREE_CACHE_BYTES = 2 << 30  # all checked-out trees together

# Only branches and tags: a `--mirror` refspec (refs/*) would also pull every
# refs/pull/* and refs/merge-requests/* of a forge, which GitOps never needs.
_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
# In the foreground: a detached gc would outlive the timeout that bounds this call.
_GC = GitEnv(config=(("gc.autoDetach", "false"),))


class _MirrorState:
    """Serializes fetches of one mirror and lets waiters reuse a fetch that started later."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.started = 0  # fetches started so far
        self.last_ok = 0  # sequence number of the last fetch that succeeded
        # revision -> SHA, valid until the next fetch moves refs (saves a git process per
        # compare of an app whose repository has not been fetched since).
        self.resolved: dict[str, str] = {}


class GitRepos:
    """Bare mirrors under `cache_dir/mirrors`, checked-out trees under `cache_dir/trees`.

    One instance per process and event loop; its locks and semaphores belong to the loop
    that first waits on them. `timeout` bounds every single git call. A commit with more
    than `max_tree_entries` entries or `max_tree_bytes` bytes of files is refused. Trees
    not in use are evicted, least recently used first, once all of them together take
    more than `max_tree_cache_bytes` (None: only `prune_trees` removes trees).
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        timeout: float = 60.0,
        max_concurrency: int = 4,
        max_tree_entries: int = DEFAULT_MAX_TREE_ENTRIES,
        max_tree_bytes: int = DEFAULT_MAX_TREE_BYTES,
        max_tree_cache_bytes: int | None = DEFAULT_MAX_TREE_CACHE_BYTES,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self.max_tree_entries = max_tree_entries
        self.max_tree_bytes = max_tree_bytes
        self.max_tree_cache_bytes = max_tree_cache_bytes
        # Just past the timeout: our own kill comes first and names the timeout.
        self._stall_seconds = math.ceil(timeout) + 1
        self._network = asyncio.Semaphore(max_concurrency)
        # Reads are local and quick, but a controller with hundreds of applications must
        # not start hundreds of git processes at once either.
        self._local = asyncio.Semaphore(max(8, 4 * max_concurrency))
        self._mirrors: dict[Path, _MirrorState] = {}
        self._trees = TreeStore(self.cache_dir / "trees")
        self._tree_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._tree_limits = TreeLimits(max_tree_entries, max_tree_bytes)
        self._prune_lock = asyncio.Lock()
        self._keep: frozenset[str] = frozenset()

    # -- public API --

    def mirror_path(self, repo_url: str) -> Path:
        """The bare mirror of `repo_url`, named by a hash of the URL without credentials."""
        return self._mirror_of(parse_remote(repo_url, None))

    async def fetch(self, repo_url: str, credentials: GitCredentials | None = None) -> None:
        """Create the mirror (first use) or fetch branches and tags into it, pruning."""
        remote = parse_remote(repo_url, credentials)
        mirror = self._mirror_of(remote)
        state = self._mirrors.setdefault(mirror, _MirrorState())
        asked_at = state.started
        async with state.lock:
            if state.last_ok > asked_at:
                return  # a fetch that began after we asked has just succeeded
            state.started += 1
            sequence = state.started
            state.resolved.clear()
            await self._sync_mirror(remote, mirror)
            state.resolved.clear()
            state.last_ok = sequence

    async def resolve(
        self, repo_url: str, revision: str, *, credentials: GitCredentials | None = None
    ) -> str:
        """The full commit SHA of a branch, tag (peeled), full or short SHA, or HEAD."""
        remote = parse_remote(repo_url, credentials)
        rev = check_revision(remote, revision)
        mirror = await self._ensure_mirror(remote)
        state = self._mirrors.setdefault(mirror, _MirrorState())
        known = state.resolved.get(rev)
        if known is not None and not state.lock.locked():
            return known
        sha = await self._commit_of(remote, mirror, rev, shown=revision)
        if not state.lock.locked():
            state.resolved[rev] = sha
        return sha

    @contextlib.asynccontextmanager
    async def lease_tree(
        self, repo_url: str, sha: str, *, credentials: GitCredentials | None = None
    ) -> AsyncIterator[Path]:
        """The whole tree of commit `sha` as a read-only directory, kept on disk until
        the block ends (no eviction, by this process or another, removes a leased tree).

        Checked out once, then reused, by later processes too (even while the remote is
        down). A commit whose tree could write or point outside its directory is refused
        as a whole with an InputError, before anything is written.
        """
        remote = parse_remote(repo_url, credentials)
        commit = check_sha(remote, sha)
        path, new = await self._hold_tree(remote, commit)
        try:
            if new and self.max_tree_cache_bytes is not None:
                try:
                    await self._prune(self.max_tree_cache_bytes)
                except TetherError as exc:  # the tree is fine; only the cap waits for later
                    log.warning("%s", exc)
            yield path
        finally:
            self._trees.release(commit)

    async def prune_trees(
        self, keep: Collection[str] = (), max_bytes: int | None = None
    ) -> PrunedTrees:
        """Evict trees not in use and not of a commit in `keep`, least recently used
        first, until all trees together take at most `max_bytes` (default: the cache
        cap; 0 evicts every such tree). Also removes what crashed processes left behind.

        Run it periodically with `keep` = the commits applications currently use; later
        automatic evictions spare those too.
        """
        self._keep = frozenset(sha.lower() for sha in keep)
        limit = self.max_tree_cache_bytes if max_bytes is None else max_bytes
        return await self._prune(limit if limit is not None else 1 << 62)

    def cache_bytes(self) -> dict[str, int]:
        """Bytes on disk of the checked-out trees and of the mirrors (for a metric).

        Blocking file-system walks (trees are sized once, mirrors each time): from async
        code, call it in a thread.
        """
        return {
            "trees": self._trees.total_bytes(),
            "mirrors": disk_usage(self.cache_dir / "mirrors"),
        }

    async def read_file(
        self, repo_url: str, sha: str, path: str, *, credentials: GitCredentials | None = None
    ) -> bytes:
        """The content of file `path` at revision `sha`."""
        remote = parse_remote(repo_url, credentials)
        rev, clean = check_revision(remote, sha), check_path(remote, path)
        mirror = await self._ensure_mirror(remote)
        commit, entry = await self._cat_file(remote, mirror, rev, clean, with_content=True)
        if commit.kind is None:
            raise revision_not_found(remote, sha)
        if entry.kind is None:
            raise InputError(f"repository {remote.url} at revision {sha}: path '{path}' not found")
        if entry.kind != "blob":
            raise InputError(
                f"repository {remote.url} at revision {sha}: path '{path}' is not a file"
            )
        return entry.content

    async def path_exists(
        self, repo_url: str, sha: str, path: str, *, credentials: GitCredentials | None = None
    ) -> bool:
        """Whether `path` (file or directory) exists at revision `sha`."""
        remote = parse_remote(repo_url, credentials)
        rev, clean = check_revision(remote, sha), check_path(remote, path)
        mirror = await self._ensure_mirror(remote)
        commit, entry = await self._cat_file(remote, mirror, rev, clean, with_content=False)
        if commit.kind is None:
            raise revision_not_found(remote, sha)
        return entry.kind is not None

    async def log(
        self,
        repo_url: str,
        sha: str,
        path: str | None = None,
        limit: int = 50,
        *,
        credentials: GitCredentials | None = None,
    ) -> list[CommitInfo]:
        """Commits reachable from `sha` (touching `path`, if given), newest first."""
        remote = parse_remote(repo_url, credentials)
        rev = check_revision(remote, sha)
        clean = check_path(remote, path) if path else ""
        mirror = await self._ensure_mirror(remote)
        commit = await self._commit_of(remote, mirror, rev, shown=sha)
        args = ["log", f"--max-count={max(limit, 0)}", f"--format={LOG_FORMAT}", commit, "--"]
        result = await self._read(remote, mirror, [*args, *([clean] if clean else [])])
        return parse_log(self._checked(remote, result).stdout)

    async def is_ancestor(
        self,
        repo_url: str,
        ancestor: str,
        descendant: str,
        *,
        credentials: GitCredentials | None = None,
    ) -> bool:
        """Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor).

        An `ancestor` missing from the mirror is not an ancestor: the mirror holds every
        commit reachable from `descendant`, so this is the answer after a force push whose
        old commits were garbage-collected.
        """
        remote = parse_remote(repo_url, credentials)
        old, new = check_revision(remote, ancestor), check_revision(remote, descendant)
        mirror = await self._ensure_mirror(remote)
        new_sha = await self._commit_of(remote, mirror, new, shown=descendant)
        old_sha = await self._rev_parse(remote, mirror, old)
        if old_sha is None:
            return False
        result = await self._read(remote, mirror, ["merge-base", "--is-ancestor", old_sha, new_sha])
        if result.returncode != 1:
            self._checked(remote, result)  # exit 1 means "no"; anything else but 0 is a failure
        return result.ok

    async def refs_digest(self, repo_url: str, *, credentials: GitCredentials | None = None) -> str:
        """A digest of every ref of the mirror (name and commit): equal digests mean a
        fetch brought nothing new, so nothing that tracks this repository needs a look."""
        remote = parse_remote(repo_url, credentials)
        mirror = await self._ensure_mirror(remote)
        result = await self._read(
            remote, mirror, ["for-each-ref", "--format=%(objectname) %(refname)"]
        )
        refs = self._checked(remote, result).stdout
        head = await self._rev_parse(remote, mirror, "HEAD")
        return hashlib.sha256(refs + (head or "").encode()).hexdigest()

    # -- fetching --

    def _mirror_of(self, remote: Remote) -> Path:
        digest = hashlib.sha256(remote.url.encode("utf-8")).hexdigest()[:16]
        return self.cache_dir / "mirrors" / f"{digest}.git"

    async def _ensure_mirror(self, remote: Remote) -> Path:
        """The mirror, created first if this repository was never fetched."""
        mirror = self._mirror_of(remote)
        if not mirror.is_dir():
            state = self._mirrors.setdefault(mirror, _MirrorState())
            async with state.lock:
                if not mirror.is_dir():
                    await self._sync_mirror(remote, mirror)
        return mirror

    async def _sync_mirror(self, remote: Remote, mirror: Path) -> None:
        started = time.monotonic()
        async with self._network:
            with self._remote_env(remote) as env:
                if mirror.is_dir():
                    await self._fetch_refs(remote, mirror, env)
                    if await self._rev_parse(remote, mirror, "HEAD") is None:
                        await self._adopt_remote_head(remote, mirror, env)
                else:
                    await self._create_mirror(remote, mirror, env)
        log.debug("fetched %s in %.2fs", remote.url, time.monotonic() - started)
        await self._collect_garbage(remote, mirror)

    async def _create_mirror(self, remote: Remote, mirror: Path, env: GitEnv) -> None:
        """Build the mirror next to its final place and rename it there once complete, so
        a failed first fetch leaves nothing that looks like a mirror."""
        mirror.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{mirror.name}-", dir=mirror.parent))
        try:
            init = await self._git(remote, ["init", "--bare", "--quiet", str(tmp)], env=LOCAL)
            self._checked(remote, init)
            await self._fetch_refs(remote, tmp, env)
            await self._adopt_remote_head(remote, tmp, env)
            try:
                tmp.rename(mirror)
            except OSError:
                if not mirror.is_dir():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # a concurrent process made it first
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    async def _fetch_refs(self, remote: Remote, mirror: Path, env: GitEnv) -> None:
        args = ["--git-dir", str(mirror), "fetch", "--prune", "--quiet", "--no-write-fetch-head"]
        packs = _temporary_packs(mirror)
        try:
            result = await self._git(
                remote, [*args, "--", remote.url, *_REFSPECS], env=env | GitEnv(config=FSCK_CONFIG)
            )
        except UnreachableError:
            _remove_stale_locks(mirror)  # the timed-out git was killed mid-update
            raise
        if not result.ok:
            for leftover in _temporary_packs(mirror) - packs:
                with contextlib.suppress(OSError):
                    leftover.unlink()  # a pack refused by fsck stays as tmp_pack_*
            raise fsck_refusal(remote, result) or unreachable(remote, result)

    async def _adopt_remote_head(self, remote: Remote, mirror: Path, env: GitEnv) -> None:
        """Point the mirror's HEAD at the remote's default branch (`HEAD` as a revision)."""
        result = await self._git(
            remote, ["ls-remote", "--symref", "--", remote.url, "HEAD"], env=env
        )
        if not result.ok:
            raise unreachable(remote, result)
        for line in result.stdout.decode("utf-8", "replace").splitlines():
            target, _, name = line.removeprefix("ref: ").partition("\t")
            if line.startswith("ref: ") and name == "HEAD" and target.startswith("refs/heads/"):
                args = ["--git-dir", str(mirror), "symbolic-ref", "HEAD", target]
                self._checked(remote, await self._git(remote, args, env=LOCAL))
                return

    async def _collect_garbage(self, remote: Remote, mirror: Path) -> None:
        """`git gc --auto` (packs loose objects, drops unreachable ones after two weeks):
        without it a mirror fetched every few minutes grows without bound."""
        try:
            result = await self._read(remote, mirror, ["gc", "--auto", "--quiet"], env=_GC)
        except UnreachableError as exc:
            log.warning("git gc of the mirror of %s: %s", remote.url, exc)
            return
        if not result.ok:
            log.warning("git gc of the mirror of %s failed: %s", remote.url, result.stderr_line())

    @contextlib.contextmanager
    def _remote_env(self, remote: Remote) -> Iterator[GitEnv]:
        """Environment that authenticates one network git call, and nothing beyond it."""
        with remote_env(remote, self._stall_seconds) as env:
            yield env

    # -- trees --

    async def _hold_tree(self, remote: Remote, commit: str) -> tuple[Path, bool]:
        """The tree of `commit`, held once more, and whether it was just checked out."""
        lock = self._tree_locks.get(commit)
        if lock is None:
            lock = self._tree_locks[commit] = asyncio.Lock()
        async with lock:
            try:
                path = self._trees.hold_existing(commit)
            except OSError as exc:
                raise write_error(remote, commit, self._trees, exc) from None
            if path is not None:
                return path, False  # works even while the remote is down
            return await self._check_out(remote, commit), True

    async def _check_out(self, remote: Remote, commit: str) -> Path:
        mirror = await self._ensure_mirror(remote)
        if await self._rev_parse(remote, mirror, commit) != commit:
            raise revision_not_found(remote, commit)
        started = time.monotonic()
        read = functools.partial(self._read, remote, mirror)
        path = await check_out(read, remote, mirror, commit, self._trees, self._tree_limits)
        log.debug("checked out %s at %s in %.2fs", remote.url, commit, time.monotonic() - started)
        return path

    async def _prune(self, max_bytes: int) -> PrunedTrees:
        async with self._prune_lock:
            try:
                return await asyncio.to_thread(self._trees.prune, self._keep, max_bytes)
            except OSError as exc:
                raise TetherError(
                    f"cannot prune the tree cache {self._trees.root}: {exc.strerror or exc}"
                ) from None

    # -- reading the mirror --

    async def _cat_file(
        self, remote: Remote, mirror: Path, rev: str, path: str, *, with_content: bool
    ) -> tuple[BatchObject, BatchObject]:
        """The commit `rev` and the object at `rev:path`, in one git call."""
        mode = "--batch" if with_content else "--batch-check"
        query = f"{rev}^{{commit}}\n{rev}:{path}\n".encode()
        result = await self._read(remote, mirror, ["cat-file", mode], input=query)
        commit, entry = parse_batch(
            self._checked(remote, result).stdout, 2, with_content=with_content
        )
        return commit, entry

    async def _commit_of(self, remote: Remote, mirror: Path, rev: str, *, shown: str) -> str:
        sha = await self._rev_parse(remote, mirror, rev)
        if sha is None:
            raise revision_not_found(remote, shown)
        return sha

    async def _rev_parse(self, remote: Remote, mirror: Path, rev: str) -> str | None:
        args = ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"]
        result = await self._read(remote, mirror, args)
        return result.stdout.decode().strip() if result.ok else None

    # -- running git --

    async def _read(
        self,
        remote: Remote,
        mirror: Path,
        args: Sequence[str],
        *,
        input: bytes | None = None,
        env: GitEnv = LOCAL,
        max_output: int | None = None,
    ) -> ProcessResult:
        async with self._local:
            return await self._git(
                remote,
                ["--git-dir", str(mirror), *args],
                env=env,
                input=input,
                max_output=max_output,
            )

    async def _git(
        self,
        remote: Remote,
        args: Sequence[str],
        *,
        env: GitEnv,
        input: bytes | None = None,
        max_output: int | None = None,
    ) -> ProcessResult:
        try:
            return await run_process(
                ["git", *args],
                timeout=self.timeout,
                input=input,
                env=process_environment(env, os.environ),
                inherit_env=False,
                max_output=max_output,
            )
        except ProcessTimeout:
            raise UnreachableError(
                f"git {subcommand(args)} of {remote.url} did not finish within {self.timeout:g}s",
                hint=HINT_NETWORK,
            ) from None

    @staticmethod
    def _checked(remote: Remote, result: ProcessResult) -> ProcessResult:
        """`result`, or an error for a git failure that no caller expects."""
        return checked(remote, result)


def _temporary_packs(mirror: Path) -> set[Path]:
    try:
        return set((mirror / "objects" / "pack").glob("tmp_*"))
    except OSError:
        return set()


def _remove_stale_locks(mirror: Path) -> None:
    """Remove the `*.lock` files a killed git left behind; the next fetch would fail on them.

    Only called while this process holds the mirror's lock after killing its own git.
    """
    candidates = [mirror / name for name in ("HEAD.lock", "config.lock", "packed-refs.lock")]
    candidates += [mirror / "shallow.lock", *mirror.joinpath("refs").rglob("*.lock")]
    for lock in candidates:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
            log.warning("removed stale git lock %s", lock)
