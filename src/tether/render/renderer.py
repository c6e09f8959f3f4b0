"""Render an application's source tree into Kubernetes objects (plain dicts).

Sources, as Argo CD and Flux have them: a directory of YAML/JSON manifests, a Kustomize
overlay (`kustomize build`), a local Helm chart (`helm template`), and SOPS-encrypted
files in any of them (`sops --decrypt` with an age key).

Rules every path follows:
- The repository tree is shared by concurrent renders and never written to. When a file
  must change (plaintext for ciphertext, `kustomize edit` options) the tree is first
  copied into a private temporary directory, removed when the render ends.
- Tools run with a clean environment (a private empty HOME: no user config, keys or
  caches leak in) and a deadline shared by the whole render. helm fetches nothing:
  chart dependencies must be vendored in `charts/`.
- Secrets travel only through the environment of `sops`; errors name files, never values.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
import yaml

from tether.errors import InputError
from tether.model.keys import ResourceKey
from tether.process import ProcessResult, ProcessTimeout, run_process

RenderKind = Literal["directory", "kustomize", "helm"]
_T = TypeVar("_T")

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

# Kustomization fields whose entries may name another kustomization directory.
_KUSTOMIZE_DIR_FIELDS = ("resources", "bases", "components", "generators", "transformers")
# Enough parallel `sops` processes to hide their start-up time, few enough to stay polite.
_SOPS_CONCURRENCY = 4
_HELM_SOURCE = re.compile(r"^# Source: (.+?)\s*$", re.MULTILINE)
_DOCUMENT_START = re.compile(r"^---[ \t]*$", re.MULTILINE)
# sops exit codes (github.com/getsops/sops cmd/sops/codes).
_SOPS_COULD_NOT_RETRIEVE_KEY = 128
_SOPS_MAC_MISMATCH = 51


@dataclass(frozen=True)
class RenderTools:
    """Where the helm, kustomize and sops binaries are."""

    helm: Path
    kustomize: Path
    sops: Path

    @classmethod
    def from_dir(cls, path: Path | str) -> RenderTools:
        base = Path(path)
        return cls(helm=base / "helm", kustomize=base / "kustomize", sops=base / "sops")

    @classmethod
    def from_path(cls) -> RenderTools:
        # A tool missing from PATH only matters to sources that need it; run_process then
        # reports it by name, so a directory-only user needs no helm.
        def find(name: str) -> Path:
            return Path(shutil.which(name) or name)

        return cls(helm=find("helm"), kustomize=find("kustomize"), sops=find("sops"))


@dataclass(frozen=True, kw_only=True)
class RenderRequest:
    """What to render. `kind=None` detects it from the files at `path`, as Argo CD does."""

    root: Path  # the extracted repository tree
    app_name: str
    path: str = "."
    kind: RenderKind | None = None
    # directory
    recurse: bool = False
    include: str | None = None  # glob on the path relative to `path`; `{a,b}` allowed
    exclude: str | None = None
    # helm
    helm_release_name: str | None = None  # default: app_name
    helm_value_files: tuple[str, ...] = ()  # relative to the chart directory
    helm_values: str | None = None  # inline YAML, layered after the value files
    helm_parameters: tuple[tuple[str, str], ...] = ()  # --set name=value, layered last
    helm_kube_version: str | None = None  # .Capabilities.KubeVersion (default: helm's)
    helm_api_versions: tuple[str, ...] = ()  # extra .Capabilities.APIVersions
    # kustomize: applied with `kustomize edit` on a copy, like Argo CD's kustomize options
    kustomize_name_prefix: str | None = None
    kustomize_name_suffix: str | None = None
    kustomize_images: tuple[str, ...] = ()  # "nginx=nginx:1.27", "nginx:1.27"
    kustomize_common_labels: tuple[tuple[str, str], ...] = ()
    kustomize_common_annotations: tuple[tuple[str, str], ...] = ()
    namespace: str | None = None  # destination namespace: helm's --namespace only
    sops_age_key: str | None = field(default=None, repr=False)  # age identity (secret)
    timeout: float = 60  # seconds for the whole render

    @property
    def has_kustomize_options(self) -> bool:
        return bool(
            self.kustomize_name_prefix is not None
            or self.kustomize_name_suffix is not None
            or self.kustomize_images
            or self.kustomize_common_labels
            or self.kustomize_common_annotations
        )


class _Problem(Exception):
    """A render failure, reported by `render` as one InputError prefixed with the app."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# ----------------------------------------------------------------------------- entry


