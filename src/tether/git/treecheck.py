"""Whether a commit's tree is safe to write to disk, decided from its listing alone.

Pure: the caller lists the tree (`git ls-tree -r -t -z`), looks up blob sizes and
symlink targets, and gets a TreeRefused naming the first problem, before anything is
written. Refused: more entries or bytes than the limits (git bombs: a few KB of trees
that expand to millions of entries), absolute or non-canonical paths, '..' and '.git'
components, duplicate paths, a path that is a file (or symlink) and also the directory
of another path, and symlinks that lead out of the tree. Symlinks are resolved the way
the kernel does it (each component in turn, a symlink replaced by its target, '..'
taken from where that leads), not by normalizing the string: `up -> ..` and
`evil -> sub/up/../x` look inside lexically, yet `evil` leaves. Everything is strings,
so no PATH_MAX truncation can hide a link (the flaw of realpath-based checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# The kernel's limit on symlinks followed in one lookup (MAXSYMLINKS).
MAX_SYMLINK_DEPTH = 40
# symlink(2) refuses longer targets (PATH_MAX includes the terminating NUL).
MAX_SYMLINK_TARGET = 4095
# Bound on the work of resolving every symlink, so a crafted tree cannot make it slow.
_MAX_RESOLVE_STEPS = 2_000_000

# The modes git writes; a submodule (160000) is checked out as an empty directory.
_KINDS = {
    "100644": "blob",
    "100755": "blob",
    "120000": "blob",
    "040000": "tree",
    "160000": "commit",
}
SYMLINK_MODE = "120000"


class TreeRefused(ValueError):
    """The tree is not safe to write; str() is the cause, one line."""


@dataclass(frozen=True, slots=True)
class TreeEntry:
    mode: str
    kind: str  # blob, tree or commit
    oid: str
    path: str

    @property
    def is_symlink(self) -> bool:
        return self.mode == SYMLINK_MODE


def shown(text: str, limit: int = 120) -> str:
    """Repository content (a path, a symlink target) quoted for a one-line message."""
    # repr escapes newlines and other control characters: the message stays one line.
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_listing(data: bytes) -> list[TreeEntry]:
    """Entries of `git ls-tree -r -t -z` output: `<mode> <kind> <oid>\\t<path>\\0`."""
    entries = []
    for record in data.split(b"\0"):
        if not record:
            continue
        header, tab, raw_path = record.partition(b"\t")
        fields = header.decode("ascii", "replace").split(" ")
        if not tab or len(fields) != 3:
            raise TreeRefused(
                f"unexpected tree listing line {shown(record.decode('utf-8', 'replace'))}"
            )
        mode, kind, oid = fields
        # Paths are bytes to git; surrogateescape keeps any byte sequence round-trippable.
        entries.append(TreeEntry(mode, kind, oid, raw_path.decode("utf-8", "surrogateescape")))
    return entries


def check_paths(entries: Sequence[TreeEntry], *, max_entries: int) -> None:
    """Entry count, modes, names, duplicates and file/directory clashes."""
    if len(entries) > max_entries:
        raise TreeRefused(f"tree has {len(entries)} entries, more than the limit of {max_entries}")
    kinds: dict[str, str] = {}
    for entry in entries:
        path = entry.path
        if _KINDS.get(entry.mode) != entry.kind:
            raise TreeRefused(
                f"path {shown(path)} has unsupported mode {entry.mode} ({entry.kind})"
            )
        _check_name(path)
        if path in kinds:
            raise TreeRefused(f"path {shown(path)} appears twice in the tree (duplicate entries)")
        parent = path.rpartition("/")[0]
        if parent:
            # `-t` lists every tree before what it holds, so the parent is known by now.
            parent_kind = kinds.get(parent)
            if parent_kind is None:
                raise TreeRefused(f"path {shown(path)} has no directory entry {shown(parent)}")
            if parent_kind != "tree":
                raise TreeRefused(
                    f"path {shown(parent)} is both a file or symlink and the directory of "
                    f"{shown(path)}"
                )
        kinds[path] = entry.kind


def _check_name(path: str) -> None:
    if path.startswith("/"):
        raise TreeRefused(f"path {shown(path)} is absolute")
    for part in path.split("/"):
        if part in ("", "."):
            raise TreeRefused(f"path {shown(path)} is not canonical (empty or '.' component)")
        if part == "..":
            raise TreeRefused(f"path {shown(path)} leaves the repository ('..' component)")
        # git's own rule (fsck hasDotgit, verify_path): any case, trailing dots or spaces.
        if part.rstrip(". ").casefold() == ".git":
            raise TreeRefused(f"path {shown(path)} has a '.git' component")


def check_size(entries: Iterable[TreeEntry], sizes: Mapping[str, int], *, max_bytes: int) -> None:
    """Total bytes of the files to write (a blob used twice is written twice)."""
    total = 0
    for entry in entries:
        if entry.kind == "blob":
            total += sizes[entry.oid]
            if total > max_bytes:
                raise TreeRefused(f"tree holds more than the limit of {max_bytes} bytes of files")


def check_symlink_sizes(entries: Iterable[TreeEntry], sizes: Mapping[str, int]) -> None:
    """Before reading targets: none longer than a symlink can be."""
    for entry in entries:
        if entry.is_symlink and sizes[entry.oid] > MAX_SYMLINK_TARGET:
            raise TreeRefused(f"symlink {shown(entry.path)} has a target longer than PATH_MAX")


def check_symlinks(entries: Iterable[TreeEntry], targets: Mapping[str, bytes]) -> None:
    """Every symlink, followed through the tree's other symlinks, stays in the tree."""
    links: dict[str, str] = {}
    for entry in entries:
        if entry.is_symlink:
            links[entry.path] = _decode_target(entry.path, targets[entry.oid])
    resolver = _Resolver(links)
    for path in links:
        resolver.location(path, depth=0)


