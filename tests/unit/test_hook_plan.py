"""Hooks in the sync plan, as Argo CD and Helm define them: which objects are hooks (and
so never compared), their order by weight, generateName hooks, leftover hooks."""

from __future__ import annotations

from typing import Any

import pytest

from tether.core.desired import prepare_desired
from tether.core.plan import (
    SyncPhase,
    generate_name_of,
    hook_keys,
    hook_of,
    is_hook,
    object_key,
    plan_sync,
)
from tether.errors import InputError
from tether.model.keys import ResourceKey


def obj(
    kind: str,
    name: str | None,
    ann: dict[str, Any] | None = None,
    *,
    api: str = "v1",
    generate: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "prod"}
    if name is not None:
        meta["name"] = name
    if generate is not None:
        meta["generateName"] = generate
    if ann is not None:
        meta["annotations"] = ann
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def helm(hook: str, weight: int | None = None, policy: str | None = None) -> dict[str, str]:
    ann = {"helm.sh/hook": hook}
    if weight is not None:
        ann["helm.sh/hook-weight"] = str(weight)
    if policy is not None:
        ann["helm.sh/hook-delete-policy"] = policy
    return ann


@pytest.mark.parametrize("value", ["test", "test-success", "test-failure", "pre-delete"])
def test_helm_test_hooks_and_other_events_never_run_and_are_not_compared(value: str) -> None:
    pod = obj("Pod", "t", helm(value))
    assert is_hook(pod)
    spec = hook_of(pod)
    assert spec is not None and spec.phases == ()
    plan = plan_sync([pod, obj("ConfigMap", "c")], [], prune=False)
    assert [k.name for k in plan.skipped] == ["t"]
    assert [t.key.name for t in plan.applies] == ["c"]
    assert hook_keys([pod], {}) == {object_key(pod)}


def test_crd_install_marks_an_ordinary_resource_as_argo_cd_treats_it() -> None:
    crd = obj("CustomResourceDefinition", "x.example.dev", helm("crd-install"))
    assert not is_hook(crd)
    assert [t.phase for t in plan_sync([crd], [], prune=False).applies] == [SyncPhase.SYNC]


def test_hook_weights_order_hooks_within_their_phase_lowest_first() -> None:
    policy = "before-hook-creation,hook-succeeded"
    desired = [
        obj("Job", "startupapicheck", helm("post-install", 1, policy), api="batch/v1"),
        obj("ServiceAccount", "startupapicheck", helm("post-install", -5, policy)),
        obj(
            "Role",
            "startupapicheck",
            helm("post-install,post-upgrade", -5, policy),
            api="rbac.authorization.k8s.io/v1",
        ),
        obj("Job", "migrate", {"argocd.argoproj.io/hook": "PreSync"}, api="batch/v1"),
        obj(
            "Job",
            "seed",
            {"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/sync-wave": "-1"},
            api="batch/v1",
        ),
        obj("ConfigMap", "cfg"),
    ]
    plan = plan_sync(desired, [], prune=False)
    assert [
        (w.phase, w.wave, [f"{t.key.kind}/{t.key.name}" for t in w.tasks]) for w in plan.waves
    ] == [
        (SyncPhase.PRE_SYNC, -1, ["Job/seed"]),
        (SyncPhase.PRE_SYNC, 0, ["Job/migrate"]),
        (SyncPhase.SYNC, 0, ["ConfigMap/cfg"]),
        (SyncPhase.POST_SYNC, -5, ["ServiceAccount/startupapicheck", "Role/startupapicheck"]),
        (SyncPhase.POST_SYNC, 1, ["Job/startupapicheck"]),
    ]
    spec = hook_of(desired[0])
    assert spec is not None and spec.delete_policies == {"BeforeHookCreation", "HookSucceeded"}


def test_helm_hooks_without_a_policy_are_replaced_on_the_next_sync() -> None:
    spec = hook_of(obj("Job", "j", helm("pre-upgrade"), api="batch/v1"))
    assert spec is not None and spec.delete_policies == {"BeforeHookCreation"}


def test_generate_name_hooks_are_keyed_by_their_prefix() -> None:
    hook = obj(
        "Job", None, {"argocd.argoproj.io/hook": "PreSync"}, api="batch/v1", generate="migrate-"
    )
    assert generate_name_of(hook) == "migrate-"
    assert object_key(hook) == ResourceKey("batch", "Job", "prod", "migrate-*")
    assert str(object_key(hook)) == "Job.batch prod/migrate-*"
    (task,) = plan_sync([hook], [], prune=False).applies
    assert task.key.name == "migrate-*"
    named = obj("Job", "x", generate="ignored-")
    assert generate_name_of(named) is None and object_key(named).name == "x"


def test_earlier_runs_stay_for_their_policy_and_leftover_hooks_are_pruned() -> None:
    ann = {"argocd.argoproj.io/hook": "PreSync"}
    desired = [obj("Job", None, ann, api="batch/v1", generate="migrate-"), obj("ConfigMap", "c")]
    earlier_run = obj("Job", "migrate-x7k2p", ann, api="batch/v1", generate="migrate-")
    leftover = obj("Job", "old-seed", {"tether.dev/hook": "PostSync"}, api="batch/v1")
    pinned = obj(
        "Job",
        "keep",
        {"tether.dev/hook": "PostSync", "tether.dev/sync-options": "Prune=false"},
        api="batch/v1",
    )
    plan = plan_sync(desired, [earlier_run, leftover, pinned], prune=True)
    assert [t.key.name for t in plan.prunes] == ["old-seed"]
    assert [k.name for k in plan.skipped] == ["keep"]
    assert plan_sync(desired, [earlier_run, leftover], prune=False).prunes == []


def test_hook_keys_the_desired_object_decides_a_live_only_one_its_own_annotations() -> None:
    hook_ann = {"argocd.argoproj.io/hook": "Sync"}
    became_resource = obj("ConfigMap", "was-hook")
    became_hook = obj("ConfigMap", "now-hook", hook_ann)
    leftover = obj("Job", "old", hook_ann, api="batch/v1")
    skip = obj("ConfigMap", "skipped", {"argocd.argoproj.io/hook": "Skip"})
    live = {
        object_key(became_resource): obj("ConfigMap", "was-hook", hook_ann),
        object_key(became_hook): obj("ConfigMap", "now-hook"),
        object_key(leftover): leftover,
        ResourceKey("", "ConfigMap", "prod", "plain"): obj("ConfigMap", "plain"),
    }
    assert hook_keys([became_resource, became_hook, skip], live) == {
        object_key(became_hook),
        object_key(leftover),
        object_key(skip),
    }


@pytest.mark.parametrize("annotations", [None, {}, [], "x", 3])
def test_null_or_odd_annotations_are_no_hook(annotations: Any) -> None:
    odd = obj("ConfigMap", "c")
    odd["metadata"]["annotations"] = annotations
    assert hook_of(odd) is None and not is_hook(odd)
    assert plan_sync([odd], [], prune=False).applies[0].wave == 0


def test_syncfail_hooks_run_by_weight() -> None:
    fail = [
        obj(
            "Job", "b", {"tether.dev/hook": "SyncFail", "tether.dev/sync-wave": "2"}, api="batch/v1"
        ),
        obj("Job", "a", {"tether.dev/hook": "SyncFail"}, api="batch/v1"),
    ]
    plan = plan_sync(fail, [], prune=False)
    assert [(w.wave, [t.key.name for t in w.tasks]) for w in plan.fail_waves] == [
        (0, ["a"]),
        (2, ["b"]),
    ]


def prepare(*objects: dict[str, Any]) -> list[dict[str, Any]]:
    return prepare_desired(
        list(objects),
        app_namespace="tether-system",
        app_name="web",
        destination_namespace="prod",
        scope=lambda _group, _kind: True,
    )


def test_prepare_drops_null_metadata_maps_and_stamps_the_tracking_id() -> None:
    cm = obj("ConfigMap", "c")
    cm["metadata"].update(labels=None, annotations=None)
    (prepared,) = prepare(cm)
    assert "labels" not in prepared["metadata"]
    assert prepared["metadata"]["annotations"] == {
        "tether.dev/tracking-id": "tether-system/web:/ConfigMap:prod/c"
    }
    assert cm["metadata"]["annotations"] is None  # the input is left alone


def test_prepare_refuses_generate_name_outside_hooks_and_odd_metadata_naming_the_object() -> None:
    with pytest.raises(InputError) as err:
        prepare(obj("ConfigMap", None, generate="cfg-"))
    assert err.value.message == (
        "ConfigMap prod/cfg-*: metadata.name is missing"
        " (metadata.generateName is only allowed for hooks)"
    )
    bad = obj("ConfigMap", "c")
    bad["metadata"]["labels"] = ["a"]
    with pytest.raises(
        InputError, match=r"^ConfigMap prod/c: metadata.labels must be a map, got a list$"
    ):
        prepare(bad)
    hook = obj("Job", None, {"tether.dev/hook": "PreSync"}, api="batch/v1", generate="run-")
    (prepared,) = prepare(hook)
    assert "name" not in prepared["metadata"]  # the sync names each run
