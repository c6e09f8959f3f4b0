"""Field-manager takeover before an apply, so that a sync converges what compare flags.

A key a person added with `kubectl edit` is owned by `kubectl-edit`; a forced
server-side apply that does not set it leaves it in place, and self-heal would loop.
Right before an apply, the fields of a person's tools that Git sets or the compare
flagged (and no ignore rule protects) are moved to tether's Apply entry in
`metadata.managedFields` (core.managers decides which); the apply that follows then
removes what Git does not have, as Flux's kustomize-controller does.

The rewrite is a JSON patch through the app's writer client (impersonating its
ServiceAccount), guarded by the resourceVersion it was computed from: a write in
between makes it compute again on a fresh read, never clobber someone's managedFields.
"""

from __future__ import annotations

import logging
from typing import Any

from tether.core.diff import Verdict
from tether.core.managers import Takeover, describe_takeover, is_person_tool_entry
from tether.errors import ClusterError
from tether.kube import JSON_PATCH, KubeClient
from tether.model.application import FIELD_MANAGER, Application
from tether.model.keys import ResourceKey

from .compare import Comparison
from .runtime import Engine

log = logging.getLogger(__name__)

ATTEMPTS = 5


async def take_over_person_fields(
    engine: Engine,
    writer: KubeClient,
    app: Application,
    desired: dict[str, Any],
    comparison: Comparison | None,
) -> Takeover | None:
    """Make the fields of a person's tools on the live object tether's, before `desired`
    is applied; returns what was taken (None: nothing to take, or the object is gone)."""
    key = ResourceKey.of(desired)
    live = engine.cache.get(key) if engine.cache.watched(key.group, key.kind) else None
    if live is None and comparison is not None:
        live = comparison.live.get(key)
    if live is None or not _has_person_entries(live):
        return None  # the common case: no API call at all
    drifted = _drifted_paths(comparison, key)
    specs = [rule.to_dict() for rule in app.spec.ignore_differences]
    api_version = str(desired.get("apiVersion", ""))
    for _attempt in range(ATTEMPTS):
        takeover = await engine.evaluator.plan_takeover(
            live, desired, drifted, specs, what=f"{key}: field-manager takeover"
        )
        if takeover is None:
            return None
        version = str((live.get("metadata") or {}).get("resourceVersion", ""))
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version},
            {"op": "replace", "path": "/metadata/managedFields", "value": takeover.managed_fields},
        ]
        try:
            await writer.patch(
                api_version,
                key.kind,
                key.name,
                patch,
                namespace=key.namespace or None,
                patch_type=JSON_PATCH,
                field_manager=FIELD_MANAGER,
            )
        except ClusterError as exc:
            if exc.status == 404:
                return None
            if exc.status not in (409, 422):
                raise ClusterError(
                    f"{key}: taking over the fields of kubectl before the apply: {exc.message}",
                    status=exc.status,
                    reason=exc.reason,
                ) from exc
            # The resourceVersion test failed (422) or a conflict (409): written meanwhile
            # (a rollout updates status often); compute again on a fresh read.
            fresh = await writer.get(api_version, key.kind, key.name, key.namespace or None)
            if fresh is None:
                return None
            live = fresh
            continue
        log.info("%s: took over fields of a person's tools (%s)", key, describe_takeover(takeover))
        return takeover
    # Never a reason to fail the sync: the apply goes ahead, and a drift it leaves is
    # reported by the controller (DriftNotRepairable) instead of healed in a loop.
    log.warning("%s: object kept changing; fields of kubectl not taken over", key)
    return None


def _has_person_entries(live: dict[str, Any]) -> bool:
    entries = (live.get("metadata") or {}).get("managedFields") or []
    return any(isinstance(e, dict) and is_person_tool_entry(e) for e in entries)


def _drifted_paths(comparison: Comparison | None, key: ResourceKey) -> list[str]:
    """What the compare flagged on this object (pointers; live's indices for fields only
    live has)."""
    if comparison is None or comparison.diff is None:
        return []
    for diff in comparison.diff.objects:
        if diff.key == key and diff.verdict is Verdict.OUT_OF_SYNC:
            return list(diff.paths)
    return []
