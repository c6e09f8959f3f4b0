"""Objects and the paths into them (pure): the one `Obj` alias, RFC 6901 JSON pointers
split into parts, the value a pointer names, and the concrete path it resolves to.

Every module of core that walks a manifest by pointer uses these; nothing else in tether
defines its own pointer walk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import jsonpointer

Obj = dict[str, Any]  # a Kubernetes object as parsed from YAML/JSON, owned by the caller
ObjView = Mapping[str, Any]  # one only read (health rules)
Path = tuple[str | int, ...]  # a concrete path: dict keys and list indices


class _Absent:
    """A field that an object does not have (distinct from `null`)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Final = _Absent()  # what `value_at` returns when a pointer names nothing


def pointer_parts(pointer: str) -> tuple[str, ...]:
    """`/metadata/annotations/a~1b` -> ("metadata", "annotations", "a/b"); "" -> ()."""
    if not pointer:
        return ()
    return tuple(
        raw.replace("~1", "/").replace("~0", "~") if "~" in raw else raw
        for raw in pointer[1:].split("/")
    )


def value_at(obj: Any, pointer: str) -> Any:
    """The value at an RFC 6901 pointer, or `ABSENT` (a plain walk: attribution resolves
    tens of thousands of pointers, and jsonpointer's general machinery dominated it)."""
    if not pointer:
        return obj
    node = obj
    # pointer_parts inlined: attribution calls this tens of thousands of times per compare.
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~") if "~" in raw else raw
        if isinstance(node, dict):
            if part not in node:
                return ABSENT
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node) or (part != "0" and part[0] == "0"):
                return ABSENT
            node = node[int(part)]
        else:
            return ABSENT
    return node


def resolve_pointer(obj: Any, pointer: str) -> Path | None:
    """The concrete path a pointer names in `obj`, or None when it names nothing there
    (jsonpointer.JsonPointerException for a malformed pointer)."""
    path: list[str | int] = []
    node: Any = obj
    for part in jsonpointer.JsonPointer(pointer).parts:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            path.append(int(part))
            node = node[int(part)]
        else:
            return None
    return tuple(path)


__all__ = ["ABSENT", "Obj", "ObjView", "Path", "pointer_parts", "resolve_pointer", "value_at"]
