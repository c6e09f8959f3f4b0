"""Sync planning (pure): which objects to apply, hook or prune, and in what order.

Order of a sync: phase (PreSync, Sync, PostSync; SyncFail only on failure) → wave →
kind (Namespaces and CRDs before what lives in them, in Helm's install order) → name.
Within a wave, applies come first and prunes after them in reverse order; prunes marked
PruneLast (per object or app-wide) run in a final wave of their own after every other
Sync wave. Hooks come from tether's, Argo CD's and Helm's annotations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from tether.model.keys import ResourceKey

PREFIXES = ("tether.dev", "argocd.argoproj.io")


class SyncPhase(StrEnum):
    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"


PHASE_ORDER = {
    SyncPhase.PRE_SYNC: 0,
    SyncPhase.SYNC: 1,
    SyncPhase.POST_SYNC: 2,
    SyncPhase.SYNC_FAIL: 3,
}

# Helm's install order, which Argo CD follows too; kinds not listed (custom resources)
# come after all of these.
KIND_ORDER = [
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap",
    "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition",
    "ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
    "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
]  # fmt: skip
KIND_RANK = {kind: i for i, kind in enumerate(KIND_ORDER)}

HELM_HOOK_PHASES = {
    "pre-install": SyncPhase.PRE_SYNC,
    "pre-upgrade": SyncPhase.PRE_SYNC,
    "post-install": SyncPhase.POST_SYNC,
    "post-upgrade": SyncPhase.POST_SYNC,
}
HELM_DELETE_POLICIES = {
    "hook-succeeded": "HookSucceeded",
    "hook-failed": "HookFailed",
    "before-hook-creation": "BeforeHookCreation",
}

Action = Literal["apply", "prune"]


def annotation(obj: Mapping[str, Any], name: str) -> str | None:
    """`tether.dev/<name>`, else `argocd.argoproj.io/<name>`."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    for prefix in PREFIXES:
        value = annotations.get(f"{prefix}/{name}")
        if value is not None:
            return str(value)
    return None


def sync_options(obj: Mapping[str, Any]) -> dict[str, str]:
    """Per-object `…/sync-options: Prune=false,Replace=true` as a dict."""
    raw = annotation(obj, "sync-options") or ""
    options: dict[str, str] = {}
    for item in raw.split(","):
        name, sep, value = item.strip().partition("=")
        if name:
            options[name] = value if sep else "true"
    return options


def wave_of(obj: Mapping[str, Any]) -> int:
    raw = annotation(obj, "sync-wave")
    if raw is None:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        raw = annotations.get("helm.sh/hook-weight") if "helm.sh/hook" in annotations else None
    try:
        return int(str(raw).strip()) if raw is not None else 0
    except ValueError:
        return 0


@dataclass(frozen=True)
class HookSpec:
    phases: tuple[SyncPhase, ...]
    delete_policies: frozenset[str]
    skip: bool = False


