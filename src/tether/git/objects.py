"""Revisions, paths and what git prints about objects: checks and parsers, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tether.errors import InputError

from .remote import CONTROL, Remote

_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_LOG_FIELDS = ("%H", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%s")
LOG_FORMAT = "%x1f".join(_LOG_FIELDS) + "%x1e"


def check_revision(remote: Remote, revision: str) -> str:
    """A revision git may parse. Empty means HEAD, as in Argo CD's targetRevision."""
    rev = revision.strip() or "HEAD"
    # No option injection, no `<rev>:<path>` or `:/regex` syntax: refs cannot contain ':'.
    if rev.startswith("-") or ":" in rev or " " in rev or CONTROL.search(rev):
        raise InputError(f"repository {remote.url}: revision {revision!r} is not valid")
    return rev


def check_sha(remote: Remote, sha: str) -> str:
    commit = sha.strip().lower()
    if not _FULL_SHA.fullmatch(commit):
        raise InputError(
            f"repository {remote.url}: {sha!r} is not a full commit SHA",
            hint="resolve the revision first",
        )
    return commit


def check_path(remote: Remote, path: str) -> str:
    """A repository-relative path ('' is the root). '..' is refused, never clamped."""
    parts = [part for part in path.strip().split("/") if part not in ("", ".")]
    if ".." in parts or "\n" in path or "\x00" in path:
        raise InputError(f"repository {remote.url}: path {path!r} is not inside the repository")
    return "/".join(parts)


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author_name: str
    author_email: str
    authored_at: str  # ISO 8601 with the author's UTC offset
    committer_name: str
    committer_email: str
    committed_at: str
    subject: str


@dataclass(frozen=True)
class BatchObject:
    """One answer of `git cat-file --batch[-check]`: kind None means missing."""

    kind: str | None
    content: bytes = b""
    size: int = 0


def parse_batch(data: bytes, count: int, *, with_content: bool) -> list[BatchObject]:
    found: list[BatchObject] = []
    pos = 0
    for _ in range(count):
        end = data.index(b"\n", pos)
        header = data[pos:end].decode("utf-8", "replace")
        pos = end + 1
        if header.endswith((" missing", " ambiguous")):
            found.append(BatchObject(None))
            continue
        _oid, kind, size_text = header.rsplit(" ", 2)
        size = int(size_text)
        found.append(BatchObject(kind, data[pos : pos + size] if with_content else b"", size))
        pos += size + 1 if with_content else 0
    return found


def parse_log(stdout: bytes) -> list[CommitInfo]:
    commits = []
    for record in stdout.decode("utf-8", "replace").split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == len(_LOG_FIELDS):
            commits.append(CommitInfo(*fields))
    return commits


def revision_not_found(remote: Remote, revision: str) -> InputError:
    return InputError(
        f"repository {remote.url}: revision '{revision}' not found",
        hint="use a branch, tag or commit of the repository (fetch first if it is new)",
    )
