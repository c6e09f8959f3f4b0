"""A commit's tree onto disk: checked from its listing first, then written by git itself.

No tarfile (its "data" filter is bypassed by symlink chains longer than PATH_MAX on
unpatched Pythons, CVE-2025-4517): git reads the tree into a private index
(GIT_INDEX_FILE) and `checkout-index` writes it into a private staging directory, which
is then published read-only (`tether.git.trees`). Before that, `git ls-tree` (bounded
output), blob sizes and symlink targets decide whether the tree is safe at all
(`tether.git.treecheck`); a refused commit is one InputError, nothing written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tether.errors import InputError, TetherError
from tether.process import ProcessOutputTooLarge, ProcessResult

from .config import LOCAL, GitEnv
from .objects import BatchObject, parse_batch
from .remote import Remote, checked, last_line
from .treecheck import (
    TreeEntry,
    TreeRefused,
    check_paths,
    check_size,
    check_symlink_sizes,
    check_symlinks,
    parse_listing,
)
from .trees import TreeStore

# A listing line is `<mode> <kind> <oid>\t<path>\0`: about 60 bytes and the path.
_LISTING_BYTES_PER_ENTRY = 320
# The mirror's info/attributes outranks every .gitattributes in a tree: checkouts are
# byte for byte what was committed (no line-ending conversion, $Id$ expansion,
# re-encoding or filter driver), the same bytes `read_file` returns.
_CHECKOUT_ATTRIBUTES = b"* -text -eol -ident -filter -working-tree-encoding\n"
_CHECKOUT_CONFIG = (
    ("core.symlinks", "true"),
    ("core.autocrlf", "false"),
    ("core.sparseCheckout", "false"),
)
HINT_REFUSED_TREE = "nothing of this commit was written; fix the repository or use another revision"


class MirrorReader(Protocol):
    """Runs `git --git-dir <mirror> ARGS` (GitRepos._read bound to one mirror)."""

    async def __call__(
        self,
        args: Sequence[str],
        *,
        input: bytes | None = None,
        env: GitEnv = LOCAL,
        max_output: int | None = None,
    ) -> ProcessResult: ...


@dataclass(frozen=True)
class TreeLimits:
    max_entries: int
    max_bytes: int


async def check_out(
    read: MirrorReader,
    remote: Remote,
    mirror: Path,
    commit: str,
    store: TreeStore,
    limits: TreeLimits,
) -> Path:
    """Check the tree, let git write it into a staging directory, publish it (held)."""
    await check_listing(read, remote, commit, limits)
    try:
        _write_checkout_attributes(mirror)
        with store.staging() as staging:
            env = LOCAL | GitEnv({"GIT_INDEX_FILE": str(staging.index)}, _CHECKOUT_CONFIG)
            await _write(read, remote, commit, ["read-tree", commit], env)
            checkout = ["--work-tree", str(staging.tree), "checkout-index", "--all"]
            await _write(read, remote, commit, checkout, env)
            return await asyncio.to_thread(store.publish, staging, commit)
    except OSError as exc:
        raise write_error(remote, commit, store, exc) from None


async def check_listing(
    read: MirrorReader, remote: Remote, commit: str, limits: TreeLimits
) -> None:
    """Refuse the commit (InputError) unless its tree is safe to write."""
    listing_limit = limits.max_entries * _LISTING_BYTES_PER_ENTRY
    try:
        result = await read(["ls-tree", "-r", "-t", "-z", commit], max_output=listing_limit)
        entries = parse_listing(checked(remote, result).stdout)
        check_paths(entries, max_entries=limits.max_entries)
        sizes = await _sizes(read, remote, entries)
        check_size(entries, sizes, max_bytes=limits.max_bytes)
        check_symlink_sizes(entries, sizes)
        check_symlinks(entries, await _symlink_targets(read, remote, entries))
    except ProcessOutputTooLarge:
        reason = f"tree listing exceeds {listing_limit} bytes (limit: {limits.max_entries} entries)"
        raise refused(remote, commit, reason) from None
    except TreeRefused as exc:
        raise refused(remote, commit, str(exc)) from None


def refused(remote: Remote, commit: str, reason: str) -> InputError:
    return InputError(f"repository {remote.url} at {commit}: {reason}", hint=HINT_REFUSED_TREE)


def write_error(remote: Remote, commit: str, store: TreeStore, exc: OSError) -> TetherError:
    return TetherError(
        f"repository {remote.url} at {commit}: cannot write its tree under "
        f"{store.root}: {exc.strerror or exc}",
        hint="check the free space and permissions of tether's cache directory",
    )


async def _sizes(
    read: MirrorReader, remote: Remote, entries: Sequence[TreeEntry]
) -> dict[str, int]:
    oids = sorted({e.oid for e in entries if e.kind == "blob"})
    found = await _batch(read, remote, oids, with_content=False)
    return {oid: obj.size for oid, obj in zip(oids, found, strict=True)}


async def _symlink_targets(
    read: MirrorReader, remote: Remote, entries: Sequence[TreeEntry]
) -> dict[str, bytes]:
    oids = sorted({e.oid for e in entries if e.is_symlink})
    found = await _batch(read, remote, oids, with_content=True)
    return {oid: obj.content for oid, obj in zip(oids, found, strict=True)}


async def _batch(
    read: MirrorReader, remote: Remote, oids: Sequence[str], *, with_content: bool
) -> list[BatchObject]:
    if not oids:
        return []
    mode = "--batch" if with_content else "--batch-check"
    query = "".join(f"{oid}\n" for oid in oids).encode()
    stdout = checked(remote, await read(["cat-file", mode], input=query)).stdout
    found = parse_batch(stdout, len(oids), with_content=with_content)
    if any(obj.kind != "blob" for obj in found):
        raise TetherError(f"the mirror of {remote.url} is missing objects", hint="fetch again")
    return found


async def _write(
    read: MirrorReader, remote: Remote, commit: str, args: Sequence[str], env: GitEnv
) -> None:
    result = await read(args, env=env)
    if not result.ok:
        line = last_line(remote.scrub(result.stderr.decode("utf-8", "replace")))
        raise InputError(
            f"repository {remote.url} at {commit}: git cannot check out the tree: {line}",
            hint=HINT_REFUSED_TREE,
        )


def _write_checkout_attributes(mirror: Path) -> None:
    path = mirror / "info" / "attributes"
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == _CHECKOUT_ATTRIBUTES:
            return
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".attributes-{os.getpid()}")
    tmp.write_bytes(_CHECKOUT_ATTRIBUTES)
    tmp.replace(path)  # atomic: a concurrent checkout reads the old or the new file
