"""Self-heal that cannot help: what a heal left exactly as it was, and how to say so.

After a self-heal sync, drift whose object the apply stored and that still differs on the
same paths will not go away by syncing again (a field no apply removes, a writer the
apply cannot override): the controller stops healing it and says why in SelfHealFailing
(reason DriftNotRepairable), instead of retrying with backoff forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tether.core.autosync import (
    HEAL_BLOCKED_NON_DETERMINISTIC,
    HEAL_BLOCKED_NOT_REPAIRABLE,
    unrepaired_drift,
)
from tether.core.diff import Verdict
from tether.engine.compare import Comparison
from tether.model.application import CONDITION_SELF_HEAL_FAILING, Condition
from tether.model.keys import ResourceKey, resource_version_of

from .memory import AppMemory


def heal_blocked(conditions: Iterable[Condition]) -> bool:
    return any(
        c.type == CONDITION_SELF_HEAL_FAILING
        and c.reason in (HEAL_BLOCKED_NOT_REPAIRABLE, HEAL_BLOCKED_NON_DETERMINISTIC)
        for c in conditions
    )


def unrepaired(
    comparison: Comparison,
    stored_versions: Mapping[ResourceKey, int],
    before: dict[str, frozenset[str]],
) -> dict[str, frozenset[str]]:
    """Drift a self-heal sync left exactly as it was: the object's live copy in the
    compare after the sync is the one the apply stored (nobody wrote it since), and still
    differs on the same paths. (A copy older than the apply proves nothing; a newer one is
    a fight.)"""
    if comparison.diff is None:
        return {}
    after = {
        str(d.key): frozenset(d.paths)
        for d in comparison.diff.out_of_sync
        if d.verdict is Verdict.OUT_OF_SYNC
        and d.key in comparison.live
        and d.key in stored_versions
        and resource_version_of(comparison.live[d.key]) == stored_versions[d.key]
    }
    return unrepaired_drift(before, after)


def unrepaired_message(
    comparison: Comparison, revision: str | None, still: dict[str, frozenset[str]]
) -> str:
    """`ConfigMap ns/x: /data/extra (cause controller-write, writer rogue)` for each."""
    status = comparison.status
    resources = {str(r.key): r for r in (status.resources if status else ())}
    parts = []
    for obj in sorted(still):
        found = resources.get(obj)
        why = ", ".join(
            item
            for item in (
                f"cause {found.drift_cause}" if found and found.drift_cause else "",
                f"writer {found.drift_writer}" if found and found.drift_writer else "",
            )
            if item
        )
        parts.append(f"{obj}: {', '.join(sorted(still[obj]))}" + (f" ({why})" if why else ""))
    revision = (revision or "")[:8]
    return (
        "; ".join(parts)
        + f" still differ right after the self-heal sync{f' of {revision}' if revision else ''}"
        " (the apply cannot change it); self-heal stopped for this drift: fix it in Git, add an"
        " ignoreDifferences rule, or change it by hand (see `tether drift`)"
    )


def check_heal(memory: AppMemory, comparison: Comparison) -> None:
    """After a self-heal sync, the next compare shows what it could not repair."""
    assert memory.heal_check is not None
    stored_versions, revision = memory.heal_check
    memory.heal_check = None
    if comparison.error is not None:
        return
    still = unrepaired(comparison, stored_versions, memory.heal_before)
    if still:
        memory.heal.unrepairable = still
        memory.heal.unrepairable_revision = revision
        memory.heal.unrepairable_message = unrepaired_message(comparison, revision, still)
