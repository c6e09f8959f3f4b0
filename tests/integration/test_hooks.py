"""Hooks as Argo CD and Helm define them, on the real control plane: weights with
hook-succeeded across weights, a Job removed by its TTL, test hooks, generateName hooks,
leftover hooks, hook-failed; and manifests with null metadata maps.

Each app syncs, is Synced+Healthy right after and after a hard-refresh compare, and a
real drift on one of its ordinary objects is still found. Sync times are printed
(`pytest -s`) as the measurement of the hook fixtures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from tests.support.apps import application
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.core.plan import plan_sync
from tether.engine.apps import create_app, get_app
from tether.engine.compare import Engine, compare
from tether.engine.hooks import run_hook, wait_for_hooks
from tether.engine.sync import SyncFailed, SyncRequest, SyncResult, sync_app
from tether.kube import KubeClient, LiveCache
from tether.model.application import Application, OperationPhase
from tether.model.keys import ResourceKey

JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  {name}
  annotations: {annotations}
spec:
  backoffLimit: 0{job_extra}
  template:
    spec:
      restartPolicy: Never{pod_extra}
      containers: [{{name: run, image: "busybox:1.36", command: ["true"]}}]
"""


def job(name: str, annotations: str, job_extra: str = "", pod_extra: str = "") -> str:
    return JOB.format(name=name, annotations=annotations, job_extra=job_extra, pod_extra=pod_extra)


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{key: value}}\n"


async def timed_sync(
    engine: Engine, app: Application, what: str, **request: Any
) -> tuple[SyncResult, float]:
    started = time.monotonic()
    result = await sync_app(engine, app, SyncRequest(timeout=120, **request))
    seconds = time.monotonic() - started
    print(f"\nmeasure: {what}: sync {seconds:.2f}s ({result.message})")
    assert result.succeeded, result.message
    return result, seconds


async def assert_synced_and_healthy(engine: Engine, kube: KubeClient, app: Application) -> None:
    stored = await get_app(kube, app.namespace, app.name)
    assert stored.status is not None
    assert stored.status.sync.status.value == "Synced", stored.status.resources
    assert stored.status.health.status.value == "Healthy", stored.status.health
    fresh = await compare(engine, stored, hard_refresh=True)
    assert fresh.error is None, fresh.error
    assert fresh.diff is not None and fresh.diff.in_sync, [
        (str(d.key), d.verdict, d.paths) for d in fresh.diff.out_of_sync
    ]
    assert fresh.app_health is not None and fresh.app_health.status.value == "Healthy"


async def assert_drift_found(
    engine: Engine, kube: KubeClient, app: Application, configmap: str
) -> None:
    """A person's edit of an ordinary object of the app is still drift."""
    await kube.patch(
        "v1",
        "ConfigMap",
        configmap,
        {"data": {"key": "edited by hand"}},
        namespace=app.spec.destination.namespace,
        field_manager="kubectl-edit",
    )

    async def drifted() -> list[tuple[str, list[str]]] | None:
        result = await compare(engine, app, fetch=False)
        assert result.diff is not None
        found = [(str(d.key), d.paths) for d in result.diff.out_of_sync]
        return found or None

    found = await eventually(drifted, timeout=10, what="the drift")
    assert found == [(f"ConfigMap {app.spec.destination.namespace}/{configmap}", ["/data/key"])]


async def jobs(kube: KubeClient, namespace: str) -> list[str]:
    return sorted(j["metadata"]["name"] for j in await kube.list("batch/v1", "Job", namespace))


def hook_annotations(weight: int) -> str:
    return (
        "{helm.sh/hook: post-install, "
        f"helm.sh/hook-weight: '{weight}', "
        "helm.sh/hook-delete-policy: 'before-hook-creation,hook-succeeded'}"
    )


@pytest.fixture
async def recorder(kube: KubeClient) -> AsyncIterator[LiveCache]:
    cache = LiveCache(kube)
    try:
        yield cache
    finally:
        await cache.close()


