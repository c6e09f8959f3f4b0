"""What a kustomize build may read, checked before it runs.

kustomize follows a directory reference anywhere (each kustomization is a new root),
fetches http(s) files and clones git bases (`github.com/org/repo//path?ref=`,
`git@host:org/repo`, `ssh://`, `https://...git`), and given flags runs exec and
container functions or inflates Helm charts. Before any build, every kustomization it
would reach is read here, transitively, and every path it names is resolved: one that
leaves the repository (absolute, `..` past the root, a symbolic link out of it) or
names a remote location is refused, with the kustomization file, the field and the
entry. Remote resources, bases and components are allowed only when the request says
so (Flux's `--no-remote-bases` is the default). Helm chart inflation and KRM functions
are refused outright (kustomize #6241: a chart's `releaseName: --post-renderer=...`
ran a program).

The field list follows sigs.k8s.io/kustomize/api/types.Kustomization (v5).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.model.urls import scrub_userinfo
from tether.render.files import file_size, read_bounded
from tether.render.limits import RenderLimits
from tether.render.loading import LoadBudget, check_yaml_aliases, load_yaml
from tether.render.request import RenderProblem

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Lists of paths that may name another kustomization directory (or a remote base).
_BASE_FIELDS = ("resources", "bases", "components")
# Lists of plugin configurations: file paths, kustomization directories, or inline YAML.
_PLUGIN_FIELDS = ("generators", "transformers", "validators")
# Lists of plain file paths.
_FILE_LIST_FIELDS = ("crds", "configurations")
_FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
_HELM_KINDS = ("HelmChartInflationGenerator",)
# Remote forms kustomize accepts (sigs.k8s.io/kustomize/api/internal/git/repospec.go),
# widened: any scheme (http, https, ssh, file, oci, git::...), scp-like `user@host:`,
# GitHub shorthands, and the `//` and `?ref=` of a repository path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SCP = re.compile(r"^[^/]*@[^/]*:")


def is_remote(entry: str) -> bool:
    lowered = entry.lower()
    return bool(
        _SCHEME.match(entry)
        or _SCP.match(entry)
        or lowered.startswith(("github.com/", "gh:", "git@"))
        or "//" in entry
        or "?" in entry
        or "_git/" in entry
    )


def _shown(entry: str) -> str:
    # Entries are input: quoted (control characters escaped), cut, credentials masked.
    text = entry if len(entry) <= 200 else entry[:200] + "..."
    return scrub_userinfo(repr(text))


@dataclass(frozen=True)
class _Reference:
    field: str  # e.g. "patches[1].path"
    entry: str
    may_be_dir: bool = False
    may_be_remote: bool = False  # a base field: allowed when the request allows remotes
    plugin: bool = False  # a plugin configuration (file, directory or inline YAML)
    yaml: bool = True  # kustomize parses the file as YAML (generator sources it does not)


@dataclass
class KustomizeCheck:
    """The walk of one build: the directories reached (for the SOPS scan)."""

    root: Path
    limits: RenderLimits
    allow_remote: bool

    def __post_init__(self) -> None:
        self.directories: list[Path] = []
        self.remote = False  # whether a remote base was allowed in

    def name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if path != self.root else "."

    def run(self, app_dir: Path) -> list[Path]:
        """Check every kustomization reached from `app_dir`; the directories reached."""
        seen: set[Path] = set()
        pending: list[tuple[Path, bool]] = [(app_dir, False)]
        while pending:
            directory, plugin_context = pending.pop()
            if directory in seen:
                continue
            seen.add(directory)
            pending.extend(self.check_directory(directory, plugin_context))
        self.directories = sorted(seen)
        return self.directories

    def kustomization_file(self, directory: Path) -> Path | None:
        for name in KUSTOMIZATION_FILES:
            path = directory / name
            if path.is_file() or path.is_symlink():
                return path
        return None

    def check_directory(self, directory: Path, plugin_context: bool) -> list[tuple[Path, bool]]:
        """Check one kustomization; the directories it references, to check next."""
        path = self.kustomization_file(directory)
        if path is None:
            return []  # kustomize reports a directory without a kustomization
        where = self.name(path)
        values = load_yaml(read_bounded(self.root, path, self.limits), where, self._budget())
        spec = values[0] if values else None
        if spec is None:
            return []
        if not isinstance(spec, dict):
            raise RenderProblem(f"{where}: a kustomization must be a mapping")
        refuse_helm(spec, where)
        found: list[tuple[Path, bool]] = []
        for reference in references(spec, where):
            target = self.check_reference(directory, where, reference)
            if target is None:
                continue
            if target.is_dir():
                if reference.may_be_dir or reference.plugin:
                    found.append((target, plugin_context or reference.plugin))
            elif target.is_file() and _is_plugin_config(reference, plugin_context):
                # A plugin configuration, or a resource of a kustomization that produces
                # plugin configurations (a generators/transformers directory).
                label = f"{where}: {reference.field} entry {_shown(reference.entry)}"
                self.check_plugin_file(directory, target, label)
        for field, inline in inline_plugins(spec, where):
            label = f"{where}: {field}"
            for config in load_yaml(inline, f"{where} ({field})", self._budget()):
                self.check_plugin_config(directory, config, label)
        return found

    def _budget(self) -> LoadBudget:
        return LoadBudget(self.limits)

    def check_reference(self, directory: Path, where: str, reference: _Reference) -> Path | None:
        """The resolved local target of a reference, None for an allowed remote one."""
        entry = reference.entry
        label = f"{where}: {reference.field} entry {_shown(entry)}"
        hint = "vendor it into the repository"
        if is_remote(entry):
            if reference.may_be_remote and self.allow_remote:
                self.remote = True
                return None
            if reference.may_be_remote:
                raise RenderProblem(
                    f"{label} is remote; remote bases are not allowed",
                    hint=f"{hint}, or allow remote bases for this application",
                )
            raise RenderProblem(
                f"{label} is remote; only files of the repository are allowed", hint=hint
            )
        if entry.startswith("/"):
            raise RenderProblem(f"{label} is an absolute path; paths must be relative")
        lexical = directory / entry
        target = lexical.resolve()
        if not target.is_relative_to(self.root):
            if _lexically_inside(self.root, lexical):
                raise RenderProblem(f"{label} is a symbolic link pointing outside the repository")
            raise RenderProblem(f"{label} leaves the repository")
        if target.is_file():
            # Read by the build: bounded like the files tether reads itself.
            if reference.yaml:
                data = read_bounded(self.root, target, self.limits)
                check_yaml_aliases(data, self.name(target), self.limits)
            else:
                file_size(self.root, target, self.limits)
        return target

    def check_plugin_file(self, directory: Path, path: Path, label: str) -> None:
        source = self.name(path)
        values = load_yaml(read_bounded(self.root, path, self.limits), source, self._budget())
        for config in values:
            self.check_plugin_config(directory, config, label)

    def check_plugin_config(self, directory: Path, config: Any, label: str) -> None:
        """A generator/transformer/validator configuration: no KRM function, no Helm
        inflation, and its own path fields stay in the repository. (Other non-builtin
        plugins need `--enable-alpha-plugins`, which is never passed: kustomize refuses
        them itself.)"""
        if not isinstance(config, dict):
            return
        metadata = config.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        if isinstance(annotations, dict) and any(a in annotations for a in _FUNCTION_ANNOTATIONS):
            raise RenderProblem(
                f"{label}: KRM functions (exec or container plugins) are not allowed"
            )
        kind = config.get("kind")
        if kind in _HELM_KINDS:
            raise RenderProblem(
                f"{label}: {kind}: Helm chart inflation in kustomize is not supported",
                hint="render the chart as a helm source of its own application",
            )
        where = f"{label} ({kind})" if isinstance(kind, str) else label
        for reference in plugin_references(config):
            self.check_reference(directory, where, reference)


def _is_plugin_config(reference: _Reference, plugin_context: bool) -> bool:
    return reference.plugin or (plugin_context and reference.may_be_dir)


def _lexically_inside(root: Path, path: Path) -> bool:
    """Whether `path` stays in `root` by its `..` alone (so a symlink took it out)."""
    parts: list[str] = []
    for part in path.relative_to(root).parts if path.is_relative_to(root) else ("..",):
        if part == "..":
            if not parts:
                return False
            parts.pop()
        elif part != ".":
            parts.append(part)
    return True


def refuse_helm(spec: dict[str, Any], where: str) -> None:
    for field in ("helmCharts", "helmChartInflationGenerator"):
        if spec.get(field):
            raise RenderProblem(
                f"{where}: {field}: Helm chart inflation in kustomize is not supported",
                hint="render the chart as a helm source of its own application",
            )


def _strings(spec: dict[str, Any], field: str, where: str) -> Iterator[tuple[int, str]]:
    value = spec.get(field)
    if value is None:
        return
    if not isinstance(value, list):
        raise RenderProblem(f"{where}: {field} must be a list")
    for index, entry in enumerate(value):
        if isinstance(entry, str):
            yield index, entry


def _is_inline(entry: str) -> bool:
    # kustomize reads an entry as a file first and as inline YAML otherwise; inline
    # patches and plugin configurations are YAML documents, never a one-line path.
    return "\n" in entry or entry.lstrip().startswith("{")


def inline_plugins(spec: dict[str, Any], where: str) -> Iterator[tuple[str, str]]:
    for field in _PLUGIN_FIELDS:
        for index, entry in _strings(spec, field, where):
            if _is_inline(entry):
                yield f"{field}[{index}] (inline)", entry


def _generator_references(spec: dict[str, Any], field: str, where: str) -> Iterator[_Reference]:
    for index, generator in enumerate(_list_at(spec, field, where)):
        if not isinstance(generator, dict):
            continue
        yield from _generator_args(generator, f"{field}[{index}]")


def _generator_args(args: dict[str, Any], prefix: str | None) -> Iterator[_Reference]:
    """Paths of ConfigMap/Secret generator arguments: `files` (`key=path` or `path`),
    `envs` and the older `env`."""
    lead = f"{prefix}." if prefix else ""
    files = args.get("files")
    for number, item in enumerate(files if isinstance(files, list) else []):
        if isinstance(item, str):
            yield _Reference(f"{lead}files[{number}]", item.split("=", 1)[-1], yaml=False)
    envs = args.get("envs")
    for number, item in enumerate(envs if isinstance(envs, list) else []):
        if isinstance(item, str):
            yield _Reference(f"{lead}envs[{number}]", item, yaml=False)
    if isinstance(args.get("env"), str):
        yield _Reference(f"{lead}env", args["env"], yaml=False)


def _list_at(spec: dict[str, Any], field: str, where: str) -> list[Any]:
    value = spec.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RenderProblem(f"{where}: {field} must be a list")
    return value


def _path_items(spec: dict[str, Any], field: str, where: str) -> Iterator[_Reference]:
    """`path` of each item of a list of mappings (patches, patchesJson6902, replacements)."""
    for index, item in enumerate(_list_at(spec, field, where)):
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            yield _Reference(f"{field}[{index}].path", item["path"])


def references(spec: dict[str, Any], where: str) -> Iterator[_Reference]:
    """Every path a kustomization names, except inline YAML."""
    for field in _BASE_FIELDS:
        for index, entry in _strings(spec, field, where):
            yield _Reference(f"{field}[{index}]", entry, may_be_dir=True, may_be_remote=True)
    for field in _PLUGIN_FIELDS:
        for index, entry in _strings(spec, field, where):
            if not _is_inline(entry):
                yield _Reference(f"{field}[{index}]", entry, plugin=True)
    for field in _FILE_LIST_FIELDS:
        for index, entry in _strings(spec, field, where):
            yield _Reference(f"{field}[{index}]", entry)
    for index, entry in _strings(spec, "patchesStrategicMerge", where):
        if not _is_inline(entry):
            yield _Reference(f"patchesStrategicMerge[{index}]", entry)
    for field in ("patches", "patchesJson6902", "replacements"):
        yield from _path_items(spec, field, where)
    for field in ("configMapGenerator", "secretGenerator"):
        yield from _generator_references(spec, field, where)
    openapi = spec.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield _Reference("openapi.path", openapi["path"])
    helm_globals = spec.get("helmGlobals")
    if isinstance(helm_globals, dict):
        for key in ("chartHome", "configHome"):
            if isinstance(helm_globals.get(key), str):
                yield _Reference(f"helmGlobals.{key}", helm_globals[key])


def plugin_references(config: dict[str, Any]) -> Iterator[_Reference]:
    """Paths in a builtin plugin's configuration: PatchTransformer and
    PatchJson6902Transformer `path`, PatchStrategicMergeTransformer `paths`,
    ConfigMapGenerator/SecretGenerator arguments, ReplacementTransformer `replacements`."""
    if isinstance(config.get("path"), str):
        yield _Reference("path", config["path"])
    paths = config.get("paths")
    for index, entry in enumerate(paths if isinstance(paths, list) else []):
        if isinstance(entry, str) and not _is_inline(entry):
            yield _Reference(f"paths[{index}]", entry)
    yield from _generator_args(config, None)
    replacements = config.get("replacements")
    for index, item in enumerate(replacements if isinstance(replacements, list) else []):
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            yield _Reference(f"replacements[{index}].path", item["path"])
