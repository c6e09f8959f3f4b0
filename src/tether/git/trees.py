"""Checked-out trees on disk: private names, leases, LRU eviction under a size cap.

Layout under `cache_dir/trees` (mode 0700):

    <sha>.<32 random hex>/    a finished tree, read-only (the root 0500), never changed
    .staging-<random>/        one checkout in progress: `index` (git's) and `tree/`
    .doomed-<random>/         a tree being removed

The random part means no path in any repository can name another commit's (or another
repository's) checkout, the way `../../<sha>/...` could when the directory was
`trees/<sha>` (Argo CD CVE-2023-40026). A finished tree is reused by later processes
(the CLI then works with the remote down).

Whoever uses a tree holds a shared flock(2) on its directory; eviction takes an
exclusive one without waiting, so a tree in use, in this process or another one, is
never removed. Eviction renames the directory away while holding that lock, and a new
user checks after locking that the name still leads to the directory it locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_TREE_NAME = re.compile(r"(?P<commit>[0-9a-f]{40}|[0-9a-f]{64})\.[0-9a-f]{32}")
# `trees/<sha>` of earlier versions, extracted from a tar: never reused, always removed.
_LEGACY_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_STAGING_PREFIX = ".staging-"
_DOOMED_PREFIX = ".doomed-"
# A staging directory is locked right after it is made; one this young may be in that
# instant, so it is left alone even when its lock is free.
_STAGING_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Staging:
    """One checkout in progress: git writes `tree` using the index file `index`."""

    dir: Path
    index: Path
    tree: Path


@dataclass(frozen=True)
class PrunedTrees:
    removed: tuple[str, ...]  # directory names under trees/
    freed_bytes: int
    remaining_bytes: int  # finished trees left on disk


@dataclass
class _Held:
    path: Path
    fd: int  # holds the shared lock
    users: int


class TreeStore:
    """The trees of one cache directory, for one process (not thread-safe except
    `prune` and `total_bytes`, which only rely on the locks and may run in a thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._held: dict[str, _Held] = {}  # commit -> the tree this process uses
        self._sizes: dict[str, int] = {}  # finished trees never change: sized once

    # -- using trees --

    def hold_existing(self, commit: str) -> Path | None:
        """A finished tree of `commit`, now held one more time, or None."""
        held = self._held.get(commit)
        if held is not None:
            held.users += 1
            return held.path
        for path in self._copies(commit):
            fd = _lock(path, fcntl.LOCK_SH)
            if fd is not None:
                self._held[commit] = _Held(path, fd, 1)
                _touch(path)
                return path
        return None

    def release(self, commit: str) -> None:
        held = self._held[commit]
        held.users -= 1
        if held.users == 0:
            del self._held[commit]
            _touch(held.path)  # last use, for LRU eviction
            os.close(held.fd)

    # -- writing trees --

    @contextlib.contextmanager
    def staging(self) -> Iterator[Staging]:
        """A private, locked directory for one checkout; removed afterwards."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.root / f"{_STAGING_PREFIX}{secrets.token_hex(8)}"
        path.mkdir(mode=0o700)
        fd = _lock(path, fcntl.LOCK_EX)
        try:
            tree = path / "tree"
            tree.mkdir(mode=0o700)
            yield Staging(path, path / "index", tree)
        finally:
            if fd is not None:
                os.close(fd)
            remove_tree(path)

    def publish(self, staging: Staging, commit: str) -> Path:
        """Make the checkout read-only and give it its final name, held by this process."""
        size = _make_read_only(staging.tree)
        fd = _lock(staging.tree, fcntl.LOCK_SH)  # locked before anyone can see it
        if fd is None:
            raise OSError(f"cannot lock {staging.tree}")
        final = self.root / f"{commit}.{secrets.token_hex(16)}"
        try:
            os.rename(staging.tree, final)
            os.chmod(final, 0o500)
        except BaseException:
            os.close(fd)
            raise
        self._sizes[final.name] = size
        self._held[commit] = _Held(final, fd, 1)
        return final

    # -- bounding the cache --

    def prune(self, keep: Collection[str], max_bytes: int) -> PrunedTrees:
        """Remove leftovers, extra copies, then least recently used trees until the
        finished trees take at most `max_bytes`; never a tree in use or in `keep`."""
        removed: list[str] = []
        freed = 0
        copies: dict[str, list[tuple[float, Path]]] = {}
        for entry in _scan(self.root):
            name = entry.name
            match = _TREE_NAME.fullmatch(name)
            if match:
                mtime = entry.stat(follow_symlinks=False).st_mtime
                copies.setdefault(match["commit"], []).append((mtime, Path(entry.path)))
                continue
            if not entry.is_dir(follow_symlinks=False):
                continue
            abandoned = name.startswith(_DOOMED_PREFIX) or _LEGACY_NAME.fullmatch(name)
            staged = name.startswith(_STAGING_PREFIX)
            if staged and time.time() - entry.stat().st_mtime < _STAGING_GRACE_SECONDS:
                continue
            if abandoned or staged:
                freed_now = self._evict(Path(entry.path), check_lock=not abandoned)
                if freed_now is not None:
                    removed.append(name)
                    freed += freed_now
        current: list[tuple[float, str, Path]] = []
        for commit, found in copies.items():
            found.sort(reverse=True)  # newest first: the copy new users pick
            current.append((found[0][0], commit, found[0][1]))
            for _mtime, extra in found[1:]:
                freed_now = self._evict(extra)
                if freed_now is not None:
                    removed.append(extra.name)
                    freed += freed_now
        total = sum(self._size(path) for _mtime, _commit, path in current)
        for _mtime, commit, path in sorted(current):  # least recently used first
            if total <= max_bytes:
                break
            if commit in keep or commit in self._held:
                continue
            freed_now = self._evict(path)
            if freed_now is not None:
                removed.append(path.name)
                freed += freed_now
                total -= freed_now
        return PrunedTrees(tuple(removed), freed, total)

    def total_bytes(self) -> int:
        """Bytes on disk under trees/, in progress and leftovers included."""
        total = 0
        for entry in _scan(self.root):
            if entry.is_dir(follow_symlinks=False):
                total += self._size(Path(entry.path))
        return total

    def _size(self, path: Path) -> int:
        known = self._sizes.get(path.name)
        if known is not None:
            return known
        size = disk_usage(path)
        if _TREE_NAME.fullmatch(path.name):
            self._sizes[path.name] = size
        return size

    def _evict(self, path: Path, *, check_lock: bool = True) -> int | None:
        """Remove `path` unless someone holds it; the bytes freed, or None if kept."""
        size = self._size(path)
        fd = _lock(path, fcntl.LOCK_EX) if check_lock else None
        if check_lock and fd is None:
            return None  # in use (or already gone)
        try:
            doomed = self.root / f"{_DOOMED_PREFIX}{secrets.token_hex(8)}"
            if not path.name.startswith(_DOOMED_PREFIX):
                try:
                    os.rename(path, doomed)
                except FileNotFoundError:
                    return None  # another process removed it meanwhile
            else:
                doomed = path
        finally:
            if fd is not None:
                os.close(fd)
        self._sizes.pop(path.name, None)
        remove_tree(doomed)
        log.debug("removed cached tree %s (%d bytes)", path.name, size)
        return size

    def _copies(self, commit: str) -> list[Path]:
        """Finished trees of `commit`, newest first."""
        found = []
        for entry in _scan(self.root):
            match = _TREE_NAME.fullmatch(entry.name)
            if match and match["commit"] == commit:
                found.append((entry.stat(follow_symlinks=False).st_mtime, Path(entry.path)))
        return [path for _mtime, path in sorted(found, reverse=True)]


def _scan(root: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(root) as entries:
            return list(entries)
    except FileNotFoundError:
        return []


def _lock(path: Path, operation: int) -> int | None:
    """An open descriptor of directory `path` holding flock `operation`, or None when
    someone else holds a conflicting lock or `path` is gone. A shared lock also checks
    that `path` still names the locked directory (eviction renames before removing)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        now = os.stat(path, follow_symlinks=False)
        locked = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (locked.st_dev, locked.st_ino):
            os.close(fd)
            return None
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)


def _make_read_only(root: Path) -> int:
    """Make everything below `root` read-only (renderers read these trees concurrently;
    one that writes, such as `helm dependency build`, must copy first); the bytes used.
    Symlinks are never followed."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            total += info.st_blocks * 512
            if stat.S_ISREG(info.st_mode):
                os.chmod(path, 0o555 if info.st_mode & 0o100 else 0o444)
        info = os.lstat(dirpath)
        total += info.st_blocks * 512
        if dirpath != str(root):
            os.chmod(dirpath, 0o555)
    return total


def disk_usage(root: Path) -> int:
    """Bytes allocated below `root` (each file once), 0 if it is gone."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in [*filenames, ""]:
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(dirpath, name) if name else dirpath)
                if (info.st_dev, info.st_ino) not in seen:
                    seen.add((info.st_dev, info.st_ino))
                    total += info.st_blocks * 512
    return total


def remove_tree(root: Path) -> None:
    """Remove a directory made read-only by `_make_read_only` (symlinks not followed)."""
    if not root.is_dir() or root.is_symlink():
        return
    for dirpath, _dirnames, _filenames in os.walk(root):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, 0o700)
    shutil.rmtree(root, ignore_errors=True)