async def render(request: RenderRequest, tools: RenderTools) -> list[dict[str, Any]]:
    """Render `request` into Kubernetes objects, in source order (deterministic).

    Raises InputError for anything wrong with the source: a missing path, malformed or
    non-object documents, duplicate objects, tool failures and timeouts, SOPS problems.
    """
    try:
        return await _render(request, tools)
    except _Problem as problem:
        raise InputError(f"render {request.app_name}: {problem.message}", problem.hint) from None


async def _render(request: RenderRequest, tools: RenderTools) -> list[dict[str, Any]]:
    root = request.root.resolve()
    app_dir = _app_dir(root, request.path)
    kind = request.kind or detect_render_kind(app_dir)
    # Created inline, not in a thread: a cancellation could not leave it behind unremoved.
    workspace = Path(tempfile.mkdtemp(prefix="tether-render-"))  # mode 0700
    try:
        job = _Job(request, tools, root, app_dir, workspace)
        if kind == "directory":
            documents = await job.directory()
        elif kind == "kustomize":
            documents = await job.kustomize()
        else:
            documents = await job.helm()
    finally:
        await asyncio.to_thread(shutil.rmtree, workspace, True)
    objects = _objects(documents)
    _check_unique(objects)
    _check_decrypted(objects, has_key=request.sops_age_key is not None)
    return [obj.value for obj in objects]


def detect_render_kind(app_dir: Path) -> RenderKind:
    """kustomization file → kustomize, Chart.yaml → helm, else a plain directory."""
    if any((app_dir / name).is_file() for name in KUSTOMIZATION_FILES):
        return "kustomize"
    if (app_dir / CHART_FILE).is_file():
        return "helm"
    return "directory"


def _app_dir(root: Path, path: str) -> Path:
    # Paths are relative to the repository root; a leading "/" means the same thing.
    relative = path.lstrip("/") or "."
    app_dir = (root / relative).resolve()
    if not app_dir.is_relative_to(root):
        raise _Problem(f"path {path} is outside the repository")
    if not app_dir.exists():
        raise _Problem(f"path {path} not found in the repository")
    if not app_dir.is_dir():
        raise _Problem(f"path {path} is not a directory")
    return app_dir


# ---------------------------------------------------------------------- documents


@dataclass(frozen=True)
class _Origin:
    """Where a document came from, for error messages: a file (or tool output) and a
    1-based document number, plus item numbers inside `kind: List` documents."""

    source: str
    document: int
    items: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return " ".join([f"document {self.document}", *(f"item {i}" for i in self.items)])

    def item(self, number: int) -> _Origin:
        return _Origin(self.source, self.document, (*self.items, number))


@dataclass(frozen=True)
class _Document:
    origin: _Origin
    value: Any


@dataclass(frozen=True)
class _Object:
    origin: _Origin
    value: dict[str, Any]


def _key_string(key: Hashable) -> str:
    # As sigs.k8s.io/yaml turns YAML into JSON: every map key becomes a string.
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