async def test_hook_weights_keep_hook_succeeded_objects_until_the_whole_event_succeeded(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, recorder: LiveCache
) -> None:
    # cert-manager's startupapicheck: RBAC at weight -5, the Job at weight 1, all
    # before-hook-creation,hook-succeeded. The Job's pod can only be created while its
    # ServiceAccount exists (the ServiceAccount admission plugin): had the weight -5 hooks
    # been deleted after their own weight, the Job would never run.
    rbac = hook_annotations(-5)
    chart = "charts/certlike"
    repo.write(
        {
            f"{chart}/Chart.yaml": "apiVersion: v2\nname: certlike\nversion: 0.1.0\n",
            f"{chart}/templates/config.yaml": CONFIGMAP.format(name="{{ .Release.Name }}-cfg"),
            f"{chart}/templates/rbac.yaml": f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: startupapicheck
  annotations: {rbac}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: startupapicheck
  annotations: {rbac}
rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: startupapicheck
  annotations: {rbac}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: startupapicheck}}
subjects: [{{kind: ServiceAccount, name: startupapicheck}}]
""",
            f"{chart}/templates/job.yaml": job(
                "name: startupapicheck",
                hook_annotations(1),
                pod_extra="\n      serviceAccountName: startupapicheck",
            ),
        }
    )
    repo.commit("a chart with post-install hooks at two weights")
    app = application("certlike", namespace, repo.url, chart, source={"helm": {}})
    await create_app(kube, app)

    events: list[tuple[int, str, str]] = []  # (resourceVersion, event, Kind/name)

    def record(event: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if meta.get("namespace") != namespace or meta["name"] != "startupapicheck":
            return
        # SuccessCriteriaMet comes first, then Complete: either says the Job succeeded.
        done = any(
            c.get("type") in ("Complete", "SuccessCriteriaMet") and c.get("status") == "True"
            for c in (obj.get("status") or {}).get("conditions") or []
        )
        rv = int(meta["resourceVersion"])
        events.append((rv, event, obj["kind"]))
        if done and event != "DELETED":
            events.append((rv, "COMPLETE", obj["kind"]))

    recorder.add_listener(record)
    for api_version, kind in (
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("batch/v1", "Job"),
    ):
        await recorder.watch_kind(api_version, kind)

    for run in ("install", "upgrade"):
        events.clear()
        await timed_sync(engine, app, f"post-install hooks at weights -5 and 1 ({run})")
        # hook-succeeded: all four are gone once the event succeeded...
        for api_version, kind in (
            ("v1", "ServiceAccount"),
            ("rbac.authorization.k8s.io/v1", "Role"),
            ("rbac.authorization.k8s.io/v1", "RoleBinding"),
            ("batch/v1", "Job"),
        ):
            assert await kube.get(api_version, kind, "startupapicheck", namespace) is None, kind

        async def deletions_seen() -> bool:
            return sum(1 for _, e, _ in events if e == "DELETED") >= 4

        await eventually(deletions_seen, timeout=10, what="four deletions")
        order = sorted(events)
        completed = min(rv for rv, e, k in order if e == "COMPLETE" and k == "Job")
        job_created = min(rv for rv, e, k in order if e == "ADDED" and k == "Job")
        for kind in ("ServiceAccount", "Role", "RoleBinding"):
            created = min(rv for rv, e, k in order if e == "ADDED" and k == kind)
            deleted = min(rv for rv, e, k in order if e == "DELETED" and k == kind)
            # ...but not before: created before the Job (lower weight), deleted after it
            # completed.
            assert created < job_created < completed < deleted, (kind, order)

    await assert_synced_and_healthy(engine, kube, app)
    stored = await get_app(kube, namespace, "certlike")
    assert stored.status is not None
    assert [r.kind for r in stored.status.resources] == ["ConfigMap"]  # hooks are not resources
    await assert_drift_found(engine, kube, app, "certlike-cfg")


async def test_a_job_hook_removed_by_its_ttl_right_after_completing_has_completed(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    # ingress-nginx's admission Jobs: ttlSecondsAfterFinished: 0, no delete policy.
    repo.write(
        {
            "app/cfg.yaml": CONFIGMAP.format(name="cfg"),
            "app/job.yaml": job(
                "name: admission-create",
                "{argocd.argoproj.io/hook: PostSync}",
                job_extra="\n  ttlSecondsAfterFinished: 0",
            ),
        }
    )
    repo.commit("a TTL job hook")
    app = application("ttl", namespace, repo.url, "app")
    await create_app(kube, app)
    for run in ("first", "second"):
        _, seconds = await timed_sync(
            engine, app, f"PostSync Job with ttlSecondsAfterFinished 0 ({run})"
        )
        assert seconds < 30

        async def removed_by_ttl() -> bool:
            return await kube.get("batch/v1", "Job", "admission-create", namespace) is None

        await eventually(removed_by_ttl, timeout=30, what="the TTL controller")
        await assert_synced_and_healthy(engine, kube, app)
    await assert_drift_found(engine, kube, app, "cfg")


async def test_helm_test_hooks_are_never_applied_nor_compared(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write(
        {
            "app/cfg.yaml": CONFIGMAP.format(name="cfg"),
            "app/test-pod.yaml": """\
