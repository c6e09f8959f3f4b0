"""Resource identity: group/kind/namespace/name keys and apiVersion parsing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def split_api_version(api_version: str) -> tuple[str, str]:
    """`apps/v1` -> (`apps`, `v1`); `v1` -> (`""`, `v1`)."""
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass(frozen=True, order=True)
class ResourceKey:
    """Identity of an object independent of its API version."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ResourceKey:
        group, _ = split_api_version(str(obj.get("apiVersion", "")))
        meta = obj.get("metadata") or {}
        return cls(
            group,
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name", "")),
        )

    def __str__(self) -> str:
        gk = f"{self.kind}.{self.group}" if self.group else self.kind
        text = f"{gk} {self.namespace}/{self.name}" if self.namespace else f"{gk} {self.name}"
        return printable(text)


def printable(text: str) -> str:
    """`text` on one line: control characters (a newline in a rendered name, say) shown
    escaped, so that a message naming an object stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def resource_version_of(obj: Mapping[str, Any]) -> int:
    """etcd's revision as an int (0 when absent or not numeric, as for aggregated APIs)."""
    raw = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
    return int(raw) if raw.isdigit() else 0


def parse_rfc3339(text: str | None) -> datetime | None:
    """An API timestamp (`2026-11-26T19:00:00Z`, also with fractions) or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