class _ManifestLoader(yaml.CSafeLoader):
    """YAML 1.1 read the way kubectl reads it (go-yaml v2 into interface{}).

    PyYAML's safe loader differs in ways that would change objects: it turns timestamps
    into datetimes and `10:30` into the sexagesimal 630, rejects `=` as a value, and
    keeps non-string keys. kubectl keeps the first three as strings and stringifies keys.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        return {_key_string(key): value for key, value in mapping.items()}


def _as_string(loader: _ManifestLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


def _int_unless_sexagesimal(loader: _ManifestLoader, node: yaml.ScalarNode) -> int | str:
    if ":" in str(node.value):
        return loader.construct_scalar(node)
    return loader.construct_yaml_int(node)


def _float_unless_sexagesimal(loader: _ManifestLoader, node: yaml.ScalarNode) -> float | str:
    if ":" in str(node.value):
        return loader.construct_scalar(node)
    return loader.construct_yaml_float(node)


def _binary_as_base64(loader: _ManifestLoader, node: yaml.ScalarNode) -> str:
    # `!!binary` is base64 already, which is what a Secret's `data` wants on the wire.
    return "".join(loader.construct_scalar(node).split())


_ManifestLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_string)
_ManifestLoader.add_constructor("tag:yaml.org,2002:value", _as_string)
_ManifestLoader.add_constructor("tag:yaml.org,2002:int", _int_unless_sexagesimal)
_ManifestLoader.add_constructor("tag:yaml.org,2002:float", _float_unless_sexagesimal)
_ManifestLoader.add_constructor("tag:yaml.org,2002:binary", _binary_as_base64)


def _load_yaml(data: bytes | str, source: str) -> list[Any]:
    """Every document of a YAML stream (empty ones as None)."""
    try:
        return list(yaml.load_all(data, Loader=_ManifestLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # The problem text describes the syntax only: safe for decrypted files too.
        raise _Problem(f"{source}: invalid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise _Problem(f"{source}: invalid YAML: {type(exc).__name__}") from None


def _load_json(data: bytes, source: str) -> list[Any]:
    try:
        return [orjson.loads(data)]
    except orjson.JSONDecodeError as exc:
        raise _Problem(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def _load_manifest(data: bytes, source: str) -> list[Any]:
    if source.endswith(".json"):
        return _load_json(data, source)
    return _load_yaml(data, source)


def _documents(values: Sequence[Any], source: str) -> list[_Document]:
    return [_Document(_Origin(source, number), value) for number, value in enumerate(values, 1)]


def _helm_documents(output: str) -> list[_Document]:
    """Documents of `helm template` output, each named by its `# Source:` template."""
    documents: list[_Document] = []
    counts: dict[str, int] = {}
    for chunk in _DOCUMENT_START.split(output):
        match = _HELM_SOURCE.search(chunk)
        source = match.group(1) if match else "helm template output"
        for value in _load_yaml(chunk, source):
            counts[source] = counts.get(source, 0) + 1
            documents.append(_Document(_Origin(source, counts[source]), value))
    return documents


def _is_list(value: dict[str, Any]) -> bool:
    # kubectl's rule: any kind ending in "List" that carries `items` is a list of objects.
    kind = value.get("kind")
    items = value.get("items")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(items, list | None)


def _not_an_object(value: Any) -> str | None:
    """Why `value` is not a Kubernetes object, or None when it is one."""
    if not isinstance(value, dict):
        return f"expected a mapping, got {_type_name(value)}"
    for name in ("apiVersion", "kind"):
        if not isinstance(value.get(name), str) or not value[name]:
            return f"{name} is missing"
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        return "metadata is missing"
    if not isinstance(metadata.get("name"), str) or not metadata["name"]:
        return "metadata.name is missing"
    return None


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _flatten(value: Any, origin: _Origin) -> Iterator[_Object]:
    if isinstance(value, dict) and _is_list(value):
        for number, item in enumerate(value.get("items") or [], 1):
            yield from _flatten(item, origin.item(number))
        return
    reason = _not_an_object(value)
    if reason is not None:
        raise _Problem(
            f"{origin.source}: {origin.label} is not a Kubernetes object: {reason}",
            hint="every YAML/JSON file at the app path must hold Kubernetes objects "
            "(use spec.source.directory.exclude for other files)",
        )
    yield _Object(origin, value)


def _objects(documents: Iterable[_Document]) -> list[_Object]:
    """Validated objects, `List` documents flattened, empty documents skipped."""
    objects: list[_Object] = []
    for document in documents:
        if document.value is not None:
            objects.extend(_flatten(document.value, document.origin))
    return objects


def _check_unique(objects: Sequence[_Object]) -> None:
    seen: dict[ResourceKey, _Origin] = {}
    for obj in objects:
        key = ResourceKey.of(obj.value)
        first = seen.get(key)
        if first is not None:
            raise _Problem(
                f"duplicate object {key}: in {first.source} ({first.label}) "
                f"and {obj.origin.source} ({obj.origin.label})"
            )
        seen[key] = obj.origin


def _is_sops_document(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    metadata = value.get("sops")
    return isinstance(metadata, dict) and "mac" in metadata


def _check_decrypted(objects: Sequence[_Object], *, has_key: bool) -> None:
    # A safety net behind the file scan: ciphertext must never reach the cluster.
    for obj in objects:
        if _is_sops_document(obj.value):
            why = (
                "its file is outside the directories tether decrypts (the app path and "
                "the kustomizations it references)"
                if has_key
                else "spec.source.decryption is not set"
            )
            raise _Problem(
                f"{ResourceKey.of(obj.value)} from {obj.origin.source} is SOPS-encrypted: {why}"
            )


# ----------------------------------------------------------------------------- files


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


def _manifest_files(
    app_dir: Path, *, recurse: bool, include: str | None, exclude: str | None
) -> list[Path]:
    """The YAML/JSON files of a directory source, in a stable order (that of a sorted walk)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(app_dir):
        dirnames[:] = [d for d in dirnames if not _is_hidden(d)] if recurse else []
        for name in filenames:
            if _is_hidden(name) or not name.endswith(MANIFEST_SUFFIXES):
                continue
            path = Path(dirpath, name)
            relative = path.relative_to(app_dir).as_posix()
            if include is not None and not _glob_match(include, relative):
                continue
            if exclude is not None and _glob_match(exclude, relative):
                continue
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(app_dir).parts)


