"""Health statuses and the result of one assessment."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HealthStatus(StrEnum):
    """Health of one object or one application, declared from best to worst."""

    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"

    @property
    def severity(self) -> int:
        """0 for Healthy up to 5 for Unknown: higher is worse."""
        return _SEVERITY_ORDER.index(self)

    # Comparisons follow severity, not the alphabet, when both sides are statuses.
    def __lt__(self, other: str) -> bool:
        if isinstance(other, HealthStatus):
            return self.severity < other.severity
        return str.__lt__(self, other)

    def __le__(self, other: str) -> bool:
        if isinstance(other, HealthStatus):
            return self.severity <= other.severity
        return str.__le__(self, other)

    def __gt__(self, other: str) -> bool:
        if isinstance(other, HealthStatus):
            return self.severity > other.severity
        return str.__gt__(self, other)

    def __ge__(self, other: str) -> bool:
        if isinstance(other, HealthStatus):
            return self.severity >= other.severity
        return str.__ge__(self, other)

    @classmethod
    def parse(cls, text: str) -> HealthStatus:
        """`"degraded"` -> DEGRADED (case-insensitive); ValueError for anything else."""
        for status in cls:
            if status.value.lower() == text.strip().lower():
                return status
        names = ", ".join(s.value for s in cls)
        raise ValueError(f"{text!r} is not a health status (one of {names})")


_SEVERITY_ORDER: tuple[HealthStatus, ...] = tuple(HealthStatus)


def worst(*statuses: HealthStatus) -> HealthStatus:
    """The most severe of `statuses`; Healthy when none are given."""
    return max(statuses, key=lambda status: status.severity, default=HealthStatus.HEALTHY)


@dataclass(frozen=True)
class ResourceHealth:
    """The health of one object, with a message for people."""

    status: HealthStatus
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        """Wire form for Application `.status` (`message` left out when empty)."""
        out = {"status": self.status.value}
        if self.message:
            out["message"] = self.message
        return out


def healthy(message: str = "") -> ResourceHealth:
    return ResourceHealth(HealthStatus.HEALTHY, message)


def progressing(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.PROGRESSING, message)


def degraded(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.DEGRADED, message)


def suspended(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.SUSPENDED, message)


def unknown(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.UNKNOWN, message)


def health_of_missing() -> ResourceHealth:
    """Health of an object that Git wants but the cluster does not have.

    Applies to every kind, including those without a health notion (a missing ConfigMap
    is still a problem for the application).
    """
    return ResourceHealth(HealthStatus.MISSING, "Resource does not exist in the cluster")
