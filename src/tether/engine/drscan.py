"""What `dr check` reads of a repository: the files that hold cluster objects.

A GitOps repository holds more than manifests. Helm chart templates are Go templates, not
YAML; `kustomization.yaml`, the patches it names and Helm values files describe objects
without being ones. Those are set aside (charts are rendered by their applications, so
only their `crds/` are plain objects); a file that is neither and does not parse is a
finding of its own, and the scan goes on.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tether.core.drcheck import Finding, SourcedObject
from tether.errors import InputError
from tether.render import load_untrusted_yaml

KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
# apiVersion groups of files that configure kustomize rather than describe cluster objects.
KUSTOMIZE_GROUPS = ("kustomize.config.k8s.io/", "builtin", "config.kubernetes.io/")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class RepositoryScan:
    objects: list[SourcedObject] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)  # chart directories, rendered by apps
    skipped: list[str] = field(default_factory=list)  # kustomize/values files set aside

    def notes(self) -> list[str]:
        out = []
        if self.charts:
            out.append(
                f"{len(self.charts)} Helm chart(s) not linted as files (their templates are"
                f" rendered by the applications that use them; only crds/ is read):"
                f" {', '.join(self.charts)}"
            )
        if self.skipped:
            out.append(
                f"{len(self.skipped)} kustomize or values file(s) are not cluster objects:"
                f" {', '.join(self.skipped[:5])}{' …' if len(self.skipped) > 5 else ''}"
            )
        return out


def scan_repository(root: Path) -> RepositoryScan:
    if not root.is_dir():
        raise InputError(f"dr check {root}: not a directory")
    top = root.resolve()
    files = [
        file
        for file in sorted(root.rglob("*"))
        if not any(part.startswith(".") for part in file.relative_to(root).parts)
        and file.is_file()
        and file.resolve().is_relative_to(top)  # a symlink out of the tree is not read
    ]
    rels = [PurePosixPath(file.relative_to(root).as_posix()) for file in files]
    charts = sorted({rel.parent for rel in rels if rel.name == "Chart.yaml"}, key=str)
    scan = RepositoryScan(charts=[str(chart) or "." for chart in charts])
    loaded: dict[PurePosixPath, list[Any]] = {}
    for file, rel in zip(files, rels, strict=True):
        if rel.suffix not in MANIFEST_SUFFIXES and rel.name not in KUSTOMIZATION_FILES:
            continue
        # The innermost chart: a subchart's crds/ are installed with it.
        chart = max((c for c in charts if rel.is_relative_to(c)), key=_depth, default=None)
        if chart is not None and rel.relative_to(chart).parts[0] != "crds":
            continue
        try:
            loaded[rel] = load_untrusted_yaml(file.read_bytes(), str(rel))
        except InputError as exc:
            scan.findings.append(Finding(str(rel), "malformed-yaml", exc.message))
    not_objects = _kustomize_inputs(loaded)
    for rel, docs in loaded.items():
        if rel in not_objects or rel.name in KUSTOMIZATION_FILES:
            scan.skipped.append(str(rel))
            continue
        for doc in docs:
            scan.objects += [(str(rel), obj) for obj in _cluster_objects(doc)]
    return scan


def _depth(path: PurePosixPath) -> int:
    return len(path.parts)


def _cluster_objects(doc: Any) -> Iterable[Mapping[str, Any]]:
    if not isinstance(doc, Mapping):
        return []
    if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        return [item for item in doc["items"] if _is_object(item)]
    return [doc] if _is_object(doc) else []


def _is_object(doc: Any) -> bool:
    """A cluster object has a string apiVersion and kind (a values file has neither) and
    is not a kustomize configuration (Component, transformer configs)."""
    if not isinstance(doc, Mapping):
        return False
    api, kind = doc.get("apiVersion"), doc.get("kind")
    return (
        isinstance(api, str)
        and isinstance(kind, str)
        and bool(api and kind)
        and not api.startswith(KUSTOMIZE_GROUPS)
    )


def _kustomize_inputs(loaded: Mapping[PurePosixPath, list[Any]]) -> set[PurePosixPath]:
    """Files a kustomization names as patches, replacements, configurations or values:
    inputs of a render, not objects of their own."""
    out: set[PurePosixPath] = set()
    for rel, docs in loaded.items():
        if rel.name not in KUSTOMIZATION_FILES:
            continue
        for doc in docs:
            if isinstance(doc, Mapping):
                out |= {
                    PurePosixPath(posixpath.normpath(rel.parent / name))
                    for name in _named_files(doc)
                }
    return out


def _named_files(kustomization: Mapping[str, Any]) -> Iterable[str]:
    for key in ("patches", "patchesJson6902", "replacements"):
        for entry in _list(kustomization.get(key)):
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                yield entry["path"]
    for entry in _list(kustomization.get("patchesStrategicMerge")):
        if isinstance(entry, str) and "\n" not in entry:  # a path, not an inline patch
            yield entry
    for entry in _list(kustomization.get("configurations")):
        if isinstance(entry, str):
            yield entry
    for chart in _list(kustomization.get("helmCharts")):
        if isinstance(chart, Mapping) and isinstance(chart.get("valuesFile"), str):
            yield chart["valuesFile"]
    openapi = kustomization.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        yield openapi["path"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


__all__ = ["RepositoryScan", "scan_repository"]
