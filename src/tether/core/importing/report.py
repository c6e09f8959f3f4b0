"""What an import made of each field: carried over, changed in meaning, or left out and why.

Every field of every source object ends up in exactly one Finding or in the converted
Application unchanged; `tether import` prints the findings, docs/import.md tables them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    CONVERTED = "converted"  # carried over with a different name or shape
    DROPPED = "dropped"  # not needed under tether (e.g. Argo CD's own finalizer)
    UNSUPPORTED = "unsupported"  # tether cannot do this: the app differs from the source
    ERROR = "error"  # the object could not be converted at all


@dataclass(frozen=True)
class Finding:
    source: str  # "Application argocd/guestbook"
    field: str  # "spec.source.plugin" ("" for the whole object)
    outcome: Outcome
    reason: str


@dataclass
class Conversion:
    """The tether Applications made from some input, and the findings on the way."""

    applications: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def note(self, source: str, path: str, outcome: Outcome, reason: str) -> None:
        finding = Finding(source, path, outcome, reason)
        if finding not in self.findings:  # a GitRepository is read by each of its users
            self.findings.append(finding)

    @property
    def unsupported(self) -> list[Finding]:
        return [f for f in self.findings if f.outcome in (Outcome.UNSUPPORTED, Outcome.ERROR)]

    def extend(self, other: Conversion) -> None:
        self.applications.extend(other.applications)
        self.findings.extend(other.findings)
