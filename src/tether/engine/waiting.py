"""What a sync waits for, so that a timeout says it: the objects still not healthy, why,
and — for kinds nothing on a bare cluster makes healthy — what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.model.keys import ResourceKey

_SHOWN = 3


@dataclass(frozen=True)
class WaitedFor:
    live: dict[str, Any] | None  # the copy last judged (None: not found yet)
    reason: str  # "Progressing: Waiting for rollout to finish: ..." as health said


Waiting = dict[ResourceKey, WaitedFor]


def _needs_a_publisher(key: ResourceKey, live: dict[str, Any] | None) -> bool:
    """An Ingress, or a Service of type LoadBalancer: healthy only once a controller of
    the cluster publishes an address for it (none does on a local or bare cluster)."""
    if key.kind == "Ingress" and key.group in ("networking.k8s.io", "extensions"):
        return True
    spec = (live or {}).get("spec") or {}
    return key.kind == "Service" and key.group == "" and spec.get("type") == "LoadBalancer"


def timeout_report(timeout: float, waiting: Waiting) -> tuple[str, str | None]:
    """The message and hint of a sync that timed out while waiting for `waiting`."""
    if not waiting:
        return f"sync timed out after {timeout:.0f}s", None
    keys = sorted(waiting)
    shown = "; ".join(f"{key} ({waiting[key].reason})" for key in keys[:_SHOWN])
    more = f" (and {len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    message = f"sync timed out after {timeout:.0f}s waiting for {shown}{more}"
    unpublished = [k for k in keys if _needs_a_publisher(k, waiting[k].live)]
    if unpublished:
        hint = (
            f"{unpublished[0]} is healthy only once a controller publishes its address, and"
            " none may run on this cluster: add a rule for it to the tether-health-rules"
            " ConfigMap (e.g. `- {group: networking.k8s.io, kind: Ingress, jq: '\"Healthy\"'}`)"
            " or install the controller (an ingress controller, a load balancer)"
        )
    else:
        hint = f"see `tether app get` for {keys[0]}; raise spec.timeout if it is only slow"
    return message, hint


__all__ = ["WaitedFor", "Waiting", "timeout_report"]