def hook_of(obj: Mapping[str, Any]) -> HookSpec | None:
    """The hook an object declares, or None for an ordinary resource."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = annotation(obj, "hook")
    policies_raw = annotation(obj, "hook-delete-policy")
    phases: list[SyncPhase] = []
    skip = False
    if raw is not None:
        for item in (p.strip() for p in raw.split(",")):
            if item == "Skip":
                skip = True
            elif item in SyncPhase._value2member_map_:
                phases.append(SyncPhase(item))
        policies = {p.strip() for p in (policies_raw or "").split(",") if p.strip()}
    elif "helm.sh/hook" in annotations:
        for item in (p.strip() for p in str(annotations["helm.sh/hook"]).split(",")):
            if item in HELM_HOOK_PHASES and HELM_HOOK_PHASES[item] not in phases:
                phases.append(HELM_HOOK_PHASES[item])
        if not phases:
            skip = True  # test hooks, pre/post-delete, rollback hooks: not part of a sync
        helm_policies = str(annotations.get("helm.sh/hook-delete-policy", ""))
        policies = {
            HELM_DELETE_POLICIES[p.strip()]
            for p in helm_policies.split(",")
            if p.strip() in HELM_DELETE_POLICIES
        }
    else:
        return None
    if skip and not phases:
        return HookSpec((), frozenset(), skip=True)
    # Like Argo CD: a hook without a policy is replaced on the next sync.
    return HookSpec(tuple(phases), frozenset(policies or {"BeforeHookCreation"}))


@dataclass(frozen=True)
class SyncTask:
    key: ResourceKey
    action: Action
    phase: SyncPhase
    wave: int
    obj: dict[str, Any] = field(compare=False, repr=False)
    hook: HookSpec | None = None
    options: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def kind_rank(self) -> int:
        return KIND_RANK.get(self.key.kind, len(KIND_ORDER))

    @property
    def is_hook(self) -> bool:
        return self.hook is not None


@dataclass(frozen=True)
class Wave:
    phase: SyncPhase
    wave: int
    tasks: tuple[SyncTask, ...]
    prune_last: bool = False


@dataclass(frozen=True)
class SyncPlan:
    waves: tuple[Wave, ...]
    fail_hooks: tuple[SyncTask, ...]
    skipped: tuple[ResourceKey, ...]  # Skip hooks, and Prune=false objects left in place
    needs_confirm: tuple[ResourceKey, ...]  # Prune=confirm objects

    @property
    def tasks(self) -> list[SyncTask]:
        return [t for w in self.waves for t in w.tasks]

    @property
    def prunes(self) -> list[SyncTask]:
        return [t for t in self.tasks if t.action == "prune"]

    @property
    def applies(self) -> list[SyncTask]:
        return [t for t in self.tasks if t.action == "apply"]


def _apply_order(task: SyncTask) -> tuple[int, int, int, str, str]:
    return (PHASE_ORDER[task.phase], task.wave, task.kind_rank, task.key.namespace, task.key.name)


def plan_sync(
    desired: Sequence[dict[str, Any]],
    prune_candidates: Iterable[dict[str, Any]],
    *,
    prune: bool,
    prune_last: bool = False,
) -> SyncPlan:
    """Order `desired` (and, with `prune`, the tracked live objects no longer desired)."""
    applies: list[SyncTask] = []
    fail_hooks: list[SyncTask] = []
    skipped: list[ResourceKey] = []
    for obj in desired:
        key = ResourceKey.of(obj)
        hook = hook_of(obj)
        options = sync_options(obj)
        if hook is not None and hook.skip and not hook.phases:
            skipped.append(key)
            continue
        phases = hook.phases if hook else (SyncPhase.SYNC,)
        for phase in phases:
            task = SyncTask(key, "apply", phase, wave_of(obj), obj, hook, options)
            (fail_hooks if phase == SyncPhase.SYNC_FAIL else applies).append(task)

    applies = _hoist_hook_namespaces(applies)
    prunes: list[SyncTask] = []
    late_prunes: list[SyncTask] = []
    needs_confirm: list[ResourceKey] = []
    if prune:
        for obj in prune_candidates:
            key = ResourceKey.of(obj)
            options = sync_options(obj)
            if options.get("Prune") == "false" or hook_of(obj) is not None:
                skipped.append(key)  # hooks are cleaned up by their delete policy, not pruned
                continue
            if options.get("Prune") == "confirm":
                needs_confirm.append(key)
            task = SyncTask(key, "prune", SyncPhase.SYNC, wave_of(obj), obj, None, options)
            last = prune_last or options.get("PruneLast") == "true"
            (late_prunes if last else prunes).append(task)

    grouped: dict[tuple[SyncPhase, int], list[SyncTask]] = {}
    for task in sorted(applies, key=_apply_order):
        grouped.setdefault((task.phase, task.wave), []).append(task)
    for task in prunes:
        grouped.setdefault((SyncPhase.SYNC, task.wave), [])
    waves: list[Wave] = []
    for (phase, wave), tasks in sorted(
        grouped.items(), key=lambda kv: (PHASE_ORDER[kv[0][0]], kv[0][1])
    ):
        wave_prunes = sorted(
            (t for t in prunes if phase == SyncPhase.SYNC and t.wave == wave),
            key=_apply_order,
            reverse=True,
        )
        waves.append(Wave(phase, wave, (*tasks, *wave_prunes)))
        if phase == SyncPhase.SYNC and late_prunes and not _more_sync_waves(grouped, wave):
            waves.append(_prune_last_wave(late_prunes, wave))
            late_prunes = []
    if late_prunes:  # no Sync wave at all: prune-last objects still go, in their own wave
        insert_at = next(
            (i for i, w in enumerate(waves) if w.phase == SyncPhase.POST_SYNC), len(waves)
        )
        waves.insert(insert_at, _prune_last_wave(late_prunes, 0))
    return SyncPlan(
        tuple(waves),
        tuple(sorted(fail_hooks, key=_apply_order)),
        tuple(sorted(skipped)),
        tuple(sorted(needs_confirm)),
    )


def _hoist_hook_namespaces(applies: list[SyncTask]) -> list[SyncTask]:
    """A Namespace that a PreSync hook lives in is created before that hook runs."""
    pre = [t for t in applies if t.phase == SyncPhase.PRE_SYNC]
    needed = {t.key.namespace for t in pre}
    if not needed:
        return applies
    first_wave = min(t.wave for t in pre) - 1
    return [
        dataclasses.replace(t, phase=SyncPhase.PRE_SYNC, wave=first_wave)
        if t.key.kind == "Namespace" and t.key.name in needed and t.phase == SyncPhase.SYNC
        else t
        for t in applies
    ]


def _more_sync_waves(grouped: Mapping[tuple[SyncPhase, int], Any], wave: int) -> bool:
    return any(p == SyncPhase.SYNC and w > wave for p, w in grouped)


def _prune_last_wave(tasks: Sequence[SyncTask], after_wave: int) -> Wave:
    ordered = sorted(tasks, key=_apply_order, reverse=True)
    return Wave(SyncPhase.SYNC, after_wave + 1, tuple(ordered), prune_last=True)


@dataclass(frozen=True)
class PruneGuard:
    allowed: bool
    reason: str = ""


def check_prune_guards(
    *,
    desired_count: int,
    tracked_count: int,
    prune_count: int,
    allow_empty: bool,
    confirmed: bool,
) -> PruneGuard:
    """The two guards against mass deletion (DESIGN §3)."""
    if prune_count == 0:
        return PruneGuard(True)
    if desired_count == 0 and not allow_empty:
        return PruneGuard(
            False,
            f"the render is empty: refusing to prune all {prune_count} objects"
            " (set syncPolicy.automated.allowEmpty to allow it)",
        )
    if tracked_count and prune_count * 2 > tracked_count and not confirmed:
        return PruneGuard(
            False,
            f"the sync would delete {prune_count} of {tracked_count} objects (more than half):"
            " pass --confirm-prune to go ahead",
        )
    return PruneGuard(True)