def _tree_files(directory: Path) -> Iterator[Path]:
    """Every YAML/JSON file below `directory`, except under .git."""
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            if name.endswith(MANIFEST_SUFFIXES):
                yield Path(dirpath, name)


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root)


def _read_inside(root: Path, path: Path) -> bytes:
    # A symlink in the repository must not expose files of the machine rendering it.
    if not _inside(root, path):
        raise _Problem(
            f"{path.relative_to(root).as_posix()} is a symbolic link pointing outside "
            "the repository"
        )
    return path.read_bytes()


def _load_files(root: Path, files: Sequence[Path]) -> list[tuple[Path, list[Any]]]:
    return [
        (p, _load_manifest(_read_inside(root, p), p.relative_to(root).as_posix())) for p in files
    ]


def _is_sops_file(root: Path, path: Path) -> bool:
    """Whether `path` is a SOPS-encrypted YAML/JSON file (a top-level `sops` with a mac)."""
    if not _inside(root, path):
        return False
    data = path.read_bytes()
    # Cheap pre-check: most files (and every Helm template) are skipped unparsed.
    if b"sops" not in data or b"mac" not in data:
        return False
    try:
        values = _load_manifest(data, path.name)
    except _Problem:
        return False  # not valid YAML/JSON (a template, say): not a SOPS file either
    return any(_is_sops_document(value) for value in values)


def _encrypted_files(root: Path, directories: Iterable[Path], files: Iterable[Path]) -> list[Path]:
    candidates = {p for d in directories for p in _tree_files(d)} | set(files)
    return sorted(p for p in candidates if p.is_file() and _is_sops_file(root, p))


def _kustomization_references(directory: Path) -> list[str]:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            try:
                values = _load_yaml(path.read_bytes(), name)
            except _Problem:
                return []  # kustomize itself will report it, better than we could
            spec = values[0] if values else None
            if not isinstance(spec, dict):
                return []
            return [
                entry
                for field_name in _KUSTOMIZE_DIR_FIELDS
                if isinstance(spec.get(field_name), list)
                for entry in spec[field_name]
                if isinstance(entry, str)
            ]
    return []


