"""The built-in rule for Pods."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.core.paths import ObjView

from .readers import conditions, describe, integer, is_status, section
from .status import ResourceHealth, degraded, healthy, progressing, unknown

# Container waiting reasons that will not resolve without a change to the pod or image.
_STUCK_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "PreStartHookError",
        "PostStartHookError",
    }
)


def _container_statuses(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Init containers first: a stuck init container blocks everything after it."""
    statuses: list[Mapping[str, Any]] = []
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        raw = status.get(key)
        if isinstance(raw, list):
            statuses.extend(s for s in raw if isinstance(s, Mapping))
    return statuses


def _stuck_container(status: Mapping[str, Any], *, restarted: bool) -> str | None:
    """Message for the first container waiting for a reason that needs a human.

    A pod that is not always restarted (a Job's or a hook's, restartPolicy OnFailure) backs
    off between retries by design: there a CrashLoopBackOff is the retry, not the verdict
    (Argo CD: Progressing). Image and configuration errors need a human whatever the policy.
    """
    for container in _container_statuses(status):
        waiting = section(section(container, "state"), "waiting")
        reason = str(waiting.get("reason") or "")
        if reason not in _STUCK_WAITING_REASONS:
            continue
        if reason == "CrashLoopBackOff" and not restarted:
            continue
        message = str(waiting.get("message") or "")
        detail = f"{reason}: {message}" if message else reason
        return f"container {container.get('name', '?')!r} is waiting: {detail}"
    return None


def _failed_termination(container: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The container's current or last termination, when it was a failure."""
    for where in (section(container, "state"), section(container, "lastState")):
        terminated = section(where, "terminated")
        if terminated and (
            integer(terminated, "exitCode") != 0 or terminated.get("reason") == "OOMKilled"
        ):
            return terminated
    return None


def _crash_loop(status: Mapping[str, Any]) -> str | None:
    """A container of an always-restarted pod that is down after a failed exit.

    Between restarts the kubelet shows the container `terminated` (exit 1) or `running`
    again with `lastState.terminated`; the CrashLoopBackOff reason only appears once the
    back-off starts. Checked only while the pod is not Ready, so a single old restart of a
    now healthy container is not a crash loop.
    """
    for container in _container_statuses(status):
        if container.get("ready") is True:
            continue
        terminated = _failed_termination(container)
        if terminated is None:
            continue
        restarts = integer(container, "restartCount")
        reason = terminated.get("reason") or "Error"
        return (
            f"container {container.get('name', '?')!r} keeps failing: exit code "
            f"{integer(terminated, 'exitCode')} ({reason}), {restarts} restart(s)"
        )
    return None


def _pod_failure_message(status: Mapping[str, Any]) -> str:
    if status.get("message"):
        return str(status["message"])
    for container in _container_statuses(status):
        terminated = section(section(container, "state"), "terminated")
        code = integer(terminated, "exitCode")
        if terminated and code != 0:
            reason = terminated.get("reason") or "Error"
            return (
                f"container {container.get('name', '?')!r} terminated with exit code {code} "
                f"({reason})"
            )
    return str(status.get("reason") or "Pod failed")


def _pod_pending_message(status: Mapping[str, Any]) -> str:
    scheduled = conditions(status).get("PodScheduled")
    if is_status(scheduled, "False"):
        return describe(scheduled, "Pod is not scheduled yet")
    for container in _container_statuses(status):
        reason = section(section(container, "state"), "waiting").get("reason")
        if reason:
            return f"container {container.get('name', '?')!r} is waiting: {reason}"
    return str(status.get("message") or "Pod is pending")


def _unready_containers(status: Mapping[str, Any]) -> list[str]:
    raw = status.get("containerStatuses")
    if not isinstance(raw, list):
        return []
    return [
        str(c.get("name", "?"))
        for c in raw
        if isinstance(c, Mapping) and c.get("ready") is not True
    ]


def pod_health(obj: ObjView) -> ResourceHealth:
    status = section(obj, "status")
    phase = str(status.get("phase") or "")
    restarted = section(obj, "spec").get("restartPolicy", "Always") == "Always"
    if phase == "Succeeded":
        return healthy(str(status.get("message") or "Pod completed"))
    if phase == "Failed":
        return degraded(_pod_failure_message(status))
    # A crash loop or a bad image shows up while the phase is still Pending or Running.
    stuck = _stuck_container(status, restarted=restarted)
    if stuck is not None:
        return degraded(stuck)
    if not phase:
        # Just created: the scheduler and the kubelet have not reported yet.
        return progressing("Waiting for the pod to be scheduled")
    if phase == "Pending":
        return progressing(_pod_pending_message(status))
    if phase == "Running":
        # A pod that is not restarted (a Job's or a hook's pod) is only done once it
        # Succeeds, so Running is still work in progress for it.
        if not restarted:
            return progressing("Pod is running")
        if is_status(conditions(status).get("Ready"), "True"):
            return healthy()
        crash = _crash_loop(status)
        if crash is not None:
            return degraded(crash)
        unready = _unready_containers(status)
        waiting_for = f": {', '.join(unready)}" if unready else ""
        return progressing(f"Waiting for containers to become ready{waiting_for}")
    return unknown(f"Pod phase is {phase}")