def _decode_target(path: str, raw: bytes) -> str:
    if not raw:
        raise TreeRefused(f"symlink {shown(path)} has an empty target")
    if b"\0" in raw:
        # symlink(2) would cut the target at the NUL: what is checked must be what is made.
        raise TreeRefused(f"symlink {shown(path)} has a NUL byte in its target")
    if len(raw) > MAX_SYMLINK_TARGET:
        raise TreeRefused(f"symlink {shown(path)} has a target longer than PATH_MAX")
    return raw.decode("utf-8", "surrogateescape")


class _Resolver:
    """Where symlinks lead, as component lists from the tree root (memoized per link:
    where a link leads does not depend on the path that reached it)."""

    def __init__(self, links: Mapping[str, str]) -> None:
        self.links = links
        self.resolved: dict[str, list[str]] = {}
        self.active: set[str] = set()
        self.steps = 0

    def location(self, link: str, *, depth: int) -> list[str]:
        known = self.resolved.get(link)
        if known is not None:
            return known
        target = self.links[link]
        if depth >= MAX_SYMLINK_DEPTH or link in self.active:
            raise TreeRefused(
                f"symlink {shown(link)} -> {shown(target)}: a loop or a chain of more than "
                f"{MAX_SYMLINK_DEPTH} symlinks"
            )
        if target.startswith("/"):
            raise TreeRefused(
                f"symlink {shown(link)} -> {shown(target)} points outside the repository "
                "(absolute target)"
            )
        self.active.add(link)
        where = self._walk(link, target, depth)
        self.active.discard(link)
        self.resolved[link] = where
        return where

    def _walk(self, link: str, target: str, depth: int) -> list[str]:
        """Follow `target` from the directory holding `link`, as the kernel would."""
        where = link.split("/")[:-1]
        for part in target.split("/"):
            self.steps += 1 + len(where)
            if self.steps > _MAX_RESOLVE_STEPS:
                raise TreeRefused("the tree's symlinks are too intricate to check")
            if part in ("", "."):
                continue
            if part == "..":
                if not where:
                    raise TreeRefused(
                        f"symlink {shown(link)} -> {shown(target)} points outside the repository"
                    )
                where.pop()
                continue
            where.append(part)
            key = "/".join(where)
            if key in self.links:
                where = list(self.location(key, depth=depth + 1))
        return where