def _kustomization_dirs(root: Path, app_dir: Path) -> list[Path]:
    """The app's kustomization directory and every local one it references, transitively:
    under kustomize's default load restrictor these hold every file a build can read."""
    seen: set[Path] = set()
    pending = [app_dir]
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        for entry in _kustomization_references(directory):
            target = (directory / entry).resolve()
            # Files and remote URLs are no directories here; they need no walk.
            if target.is_dir() and target.is_relative_to(root):
                pending.append(target)
    return sorted(seen)


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
            else:
                shutil.copyfile(path, destination / name)
        # os.walk does not descend into symlinked directories; they were linked above.
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _make_private_tree(root: Path, tree: Path, plaintexts: dict[Path, bytes]) -> None:
    _copy_tree(root, tree)
    for path, plaintext in plaintexts.items():
        _write_private(tree / path.relative_to(root), plaintext)


async def _to_completion(func: Callable[[], _T]) -> _T:
    """Run blocking `func` in a thread and, even when cancelled, wait for it to end: the
    workspace must not be removed while a thread still writes plaintext into it."""
    task = asyncio.ensure_future(asyncio.to_thread(func))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


# ----------------------------------------------------------------------------- tools


def _error_line(result: ProcessResult) -> str:
    """The `Error:` line helm and kustomize print (helm adds a `--debug` hint after it)."""
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    errors = [ln.strip() for ln in lines if ln.startswith("Error:")]
    if errors:
        return errors[-1].removeprefix("Error:").strip()[:600]
    return result.stderr_line()


def _sops_reason(result: ProcessResult) -> str:
    """Why sops failed, in our words: its own report is a multi-line key-group table."""
    stderr = result.stderr.decode("utf-8", "replace")
    if result.returncode == _SOPS_COULD_NOT_RETRIEVE_KEY:
        if "failed to parse 'SOPS_AGE_KEY'" in stderr:
            return "the configured age key is not a valid age identity"
        return "the configured age key is not one of its recipients"
    if result.returncode == _SOPS_MAC_MISMATCH:
        return "MAC mismatch: the file was changed after it was encrypted"
    # sops only reaches other errors before or without plaintext (they describe the file
    # format), so its first line is safe and useful.
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return (lines[0] if lines else f"exit code {result.returncode}")[:300]


class _Job:
    """One render: the request, a deadline and a private workspace directory.

    Workspace layout: `home/` (HOME of every tool), `tree/` (a copy of the repository,
    made only when files must change), `values.yaml` (inline Helm values).
    """

    def __init__(
        self, request: RenderRequest, tools: RenderTools, root: Path, app_dir: Path, work: Path
    ) -> None:
        self.request = request
        self.tools = tools
        self.root = root
        self.app_dir = app_dir
        self.workspace = work
        self.home = work / "home"
        self.home.mkdir(mode=0o700)
        self.deadline = asyncio.get_running_loop().time() + request.timeout

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if path != self.root else "."

    # ---- running tools

    async def run(
        self,
        what: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ProcessResult:
        """Run a tool within the render's deadline, with nothing of our environment but
        PATH: no kubeconfig, cloud credentials, SOPS keys or helm repositories leak in."""
        remaining = self.deadline - asyncio.get_running_loop().time()
        timeout_error = _Problem(
            f"{what} did not finish within {self.request.timeout:g}s",
            hint="a render must finish within its timeout; is the source unusually large?",
        )
        if remaining <= 0:
            raise timeout_error
        clean = {"HOME": str(self.home), "PATH": os.environ.get("PATH", os.defpath)}
        try:
            return await run_process(
                argv,
                timeout=remaining,
                env={**clean, **(env or {})},
                cwd=cwd or self.home,
                inherit_env=False,
            )
        except ProcessTimeout:
            raise timeout_error from None
        except InputError as exc:  # the program is missing
            raise _Problem(exc.message, exc.hint) from None

    def repo_paths(self, message: str) -> str:
        """Tool messages name absolute paths of the cache or of the private copy: show
        them relative to the repository, as the user knows them."""
        for prefix in (self.workspace / "tree", self.root):
            message = message.replace(f"{prefix}/", "")
        return message

    # ---- SOPS

    def require_key(self, encrypted: Sequence[Path]) -> str:
        if encrypted and self.request.sops_age_key is None:
            raise _Problem(
                f"{self.relative(encrypted[0])} is SOPS-encrypted but "
                "spec.source.decryption is not set",
                hint="set spec.source.decryption with a secretRef holding the age key",
            )
        return self.request.sops_age_key or ""

    async def decrypt(self, path: Path, key: str) -> bytes:
        """Plaintext of one SOPS file, kept in memory; the key goes by environment only."""
        relative = self.relative(path)
        file_format = "json" if path.suffix == ".json" else "yaml"
        argv = [str(self.tools.sops), "--decrypt", "--input-type", file_format]
        argv += ["--output-type", file_format, str(path)]
        result = await self.run(f"sops --decrypt {relative}", argv, env={"SOPS_AGE_KEY": key})
        if not result.ok:
            raise _Problem(f"{relative}: cannot decrypt it: {_sops_reason(result)}")
        return result.stdout

    async def decrypt_all(self, paths: Sequence[Path]) -> dict[Path, bytes]:
        key = self.require_key(paths)
        limit = asyncio.Semaphore(_SOPS_CONCURRENCY)

        async def one(path: Path) -> bytes:
            async with limit:
                return await self.decrypt(path, key)

        # Every task runs to its end (none is orphaned), and the first failing file in
        # sorted order is the one reported, whatever the timing.
        results = await asyncio.gather(*(one(p) for p in paths), return_exceptions=True)
        plaintexts: dict[Path, bytes] = {}
        for path, result in zip(paths, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            plaintexts[path] = result
        return plaintexts

    async def private_tree(self, encrypted: Sequence[Path]) -> Path:
        """A writable copy of the repository with `encrypted` replaced by plaintext."""
        plaintexts = await self.decrypt_all(encrypted)
        tree = self.workspace / "tree"
        await _to_completion(functools.partial(_make_private_tree, self.root, tree, plaintexts))
        return tree

    # ---- directory

    async def directory(self) -> list[_Document]:
        request = self.request
        files = await asyncio.to_thread(
            _manifest_files,
            self.app_dir,
            recurse=request.recurse,
            include=request.include,
            exclude=request.exclude,
        )
        parsed = await asyncio.to_thread(_load_files, self.root, files)
        encrypted = [p for p, values in parsed if any(map(_is_sops_document, values))]
        plaintexts = await self.decrypt_all(encrypted)
        documents: list[_Document] = []
        for path, values in parsed:
            source = self.relative(path)
            if path in plaintexts:
                values = _load_manifest(plaintexts[path], source)  # noqa: PLW2901
            documents.extend(_documents(values, source))
        return documents

    # ---- kustomize

    async def kustomize(self) -> list[_Document]:
        directories = await asyncio.to_thread(_kustomization_dirs, self.root, self.app_dir)
        encrypted = await asyncio.to_thread(_encrypted_files, self.root, directories, ())
        target = self.app_dir
        if encrypted or self.request.has_kustomize_options:
            tree = await self.private_tree(encrypted)
            target = tree / self.app_dir.relative_to(self.root)
            await self.kustomize_edit(target)
        argv = [str(self.tools.kustomize), "build", str(target)]
        result = await self.run(f"kustomize build {self.request.path}", argv)
        if not result.ok:
            raise _Problem(
                f"kustomize build {self.request.path} failed: "
                + self.repo_paths(_error_line(result))
            )
        values = await asyncio.to_thread(_load_yaml, result.stdout, "kustomize build output")
        return _documents(values, "kustomize build output")

    def kustomize_edits(self) -> list[list[str]]:
        """`kustomize edit` commands for the request's options (`--` ends the flags, so a
        value starting with "-" stays a value)."""
        request = self.request
        edits: list[list[str]] = []
        if request.kustomize_name_prefix is not None:
            edits.append(["set", "nameprefix", "--", request.kustomize_name_prefix])
        if request.kustomize_name_suffix is not None:
            edits.append(["set", "namesuffix", "--", request.kustomize_name_suffix])
        if request.kustomize_images:
            edits.append(["set", "image", "--", *request.kustomize_images])
        for what, pairs in (
            ("label", request.kustomize_common_labels),
            ("annotation", request.kustomize_common_annotations),
        ):
            if pairs:
                edits.append(["add", what, "--force", "--", *(f"{k}:{v}" for k, v in pairs)])
        return edits

    async def kustomize_edit(self, target: Path) -> None:
        for edit in self.kustomize_edits():
            what = f"kustomize edit {edit[0]} {edit[1]}"
            argv = [str(self.tools.kustomize), "edit", *edit]
            result = await self.run(what, argv, cwd=target)
            if not result.ok:
                raise _Problem(f"{what} failed: {self.repo_paths(_error_line(result))}")

    # ---- helm

    def value_file(self, chart_dir: Path, name: str) -> Path:
        if "://" in name:
            raise _Problem(
                f"helm value file {name}: remote value files are not supported",
                hint="commit the values file to the repository",
            )
        path = (chart_dir / name).resolve()
        # helm would read any file of the rendering machine: keep it to the repository.
        if not path.is_relative_to(self.root):
            raise _Problem(f"helm value file {name} is outside the repository")
        if not path.is_file():
            raise _Problem(f"helm value file {name} not found in the repository")
        return path

    async def helm(self) -> list[_Document]:
        request = self.request
        value_files = [self.value_file(self.app_dir, name) for name in request.helm_value_files]
        encrypted = await asyncio.to_thread(
            _encrypted_files, self.root, [self.app_dir], value_files
        )
        tree = self.root
        if encrypted:
            tree = await self.private_tree(encrypted)
        chart_dir = tree / self.app_dir.relative_to(self.root)
        files = [tree / p.relative_to(self.root) for p in value_files]
        if request.helm_values is not None:
            inline = self.workspace / "values.yaml"
            data = request.helm_values.encode()
            await _to_completion(functools.partial(_write_private, inline, data))
            files.append(inline)
        argv = [str(self.tools.helm), "template", *self.helm_flags(files)]
        # `--` ends the flags: a release name can never be read as one.
        argv += ["--", request.helm_release_name or request.app_name, str(chart_dir)]
        result = await self.run(f"helm template {request.path}", argv, env=self.helm_env())
        if not result.ok:
            message = self.repo_paths(_error_line(result))
            hint = None
            if "missing in charts/ directory" in message:
                hint = "vendor the chart's dependencies (`helm dependency build`, commit charts/)"
            raise _Problem(f"helm template {request.path} failed: {message}", hint)
        output = result.stdout.decode("utf-8", "replace")
        return await asyncio.to_thread(_helm_documents, output)

    def helm_flags(self, value_files: Sequence[Path]) -> list[str]:
        """Flags in helm's precedence order: value files, then inline values (the last
        file), then --set parameters."""
        request = self.request
        flags = ["--include-crds"]
        if request.namespace is not None:
            flags.append(f"--namespace={request.namespace}")
        if request.helm_kube_version is not None:
            flags.append(f"--kube-version={request.helm_kube_version}")
        flags += [f"--api-versions={version}" for version in request.helm_api_versions]
        flags += [f"--values={path}" for path in value_files]
        flags += [f"--set={name}={value}" for name, value in request.helm_parameters]
        return flags

    def helm_env(self) -> dict[str, str]:
        # Isolated, empty helm homes: no repositories, registries, plugins or caches of
        # the host are used, and nothing is left behind.
        helm_home = self.home / "helm"
        return {
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_DATA_HOME": str(helm_home / "data"),
        }
