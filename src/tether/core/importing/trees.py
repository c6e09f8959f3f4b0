"""What an import needs to know of the repositories its objects point at.

ApplicationSet git generators list directories and read files; a Flux Kustomization
whose path has no kustomization.yaml reads every manifest below it. The converters are
pure: they say which trees they want (`TreeWanted`), an adapter reads them (`RepoTree`),
and the conversion runs on what was read. A tree that could not be read is a reason
string instead: the conversion goes on with less and says so.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class TreeWanted:
    repo_url: str
    revision: str
    file_patterns: tuple[str, ...] = ()  # globs of files whose contents are needed


@dataclass(frozen=True)
class RepoTree:
    """One repository at one revision: every file's path, and the contents asked for."""

    paths: frozenset[str]  # relative, "/"-separated
    files: Mapping[str, str] = field(default_factory=dict)

    def directories(self) -> set[str]:
        found: set[str] = set()
        for path in self.paths:
            parent = posixpath.dirname(path)
            while parent and parent not in found:
                found.add(parent)
                parent = posixpath.dirname(parent)
        return found

    def has_kustomization(self, directory: str) -> bool:
        base = clean_path(directory)
        return any(posixpath.join(base, name) in self.paths for name in KUSTOMIZATION_FILES)


# A tree, or why it could not be read.
Trees = Mapping[tuple[str, str], "RepoTree | str"]


def clean_path(path: str) -> str:
    """ "./apps/prod/" -> "apps/prod"; the root is "."."""
    normal = posixpath.normpath(path.strip().lstrip("/") or ".")
    return "." if normal in ("", ".") else normal


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's path.Match plus `**` (doublestar, as Argo CD's files generator): `*` and `?`
    never cross a `/`, `**` crosses any number of directories."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end + 1
                continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, path: str) -> bool:
    return _glob_regex(clean_path(pattern)).match(path) is not None


def matching(pattern: str, candidates: Iterable[str]) -> list[str]:
    """The candidates the glob matches, sorted; hidden directories never match (as Argo
    CD's directory generator skips them)."""
    hits = [
        path
        for path in candidates
        if glob_match(pattern, path) and not any(part.startswith(".") for part in path.split("/"))
    ]
    return sorted(hits)