apiVersion: v1
kind: Pod
metadata:
  name: test-connection
  annotations: {helm.sh/hook: test-success}
spec:
  restartPolicy: Never
  containers: [{name: wget, image: busybox, command: [wget, "cfg:80"]}]
""",
            "app/test-job.yaml": job("name: test-job", "{helm.sh/hook: test}"),
        }
    )
    repo.commit("test hooks in plain manifests")
    app = application("tests", namespace, repo.url, "app")
    await create_app(kube, app)
    result, _ = await timed_sync(engine, app, "app with helm test hooks")
    assert result.plan is not None
    assert sorted(k.name for k in result.plan.skipped) == ["test-connection", "test-job"]
    assert await kube.get("v1", "Pod", "test-connection", namespace) is None
    assert await jobs(kube, namespace) == []
    await assert_synced_and_healthy(engine, kube, app)
    await assert_drift_found(engine, kube, app, "cfg")


async def test_generate_name_hooks_are_new_objects_each_sync_and_cleaned_by_their_policy(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write(
        {
            "app/cfg.yaml": CONFIGMAP.format(name="cfg"),
            # no policy: BeforeHookCreation, every earlier run is deleted before the next
            "app/migrate.yaml": job("generateName: migrate-", "{argocd.argoproj.io/hook: PreSync}"),
            "app/notify.yaml": job(
                "generateName: notify-",
                "{argocd.argoproj.io/hook: PostSync,"
                " argocd.argoproj.io/hook-delete-policy: HookSucceeded}",
            ),
        }
    )
    repo.commit("generateName hooks")
    app = application("generated", namespace, repo.url, "app")
    await create_app(kube, app)
    seen: list[str] = []
    for run in ("first", "second"):
        result, _ = await timed_sync(engine, app, f"generateName PreSync + PostSync hooks ({run})")
        applied = sorted(str(k) for k in result.applied if k.kind == "Job")
        assert len(applied) == 2 and not any("None" in k or "*" in k for k in applied), applied
        migrate = [n for n in await jobs(kube, namespace) if n.startswith("migrate-")]
        # One run of migrate (this sync's), none of notify (hook-succeeded).
        assert len(migrate) == 1 and migrate[0] not in seen, (migrate, seen)
        assert all(not n.startswith("notify-") for n in await jobs(kube, namespace))
        seen += migrate
        live = await kube.get("batch/v1", "Job", migrate[0], namespace)
        assert live is not None and live["metadata"]["generateName"] == "migrate-"
        await assert_synced_and_healthy(engine, kube, app)
    await assert_drift_found(engine, kube, app, "cfg")


async def test_leftover_hooks_are_not_extraneous_and_a_prune_removes_them(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write(
        {
            "app/cfg.yaml": CONFIGMAP.format(name="cfg"),
            # HookFailed only: a successful run stays until something removes it
            "app/seed.yaml": job(
                "name: seed",
                "{tether.dev/hook: PostSync, tether.dev/hook-delete-policy: HookFailed}",
            ),
        }
    )
    repo.commit("a hook that stays")
    app = application("leftover", namespace, repo.url, "app")
    await create_app(kube, app)
    await timed_sync(engine, app, "PostSync Job kept after success")
    assert await jobs(kube, namespace) == ["seed"]
    await assert_synced_and_healthy(engine, kube, app)

    repo.remove("app/seed.yaml")
    repo.commit("the hook is gone from Git")
    fresh = await compare(engine, app)
    assert fresh.diff is not None and fresh.diff.in_sync  # a leftover hook is not drift
    await timed_sync(engine, app, "sync without prune")
    assert await jobs(kube, namespace) == ["seed"]
    result, _ = await timed_sync(engine, app, "sync --prune of a leftover hook", prune=True)
    assert ResourceKey("batch", "Job", namespace, "seed") in result.pruned
    assert await jobs(kube, namespace) == []
    await assert_synced_and_healthy(engine, kube, app)


async def test_a_failed_hook_fails_the_sync_and_hook_failed_deletes_it(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write(
        {
            "app/cfg.yaml": CONFIGMAP.format(name="cfg"),
            # Its pod is never scheduled; the Job fails when its deadline passes.
            "app/check.yaml": job(
                "name: precheck",
                "{argocd.argoproj.io/hook: PreSync,"
                " argocd.argoproj.io/hook-delete-policy: HookFailed}",
                job_extra="\n  activeDeadlineSeconds: 2",
                pod_extra="\n      nodeSelector: {no-such-node: 'true'}",
            ),
        }
    )
    repo.commit("a hook that fails")
    app = application("failing", namespace, repo.url, "app")
    await create_app(kube, app)
    with pytest.raises(SyncFailed, match=r"hook Job\.batch \S+/precheck failed"):
        await sync_app(engine, app, SyncRequest(timeout=60))
    assert await jobs(kube, namespace) == []  # hook-failed
    assert await kube.get("v1", "ConfigMap", "cfg", namespace) is None  # Sync never ran


async def test_null_and_empty_metadata_maps_lists_and_empty_documents_sync(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    # What ingress-nginx and kube-prometheus-stack render when a `with` block is empty.
    repo.write(
        {
            "app/cfg.yaml": (
                "---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n"
                "  labels:\n  annotations:\ndata: {key: value}\n---\n"
            ),
            "app/svc.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {}
  annotations:
spec:
  selector: {app: web}
  ports: [{port: 80}]
""",
            "app/deploy.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations:
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
""",
            "app/list.yaml": """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: from-list, annotations: null, labels: null}
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: from-list, annotations: {}}
---
apiVersion: v1
kind: ConfigMapList
items: null
""",
        }
    )
    repo.commit("null metadata maps")
    app = application("nulls", namespace, repo.url, "app")
    await create_app(kube, app)
    await timed_sync(engine, app, "null/empty metadata maps")
    await assert_synced_and_healthy(engine, kube, app)
    await assert_drift_found(engine, kube, app, "cfg")


async def test_generate_name_outside_a_hook_is_one_clear_error(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write(
        {
            "app/cfg.yaml": CONFIGMAP.format(name="cfg")
            + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: cfg-}\n"
        }
    )
    repo.commit("generateName on an ordinary object")
    app = application("badname", namespace, repo.url, "app")
    await create_app(kube, app)
    result = await compare(engine, app)
    assert result.error is not None
    assert result.error.message == (
        "render badname: app/cfg.yaml: document 2: metadata.generateName is only allowed for"
        " hooks; set metadata.name"
    )


def planned_hook(manifest: str, namespace: str) -> Any:
    obj = yaml.safe_load(manifest)
    obj["metadata"]["namespace"] = namespace
    (task,) = plan_sync([obj], [], prune=False).applies
    return task


async def test_a_hook_gone_before_anyone_looked_is_judged_by_its_last_watched_state(
    engine: Engine, kube: KubeClient, namespace: str
) -> None:
    # The race ingress-nginx's admission Jobs run: complete and removed by the TTL
    # controller before the sync looks. The watch's deletion event carries the final
    # state; nothing asks the API server for an object that no longer exists.
    app = application("race", namespace, "file:///nowhere", "app")
    result = SyncResult(app, OperationPhase.RUNNING, "", None)
    done = planned_hook(
        job(
            "name: done-fast",
            "{tether.dev/hook: PostSync}",
            job_extra="\n  ttlSecondsAfterFinished: 0",
        ),
        namespace,
    )
    await run_hook(engine, done, result, replace=False)

    async def removed() -> bool:
        return await kube.get("batch/v1", "Job", "done-fast", namespace) is None

    await eventually(removed, timeout=30, what="the TTL controller")
    await asyncio.wait_for(wait_for_hooks(engine, result.hooks, "PostSync wave 0", []), 5)
    assert result.hooks[0].succeeded

    # A hook deleted before it completed (by a person, say) fails the sync at once.
    never = planned_hook(
        job(
            "name: never-runs",
            "{tether.dev/hook: PostSync}",
            pod_extra="\n      nodeSelector: {no-such-node: 'true'}",
        ),
        namespace,
    )
    await run_hook(engine, never, result, replace=False)
    await kube.delete("batch/v1", "Job", "never-runs", namespace)
    with pytest.raises(SyncFailed, match="never-runs was deleted before it completed"):
        await asyncio.wait_for(wait_for_hooks(engine, result.hooks[1:], "PostSync wave 0", []), 10)
