"""Files of the repository tree: selecting, reading within limits, private copies.

The tree is shared by concurrent renders and never written to. Every file tether reads
itself is a regular file inside the repository (a symbolic link may not lead out of it)
and is read with its size checked first, so a 100 MB file is refused before any of it
is held in memory.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tether.render.documents import is_sops_document
from tether.render.limits import RenderLimits, size_text
from tether.render.loading import LoadBudget, load_manifest
from tether.render.request import RenderProblem

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_T = TypeVar("_T")


def _expand_braces(pattern: str) -> list[str]:
    """`{a,b}.yaml` → [`a.yaml`, `b.yaml`], nested too (the glob syntax Argo CD takes)."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth, last, parts = 0, start + 1, []
    for index in range(start, len(pattern)):
        char = pattern[index]
        if char == "{":
            depth += 1
        elif char == "," and depth == 1:
            parts.append(pattern[last:index])
            last = index + 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                parts.append(pattern[last:index])
                head, tail = pattern[:start], pattern[index + 1 :]
                return [out for part in parts for out in _expand_braces(head + part + tail)]
    return [pattern]  # unbalanced: the braces are literal


def _glob_match(pattern: str, relative: str) -> bool:
    # `*` also matches "/", as in Argo CD: `*.yaml` selects files in subdirectories too.
    return any(fnmatch.fnmatchcase(relative, p) for p in _expand_braces(pattern))


def _is_hidden(name: str) -> bool:
    # Dotfiles are tooling, not manifests: .sops.yaml, .github/, .gitlab-ci.yml, .git/.
    return name.startswith(".")


def manifest_files(
    app_dir: Path,
    *,
    recurse: bool,
    include: str | None,
    exclude: str | None,
    suffixes: tuple[str, ...] = MANIFEST_SUFFIXES,
) -> list[Path]:
    """The files of a directory source with one of `suffixes` (YAML/JSON by default),
    in a stable order (that of a sorted walk)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(app_dir):
        dirnames[:] = [d for d in dirnames if not _is_hidden(d)] if recurse else []
        for name in filenames:
            if _is_hidden(name) or not name.endswith(suffixes):
                continue
            path = Path(dirpath, name)
            relative = path.relative_to(app_dir).as_posix()
            if include is not None and not _glob_match(include, relative):
                continue
            if exclude is not None and _glob_match(exclude, relative):
                continue
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(app_dir).parts)


def tree_files(directory: Path) -> Iterator[Path]:
    """Every YAML/JSON file below `directory`, except under .git."""
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            if name.endswith(MANIFEST_SUFFIXES):
                yield Path(dirpath, name)


def inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root)


def relative_name(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path != root else "."


def file_size(root: Path, path: Path, limits: RenderLimits) -> int:
    """The size of a file tether is about to read; refused when it is not a regular file
    inside the repository or larger than the per-file limit."""
    name = relative_name(root, path)
    # A symlink in the repository must not expose files of the machine rendering it.
    if not inside(root, path):
        raise RenderProblem(f"{name} is a symbolic link pointing outside the repository")
    try:
        info = path.stat()
    except OSError as exc:
        raise RenderProblem(f"{name}: cannot read it: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise RenderProblem(f"{name} is not a regular file")
    if info.st_size > limits.max_file_bytes:
        raise RenderProblem(
            f"{name} is {size_text(info.st_size)}, larger than the limit of "
            f"{size_text(limits.max_file_bytes)} per file",
            hint="split it into smaller files",
        )
    return info.st_size


def read_bounded(root: Path, path: Path, limits: RenderLimits) -> bytes:
    """The bytes of a repository file, its size checked before and while reading."""
    file_size(root, path, limits)
    with path.open("rb") as stream:
        data = stream.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:  # it grew since the stat
        raise RenderProblem(
            f"{relative_name(root, path)} is larger than the limit of "
            f"{size_text(limits.max_file_bytes)} per file"
        )
    return data


def load_files(
    root: Path, files: Sequence[Path], budget: LoadBudget
) -> list[tuple[Path, list[Any]]]:
    """Load a directory source's files, their sizes (alone and together) checked first."""
    limits = budget.limits
    total = sum(file_size(root, path, limits) for path in files)
    if total > limits.max_manifest_bytes:
        raise RenderProblem(
            f"the manifests at the app path are {size_text(total)} in all, more than the "
            f"limit of {size_text(limits.max_manifest_bytes)} per render",
            hint="split the application into several",
        )
    return [
        (path, load_manifest(read_bounded(root, path, limits), relative_name(root, path), budget))
        for path in files
    ]


def _is_sops_file(root: Path, path: Path, limits: RenderLimits) -> bool:
    """Whether `path` is a SOPS-encrypted YAML/JSON file (a top-level `sops` with a mac).

    Files too large to read are not scanned: whatever reads them later is bounded too,
    and ciphertext that reaches the output is refused by the final check."""
    if not path.is_file() or not inside(root, path):
        return False
    try:
        data = read_bounded(root, path, limits)
    except RenderProblem:
        return False
    # Cheap pre-check: most files (and every Helm template) are skipped unparsed.
    if b"sops" not in data or b"mac" not in data:
        return False
    try:
        values = load_manifest(data, path.name, LoadBudget(limits))
    except RenderProblem:
        return False  # not valid YAML/JSON (a template, say): not a SOPS file either
    return any(is_sops_document(value) for value in values)


def encrypted_files(
    root: Path, directories: Iterable[Path], files: Iterable[Path], limits: RenderLimits
) -> list[Path]:
    candidates = {p for d in directories for p in tree_files(d)} | set(files)
    return sorted(p for p in candidates if _is_sops_file(root, p, limits))


def _copy_tree(source: Path, target: Path) -> None:
    """Copy the repository (without .git) to a writable private tree.

    Not shutil.copytree: it copies the modes of the read-only cache, and then neither
    plaintext could be written into the copy nor the copy be removed.
    """
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        here = Path(dirpath)
        destination = target / here.relative_to(source)
        destination.mkdir(mode=0o700, exist_ok=True)
        for name in [*filenames, *(d for d in dirnames if (here / d).is_symlink())]:
            path = here / name
            if path.is_symlink():
                os.symlink(os.readlink(path), destination / name)
            elif path.is_file():  # no FIFOs or devices: a copy must never block
                shutil.copyfile(path, destination / name)
        # os.walk does not descend into symlinked directories; they were linked above.
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]


def write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def make_private_tree(root: Path, tree: Path, plaintexts: dict[Path, bytes]) -> None:
    _copy_tree(root, tree)
    for path, plaintext in plaintexts.items():
        write_private(tree / path.relative_to(root), plaintext)


async def to_completion(func: Callable[[], _T]) -> _T:
    """Run blocking `func` in a thread and, even when cancelled, wait for it to end: the
    workspace must not be removed while a thread still writes plaintext into it."""
    task = asyncio.ensure_future(asyncio.to_thread(func))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise
