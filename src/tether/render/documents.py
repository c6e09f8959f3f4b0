"""From loaded documents to validated Kubernetes objects, each with where it came from."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tether.core.plan import is_hook, object_key
from tether.model.keys import ResourceKey
from tether.render.loading import LoadBudget, load_yaml
from tether.render.request import RenderProblem

_HELM_SOURCE = re.compile(r"^# Source: (.+?)\s*$", re.MULTILINE)
_DOCUMENT_START = re.compile(r"^---[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Origin:
    """Where a document came from, for error messages: a file (or tool output) and a
    1-based document number, plus item numbers inside `kind: List` documents."""

    source: str
    document: int
    items: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return " ".join([f"document {self.document}", *(f"item {i}" for i in self.items)])

    def item(self, number: int) -> Origin:
        return Origin(self.source, self.document, (*self.items, number))


@dataclass(frozen=True)
class Document:
    origin: Origin
    value: Any


@dataclass(frozen=True)
class RenderedObject:
    origin: Origin
    value: dict[str, Any]


def documents(values: Sequence[Any], source: str) -> list[Document]:
    return [Document(Origin(source, number), value) for number, value in enumerate(values, 1)]


def helm_documents(output: str, budget: LoadBudget) -> list[Document]:
    """Documents of `helm template` output, each named by its `# Source:` template."""
    found: list[Document] = []
    counts: dict[str, int] = {}
    for chunk in _DOCUMENT_START.split(output):
        match = _HELM_SOURCE.search(chunk)
        source = match.group(1) if match else "helm template output"
        for value in load_yaml(chunk, source, budget):
            counts[source] = counts.get(source, 0) + 1
            found.append(Document(Origin(source, counts[source]), value))
    return found


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
    given = metadata.get("name")
    if given is not None and not isinstance(given, str):
        return f"metadata.name must be a string, got {_type_name(given)}"
    if not given and not _names_itself(metadata):
        return "metadata.name is missing"
    return None


def _names_itself(metadata: dict[str, Any]) -> bool:
    """A `generateName` stands in for the name (the API server, or a sync, picks one)."""
    prefix = metadata.get("generateName")
    return isinstance(prefix, str) and bool(prefix)


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


def _flatten(value: Any, origin: Origin) -> Iterator[RenderedObject]:
    if isinstance(value, dict) and _is_list(value):
        for number, item in enumerate(value.get("items") or [], 1):
            yield from _flatten(item, origin.item(number))
        return
    reason = _not_an_object(value)
    if reason is not None:
        raise RenderProblem(
            f"{origin.source}: {origin.label} is not a Kubernetes object: {reason}",
            hint="every YAML/JSON file at the app path must hold Kubernetes objects "
            "(use spec.source.directory.exclude for other files)",
        )
    if not value["metadata"].get("name") and not is_hook(value):
        # Each sync would create yet another copy of it: only a hook runs anew each time.
        raise RenderProblem(
            f"{origin.source}: {origin.label}: metadata.generateName is only allowed for"
            " hooks; set metadata.name",
            hint="or make it a hook (argocd.argoproj.io/hook, tether.dev/hook or helm.sh/hook)",
        )
    yield RenderedObject(origin, value)


def rendered_objects(found: Iterable[Document], max_objects: int) -> list[RenderedObject]:
    """Validated objects, `List` documents flattened, empty documents skipped."""
    objects: list[RenderedObject] = []
    for document in found:
        if document.value is None:
            continue
        for obj in _flatten(document.value, document.origin):
            objects.append(obj)
            if len(objects) > max_objects:
                raise RenderProblem(
                    f"more than {max_objects:,} objects to render (the limit of one "
                    f"render), the last in {obj.origin.source}",
                    hint="split the application into several",
                )
    return objects


def check_unique(objects: Sequence[RenderedObject]) -> None:
    seen: dict[ResourceKey, Origin] = {}
    for obj in objects:
        key = object_key(obj.value)
        first = seen.get(key)
        if first is not None:
            raise RenderProblem(
                f"duplicate object {key}: in {first.source} ({first.label}) "
                f"and {obj.origin.source} ({obj.origin.label})"
            )
        seen[key] = obj.origin


def is_sops_document(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    metadata = value.get("sops")
    return isinstance(metadata, dict) and "mac" in metadata


def check_decrypted(objects: Sequence[RenderedObject], *, has_key: bool) -> None:
    # A safety net behind the file scan: ciphertext must never reach the cluster.
    for obj in objects:
        if is_sops_document(obj.value):
            why = (
                "its file is outside the directories tether decrypts (the app path and "
                "the kustomizations it references)"
                if has_key
                else "spec.source.decryption is not set"
            )
            raise RenderProblem(
                f"{ResourceKey.of(obj.value)} from {obj.origin.source} is SOPS-encrypted: {why}"
            )
