"""Small readers that tolerate malformed or partial objects.

Status is written by controllers we do not control, so its shape is never trusted: a
reader returns a default rather than raising on a wrong type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tether.core.paths import ObjView

Condition = Mapping[str, Any]


def section(obj: ObjView, name: str) -> Mapping[str, Any]:
    value = obj.get(name)
    return value if isinstance(value, Mapping) else {}


def integer(mapping: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = mapping.get(key)
    # bool is an int subclass; a boolean is never a meaningful count.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return default


def as_generation(value: object) -> int | None:
    """A generation number, also when written as a string (Argo Rollouts writes `"3"`).

    A text that is not a whole number (older Rollouts wrote a pod-template hash there)
    says nothing about generations: None.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def name(obj: ObjView) -> str:
    return str(section(obj, "metadata").get("name", ""))


def kind(obj: ObjView) -> str:
    return str(obj.get("kind") or "Resource")


def generation(obj: ObjView) -> int:
    return integer(section(obj, "metadata"), "generation")


def annotations_of(obj: ObjView) -> Mapping[str, Any]:
    return section(section(obj, "metadata"), "annotations")


def desired_replicas(obj: ObjView) -> int:
    # The API server defaults spec.replicas to 1 for every workload kind.
    return integer(section(obj, "spec"), "replicas", default=1)


def conditions(status: Mapping[str, Any]) -> dict[str, Condition]:
    """Conditions by type (a later duplicate wins, as the API server would keep one)."""
    raw = status.get("conditions")
    if not isinstance(raw, list):
        return {}
    return {str(cond["type"]): cond for cond in raw if isinstance(cond, Mapping) and "type" in cond}


def conditions_of(obj: ObjView) -> dict[str, Condition]:
    return conditions(section(obj, "status"))


def is_status(cond: Condition | None, value: str) -> bool:
    return cond is not None and str(cond.get("status", "")) == value


def describe(cond: Condition | None, fallback: str = "") -> str:
    """`reason: message` of a condition, whichever parts it has."""
    if cond is None:
        return fallback
    reason = str(cond.get("reason") or "")
    message = str(cond.get("message") or "")
    if reason and message:
        return f"{reason}: {message}"
    return reason or message or fallback


def message_of(cond: Condition | None, fallback: str = "") -> str:
    """The condition's message, else its reason (what Argo CD's scripts show)."""
    if cond is None:
        return fallback
    return str(cond.get("message") or cond.get("reason") or fallback)


def observed_generation(obj: ObjView) -> int | None:
    """`status.observedGeneration` as a number; None when absent or not a number."""
    return as_generation(section(obj, "status").get("observedGeneration"))


def controller_behind(obj: ObjView) -> bool:
    """True while a built-in controller has not yet seen the latest spec.

    Built-in controllers always write `observedGeneration`, so a missing one means "not
    processed yet", unlike custom resources (see `generation_behind`).
    """
    observed = observed_generation(obj)
    return (observed if observed is not None else 0) < generation(obj)


def generation_behind(obj: ObjView) -> bool:
    """kstatus: a controller that writes observedGeneration has not caught up yet.

    Custom resources need not write it at all, so a missing (or non-numeric) value means
    "unknown", not "behind" (unlike built-in controllers).
    """
    observed = observed_generation(obj)
    return observed is not None and observed < generation(obj)


def condition_stale(cond: Condition | None, obj: ObjView) -> bool:
    """A condition stamped with an older generation says nothing about the current spec."""
    if cond is None:
        return False
    stamped = as_generation(cond.get("observedGeneration"))
    return stamped is not None and stamped < generation(obj)


def timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Kubernetes writes UTC; make a zone-less value comparable with the others.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def has_status(obj: ObjView) -> bool:
    """True when a controller wrote anything at all into `status`."""
    return bool(section(obj, "status"))
