"""Sync planning: phases, waves, kind order, hooks, prune order and the prune guards."""

from __future__ import annotations

from typing import Any

from tether.core.plan import SyncPhase, Wave, check_prune_guards, hook_of, plan_sync, sync_options

HOOK = "tether.dev/hook"
WAVE = "tether.dev/sync-wave"
OPTIONS = "tether.dev/sync-options"


def obj(
    kind: str,
    name: str,
    *,
    api: str = "v1",
    ns: str | None = "prod",
    ann: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    if ann:
        meta["annotations"] = ann
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def names(waves: tuple[Wave, ...]) -> list[list[str]]:
    return [[f"{t.action}:{t.key.kind}/{t.key.name}" for t in w.tasks] for w in waves]


def test_kind_order_namespace_and_crd_before_their_objects() -> None:
    desired = [
        obj("Widget", "w", api="example.dev/v1"),
        obj("Deployment", "api", api="apps/v1"),
        obj("Service", "api"),
        obj(
            "CustomResourceDefinition",
            "widgets.example.dev",
            api="apiextensions.k8s.io/v1",
            ns=None,
        ),
        obj("Namespace", "prod", ns=None),
        obj("ConfigMap", "cfg"),
    ]
    plan = plan_sync(desired, [], prune=False)
    assert names(plan.waves) == [
        [
            "apply:Namespace/prod",
            "apply:ConfigMap/cfg",
            "apply:CustomResourceDefinition/widgets.example.dev",
            "apply:Service/api",
            "apply:Deployment/api",
            "apply:Widget/w",
        ]
    ]


def test_phases_then_waves_then_name() -> None:
    desired = [
        obj("Deployment", "late", api="apps/v1", ann={WAVE: "1"}),
        obj("Deployment", "b", api="apps/v1"),
        obj("Deployment", "a", api="apps/v1"),
        obj("ConfigMap", "early", ann={WAVE: "-1"}),
        obj("Job", "migrate", api="batch/v1", ann={HOOK: "PreSync"}),
        obj("Job", "smoke", api="batch/v1", ann={"argocd.argoproj.io/hook": "PostSync"}),
    ]
    plan = plan_sync(desired, [], prune=False)
    assert [(w.phase, w.wave) for w in plan.waves] == [
        (SyncPhase.PRE_SYNC, 0),
        (SyncPhase.SYNC, -1),
        (SyncPhase.SYNC, 0),
        (SyncPhase.SYNC, 1),
        (SyncPhase.POST_SYNC, 0),
    ]
    assert names(plan.waves)[2] == ["apply:Deployment/a", "apply:Deployment/b"]


def test_argo_wave_annotation_is_read() -> None:
    cm = obj("ConfigMap", "x", ann={"argocd.argoproj.io/sync-wave": "5"})
    assert plan_sync([cm], [], prune=False).waves[0].wave == 5


def test_hooks_from_helm_annotations_and_delete_policies() -> None:
    pre = obj(
        "Job",
        "db-init",
        api="batch/v1",
        ann={
            "helm.sh/hook": "pre-install,pre-upgrade",
            "helm.sh/hook-delete-policy": "hook-succeeded",
            "helm.sh/hook-weight": "-2",
        },
    )
    test_hook = obj("Pod", "test", ann={"helm.sh/hook": "test"})
    spec = hook_of(pre)
    assert spec is not None and spec.phases == (SyncPhase.PRE_SYNC,)
    assert spec.delete_policies == {"HookSucceeded"}
    plan = plan_sync([pre, test_hook], [], prune=False)
    assert [(w.phase, w.wave) for w in plan.waves] == [(SyncPhase.PRE_SYNC, -2)]
    assert [k.name for k in plan.skipped] == ["test"]


def test_hook_without_policy_defaults_to_before_hook_creation_and_syncfail_is_separate() -> None:
    fail = obj("Job", "page-oncall", api="batch/v1", ann={HOOK: "SyncFail"})
    spec = hook_of(fail)
    assert spec is not None and spec.delete_policies == {"BeforeHookCreation"}
    plan = plan_sync([fail, obj("ConfigMap", "c")], [], prune=False)
    assert [t.key.name for t in plan.fail_hooks] == ["page-oncall"]
    assert names(plan.waves) == [["apply:ConfigMap/c"]]


def test_prunes_run_after_applies_of_their_wave_in_reverse_order() -> None:
    desired = [obj("ConfigMap", "keep")]
    gone = [
        obj("Deployment", "old", api="apps/v1"),
        obj("Service", "old"),
        obj("Namespace", "legacy", ns=None),
    ]
    plan = plan_sync(desired, gone, prune=True)
    assert names(plan.waves) == [
        [
            "apply:ConfigMap/keep",
            "prune:Deployment/old",
            "prune:Service/old",
            "prune:Namespace/legacy",
        ]
    ]


def test_prune_last_gets_a_final_wave_and_prune_false_is_left_alone() -> None:
    desired = [obj("ConfigMap", "a", ann={WAVE: "0"}), obj("ConfigMap", "b", ann={WAVE: "2"})]
    gone = [
        obj("Secret", "old-secret"),
        obj("ConfigMap", "pinned", ann={OPTIONS: "Prune=false"}),
        obj("ConfigMap", "careful", ann={"argocd.argoproj.io/sync-options": "Prune=confirm"}),
    ]
    plan = plan_sync(desired, gone, prune=True, prune_last=True)
    assert names(plan.waves) == [
        ["apply:ConfigMap/a"],
        ["apply:ConfigMap/b"],
        ["prune:ConfigMap/careful", "prune:Secret/old-secret"],  # reverse kind order
    ]
    assert plan.waves[-1].prune_last
    assert [k.name for k in plan.skipped] == ["pinned"]
    assert [k.name for k in plan.needs_confirm] == ["careful"]


def test_without_prune_flag_nothing_is_deleted() -> None:
    plan = plan_sync([obj("ConfigMap", "a")], [obj("ConfigMap", "b")], prune=False)
    assert plan.prunes == []


def test_sync_options_annotation_parsing() -> None:
    cm = obj("ConfigMap", "x", ann={OPTIONS: "Prune=false, Replace=true,ServerSideApply=true"})
    assert sync_options(cm) == {"Prune": "false", "Replace": "true", "ServerSideApply": "true"}


def test_guards_empty_render_and_mass_deletion() -> None:
    def guard(desired: int, tracked: int, prune: int, allow_empty: bool, confirmed: bool) -> Any:
        return check_prune_guards(
            desired_count=desired,
            tracked_count=tracked,
            prune_count=prune,
            allow_empty=allow_empty,
            confirmed=confirmed,
        )

    empty = guard(0, 4, 4, False, False)
    assert not empty.allowed and "empty" in empty.reason
    assert guard(0, 4, 4, True, True).allowed
    half = guard(1, 5, 3, False, False)
    assert not half.allowed and "--confirm-prune" in half.reason
    assert guard(1, 5, 3, False, True).allowed
    assert guard(3, 5, 2, False, False).allowed


def test_namespace_of_a_presync_hook_is_created_before_the_hook() -> None:
    desired = [
        obj("Namespace", "apps", ns=None),
        obj("Job", "migrate", api="batch/v1", ns="apps", ann={HOOK: "PreSync"}),
        obj("Deployment", "api", api="apps/v1", ns="apps"),
    ]
    plan = plan_sync(desired, [], prune=False)
    assert names(plan.waves) == [
        ["apply:Namespace/apps"],
        ["apply:Job/migrate"],
        ["apply:Deployment/api"],
    ]
