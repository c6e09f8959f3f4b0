"""Sync planning (pure): which objects to apply, hook or prune, and in what order.

Order of a sync: phase (PreSync, Sync, PostSync; SyncFail only on failure) → wave →
kind (Namespaces and CRDs before what lives in them, in Helm's install order) → name.
Within a wave, applies come first and prunes after them in reverse order; prunes marked
PruneLast (per object or app-wide) run in a final wave of their own after every other
Sync wave. Hooks come from tether's, Argo CD's and Helm's annotations; a hook's wave is
its sync-wave or `helm.sh/hook-weight`, so hooks of one phase run lowest weight first.

Hooks are not resources of the app: they are run by a sync, never compared, never part
of its health (as in Argo CD). A hook named by `generateName` is a new object on every
run; live hooks no longer in the render are leftovers that a prune removes.
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
HELM_HOOK = "helm.sh/hook"
HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
# Helm 2 marked CRDs with this hook value; they are not hooks (Argo CD applies them as
# ordinary resources, and Helm 3 has crds/ instead).
HELM_CRD_INSTALL = "crd-install"

Action = Literal["apply", "prune"]


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """`metadata.annotations`, or {} when it is absent, null or not a map at all."""
    metadata = obj.get("metadata")
    found = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def annotation(obj: Mapping[str, Any], name: str) -> str | None:
    """`tether.dev/<name>`, else `argocd.argoproj.io/<name>`."""
    annotations = annotations_of(obj)
    for prefix in PREFIXES:
        value = annotations.get(f"{prefix}/{name}")
        if value is not None:
            return str(value)
    return None


def sync_options(obj: Mapping[str, Any]) -> dict[str, str]:
    """Per-object `…/sync-options: Prune=false,Replace=true` as a dict."""
    return option_list(annotation(obj, "sync-options"))


def compare_options(annotations: Mapping[str, Any]) -> dict[str, str]:
    """`…/compare-options: IgnoreExtraneous,StrictManualEdits=true` (of a manifest or an
    Application's own annotations) as a dict; a bare name means `true`."""
    for prefix in PREFIXES:
        value = annotations.get(f"{prefix}/compare-options")
        if value is not None:
            return option_list(str(value))
    return {}


def option_list(raw: str | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in (raw or "").split(","):
        name, sep, value = item.strip().partition("=")
        if name:
            options[name] = value.strip() if sep else "true"
    return options


def wave_of(obj: Mapping[str, Any]) -> int:
    raw = annotation(obj, "sync-wave")
    if raw is None:
        annotations = annotations_of(obj)
        raw = annotations.get(HELM_HOOK_WEIGHT) if HELM_HOOK in annotations else None
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
    """The hook an object declares, or None for an ordinary resource.

    tether's and Argo CD's annotation wins over Helm's. Helm's test hooks and the hooks
    of events a sync does not have (pre/post-delete, rollback) are hooks that never run.
    """
    annotations = annotations_of(obj)
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
    elif HELM_HOOK in annotations and str(annotations[HELM_HOOK]).strip() != HELM_CRD_INSTALL:
        for item in (p.strip() for p in str(annotations[HELM_HOOK]).split(",")):
            if item in HELM_HOOK_PHASES and HELM_HOOK_PHASES[item] not in phases:
                phases.append(HELM_HOOK_PHASES[item])
        if not phases:
            # test/test-success/test-failure (`helm test` only), pre/post-delete and
            # rollback hooks: no event of a sync, never run.
            skip = True
        helm_policies = str(annotations.get(f"{HELM_HOOK}-delete-policy", ""))
        policies = {
            HELM_DELETE_POLICIES[p.strip()]
            for p in helm_policies.split(",")
            if p.strip() in HELM_DELETE_POLICIES
        }
    else:
        return None
    if skip and not phases:
        return HookSpec((), frozenset(), skip=True)
    # Like Argo CD and Helm 3: a hook without a policy is replaced on the next sync.
    return HookSpec(tuple(phases), frozenset(policies or {"BeforeHookCreation"}))


def is_hook(obj: Mapping[str, Any]) -> bool:
    """Whether `obj` is a hook (or a Skip/test hook): run by a sync, never compared."""
    return hook_of(obj) is not None


def generate_name_of(obj: Mapping[str, Any]) -> str | None:
    """`metadata.generateName` of an object that has no `metadata.name`, else None."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("name"):
        return None
    prefix = metadata.get("generateName")
    return prefix if isinstance(prefix, str) and prefix else None


def object_key(obj: Mapping[str, Any]) -> ResourceKey:
    """`ResourceKey.of`, except that an object named by `generateName` (a hook that is a
    new object on every run) is keyed `<generateName>*`, which no real object can be."""
    key = ResourceKey.of(dict(obj))
    prefix = generate_name_of(obj)
    return dataclasses.replace(key, name=f"{prefix}*") if prefix is not None else key


def hook_keys(
    desired: Iterable[Mapping[str, Any]], live: Mapping[ResourceKey, Mapping[str, Any]]
) -> frozenset[ResourceKey]:
    """Keys of the hooks among desired and live objects. The desired object decides for
    its key (annotating a resource as a hook in Git makes it one); a live object that
    nothing desires any more (a leftover hook, an earlier run of a generateName hook) is
    judged by its own annotations."""
    found = {object_key(o) for o in desired if is_hook(o)}
    wanted = {object_key(o) for o in desired}
    found.update(k for k, o in live.items() if k not in wanted and is_hook(o))
    return frozenset(found)


def _instance_of(obj: Mapping[str, Any]) -> tuple[str, str, str, str] | None:
    """(group, kind, namespace, generateName) of a live object created from a
    generateName hook: the desired hook it is a run of."""
    metadata = obj.get("metadata")
    prefix = metadata.get("generateName") if isinstance(metadata, Mapping) else None
    if not isinstance(prefix, str) or not prefix:
        return None
    key = ResourceKey.of(dict(obj))
    return (key.group, key.kind, key.namespace, prefix)


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

    @property
    def fail_waves(self) -> tuple[Wave, ...]:
        """The SyncFail hooks in waves of one weight each, lowest first."""
        grouped: dict[int, list[SyncTask]] = {}
        for task in self.fail_hooks:
            grouped.setdefault(task.wave, []).append(task)
        return tuple(Wave(SyncPhase.SYNC_FAIL, w, tuple(grouped[w])) for w in sorted(grouped))


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
    runs_of: set[tuple[str, str, str, str]] = set()
    for obj in desired:
        key = object_key(obj)
        hook = hook_of(obj)
        options = sync_options(obj)
        prefix = generate_name_of(obj)
        if hook is not None and prefix is not None:
            runs_of.add((key.group, key.kind, key.namespace, prefix))
        if hook is not None and not hook.phases:
            skipped.append(key)  # Skip, test hooks, hooks of events a sync does not have
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
            hook = hook_of(obj)
            if hook is not None and _instance_of(obj) in runs_of:
                continue  # an earlier run of a hook still rendered: its delete policy decides
            if options.get("Prune") == "false":
                skipped.append(key)
                continue
            if options.get("Prune") == "confirm":
                needs_confirm.append(key)
            # A leftover hook goes with the Sync prunes of wave 0: its weight ordered its run.
            wave = 0 if hook is not None else wave_of(obj)
            task = SyncTask(key, "prune", SyncPhase.SYNC, wave, obj, None, options)
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
