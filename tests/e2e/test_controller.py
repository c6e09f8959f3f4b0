"""`tether controller` against the real control plane: drift seen at once, self-heal,
auto-sync by polling and by signed webhooks, suspend/resume, reconcile requests,
dependsOn, metrics, and recovery from a crash in the middle of a sync."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.apps import application
from tests.support.cli import tether
from tests.support.controller import ControllerProcess
from tests.support.githttp import git
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.core.sharding import shard_of
from tether.engine.apps import apply_status, create_app, get_app
from tether.kube import KubeClient
from tether.model.application import (
    Application,
    ApplicationStatus,
    OperationPhase,
    OperationState,
)

SECRET = "s3cret-for-tests"


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.27", extra: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:{extra}
      containers: [{{name: app, image: "{image}"}}]
"""


def configmap(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: '{value}'}}\n"


def auto(self_heal: bool = True, **extra: Any) -> dict[str, Any]:
    return {"automated": {"selfHeal": self_heal, "prune": True, **extra}}


async def status_of(kube: KubeClient, namespace: str, name: str) -> Any:
    app = await get_app(kube, namespace, name)
    return app.status


async def condition_of(kube: KubeClient, namespace: str, name: str, ctype: str) -> Any:
    """The app's condition of type `ctype`, or None."""
    s = await status_of(kube, namespace, name)
    found = [c for c in (s.conditions if s is not None else ()) if c.type == ctype]
    return found[0] if found else None


async def wait_synced_healthy(
    kube: KubeClient, namespace: str, name: str, revision: str | None = None, timeout: float = 90
) -> Application:
    async def probe() -> Application | None:
        app = await get_app(kube, namespace, name)
        s = app.status
        ok = (
            s is not None
            and s.sync.status.value == "Synced"
            and s.health.status.value == "Healthy"
            and (revision is None or s.sync.revision == revision)
            and (s.operation_state is None or s.operation_state.phase.value != "Running")
        )
        return app if ok else None

    return await eventually(probe, timeout=timeout, what=f"{name} Synced+Healthy")


def controller(
    kubeconfig: str, namespace: str, tmp_path: Path, *args: str, name: str = "controller"
) -> ControllerProcess:
    return ControllerProcess(
        kubeconfig, namespace, tmp_path, *args, webhook_secret=SECRET, name=name
    )


def scrape(proc: ControllerProcess) -> str:
    status, body = proc.get("/metrics")
    assert status == 200, body
    return body


def sample_lines(body: str, family: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith(family + "{")]


async def test_drift_is_seen_at_once_and_self_heal_restores_it(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    repo.write({"app/web.yaml": deployment("web"), "app/cm.yaml": configmap("settings", "1")})
    head = repo.commit("web")
    await create_app(
        kube, application("web", namespace, repo.url, "app", syncPolicy=auto(self_heal=False))
    )
    with controller(kubeconfig, namespace, tmp_path) as proc:
        await wait_synced_healthy(kube, namespace, "web", head)

        # selfHeal off: a kubectl scale is seen within a second and left alone.
        started = time.monotonic()
        kubectl("scale", "-n", namespace, "deployment/web", "--replicas=5")

        async def out_of_sync() -> Any:
            s = await status_of(kube, namespace, "web")
            return s if s.sync.status.value == "OutOfSync" else None

        status = await eventually(out_of_sync, timeout=10, interval=0.05, what="OutOfSync")
        seen_after = time.monotonic() - started
        assert seen_after < 5.0, seen_after  # generous; bench/drift_latency.py has the number
        assert status.out_of_sync_since
        drifted = {r.name: r for r in status.resources if r.drift}
        assert list(drifted) == ["web"]
        assert drifted["web"].drift == ("/spec/replicas",)
        assert drifted["web"].drift_cause == "manual-edit"
        assert drifted["web"].drift_writer
        shown = tether(kubeconfig, "-n", namespace, "app", "get", "web")
        assert "/spec/replicas (manual-edit, " in shown.stdout, shown.stdout
        await asyncio.sleep(2)
        still = await status_of(kube, namespace, "web")
        assert still.sync.status.value == "OutOfSync"
        assert still.out_of_sync_since == status.out_of_sync_since
        live = await kube.get("apps/v1", "Deployment", "web", namespace)
        assert live is not None and live["spec"]["replicas"] == 5

        body = scrape(proc)
        since = sample_lines(body, "tether_app_out_of_sync_since_seconds")
        assert any(f'name="web",namespace="{namespace}"' in line for line in since), since
        drift_metric = sample_lines(body, "tether_drift_events_total")
        assert any('cause="manual-edit"' in line for line in drift_metric), drift_metric
        events = await kube.list("v1", "Event", namespace)
        drift_events = [e for e in events if e.get("reason") == "DriftDetected"]
        assert drift_events, [e.get("reason") for e in events]
        assert "manual-edit" in drift_events[0]["message"]
        assert "/spec/replicas" in drift_events[0]["message"]

        # selfHeal on: the controller restores Git's replicas and the app is Synced again.
        result = tether(kubeconfig, "-n", namespace, "app", "set", "web", "--self-heal")
        assert result.returncode == 0, result.stderr
        await wait_synced_healthy(kube, namespace, "web", head)
        live = await kube.get("apps/v1", "Deployment", "web", namespace)
        assert live is not None and live["spec"]["replicas"] == 2

        # And a kubectl edit with self-heal on is undone too.
        editor = tmp_path / "edit.sh"
        editor.write_text("#!/bin/sh\nsed -i 's#nginx:1.27#nginx:1.26#' \"$1\"\n")
        editor.chmod(0o755)
        kubectl("edit", "-n", namespace, "deployment/web", env={"KUBE_EDITOR": str(editor)})

        async def restored() -> bool:
            obj = await kube.get("apps/v1", "Deployment", "web", namespace)
            assert obj is not None
            return bool(obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27")

        await eventually(restored, timeout=30, what="image restored by self-heal")
        await wait_synced_healthy(kube, namespace, "web", head)
        events = await kube.list("v1", "Event", namespace)
        assert any(e.get("reason") == "SelfHeal" for e in events)


async def test_ignored_autoscaler_and_foreign_fields_do_not_flap(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"app/api.yaml": deployment("api")})
    head = repo.commit("api")
    ignore = [
        {
            "group": "apps",
            "kind": "Deployment",
            "managedFieldsManagers": ["horizontal-pod-autoscaler"],
        }
    ]
    await create_app(
        kube,
        application("api", namespace, repo.url, "app", syncPolicy=auto(), ignoreDifferences=ignore),
    )
    with controller(kubeconfig, namespace, tmp_path) as proc:
        await wait_synced_healthy(kube, namespace, "api", head)
        syncs_before = sample_lines(scrape(proc), "tether_app_sync_total")
        for replicas in (3, 4, 5):
            await kube.patch(
                "apps/v1",
                "Deployment",
                "api",
                {"spec": {"replicas": replicas}},
                namespace=namespace,
                field_manager="horizontal-pod-autoscaler",
                subresource="scale",
            )
            await asyncio.sleep(0.3)
        # A mutating-webhook-style field written by another manager is not ours to compare.
        await kube.patch(
            "apps/v1",
            "Deployment",
            "api",
            {"metadata": {"labels": {"injected-by": "policy-engine"}}},
            namespace=namespace,
            field_manager="policy-webhook",
        )
        for _ in range(12):
            s = await status_of(kube, namespace, "api")
            assert s.sync.status.value == "Synced", s
            await asyncio.sleep(0.25)
        live = await kube.get("apps/v1", "Deployment", "api", namespace)
        assert live is not None and live["spec"]["replicas"] == 5  # the autoscaler's value stays
        assert sample_lines(scrape(proc), "tether_app_sync_total") == syncs_before


async def test_new_commits_arrive_by_polling_and_by_signed_webhook(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    # Two repositories: one fetch per repository serves every app of it, so an app that
    # only learns of commits by webhook needs a repository of its own.
    pushed = GitopsRepo(tmp_path, name="pushed")
    repo.write({"polled/cm.yaml": configmap("polled", "1")})
    pushed.write({"hooked/cm.yaml": configmap("hooked", "1")})
    head = repo.commit("v1")
    pushed_head = pushed.commit("v1")
    await create_app(
        kube, application("polled", namespace, repo.url, "polled", syncPolicy=auto(), interval="2s")
    )
    await create_app(
        kube,
        application("hooked", namespace, pushed.url, "hooked", syncPolicy=auto(), interval="1h"),
    )
    with controller(kubeconfig, namespace, tmp_path) as proc:
        await wait_synced_healthy(kube, namespace, "polled", head)
        await wait_synced_healthy(kube, namespace, "hooked", pushed_head)

        repo.write({"polled/cm.yaml": configmap("polled", "2")})
        pushed.write({"hooked/cm.yaml": configmap("hooked", "2")})
        v2 = repo.commit("v2")
        pushed_v2 = pushed.commit("v2")
        await wait_synced_healthy(kube, namespace, "polled", v2, timeout=30)
        cm = await kube.get("v1", "ConfigMap", "polled", namespace)
        assert cm is not None and cm["data"]["v"] == "2"

        payload = json.dumps(
            {"ref": "refs/heads/main", "repository": {"clone_url": pushed.url}}
        ).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
        assert proc.post_webhook(payload, headers)[0] == 401  # unsigned
        bad = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
        assert proc.post_webhook(payload, bad)[0] == 401  # wrongly signed
        await asyncio.sleep(2)
        s = await status_of(kube, namespace, "hooked")
        assert s.sync.revision == pushed_head  # nothing fetched: the app still runs v1
        signature = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
        signed = {**headers, "X-Hub-Signature-256": f"sha256={signature}"}
        started = time.monotonic()
        code, body = proc.post_webhook(payload, signed)
        assert code == 200, body
        await wait_synced_healthy(kube, namespace, "hooked", pushed_v2, timeout=20)
        assert time.monotonic() - started < 15
        cm = await kube.get("v1", "ConfigMap", "hooked", namespace)
        assert cm is not None and cm["data"]["v"] == "2"
        # A GitLab push with the right token works too; a body over the limit is refused.
        gitlab = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}
        gl_payload = json.dumps({"ref": "refs/heads/main", "project": {"git_http_url": pushed.url}})
        assert proc.post_webhook(gl_payload.encode(), gitlab)[0] == 200
        assert proc.post_webhook_declaring(1024 * 1024 + 1, signed) == 413


async def test_suspend_resume_and_reconcile_with_source(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    repo.write({"app/web.yaml": deployment("web")})
    head = repo.commit("web")
    await create_app(
        kube, application("web", namespace, repo.url, "app", syncPolicy=auto(), interval="1h")
    )
    ns = ["-n", namespace]
    with controller(kubeconfig, namespace, tmp_path):
        await wait_synced_healthy(kube, namespace, "web", head)
        assert tether(kubeconfig, *ns, "app", "suspend", "web").returncode == 0
        kubectl("scale", "-n", namespace, "deployment/web", "--replicas=4")

        async def out_of_sync() -> Any:
            s = await status_of(kube, namespace, "web")
            return s if s.sync.status.value == "OutOfSync" else None

        await eventually(out_of_sync, timeout=10, what="OutOfSync while suspended")
        await asyncio.sleep(3)
        live = await kube.get("apps/v1", "Deployment", "web", namespace)
        assert live is not None and live["spec"]["replicas"] == 4  # no self-heal
        assert (await status_of(kube, namespace, "web")).sync.status.value == "OutOfSync"

        assert tether(kubeconfig, *ns, "app", "resume", "web").returncode == 0
        await wait_synced_healthy(kube, namespace, "web", head)
        live = await kube.get("apps/v1", "Deployment", "web", namespace)
        assert live is not None and live["spec"]["replicas"] == 2

        # The poll interval is an hour: only `reconcile --with-source` fetches the commit.
        repo.write({"app/web.yaml": deployment("web", replicas=3)})
        v2 = repo.commit("three replicas")
        result = tether(kubeconfig, *ns, "app", "reconcile", "web", "--with-source", timeout=120)
        assert result.returncode == 0, result.stderr
        assert "reconciled: Synced" in result.stderr, result.stderr
        app = await get_app(kube, namespace, "web")
        assert app.status is not None and app.status.sync.revision == v2
        live = await kube.get("apps/v1", "Deployment", "web", namespace)
        assert live is not None and live["spec"]["replicas"] == 3


async def test_reconcile_without_a_controller_times_out_with_exit_1(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"app/cm.yaml": configmap("x", "1")})
    repo.commit("x")
    await create_app(kube, application("lonely", namespace, repo.url, "app"))
    result = tether(kubeconfig, "-n", namespace, "app", "reconcile", "lonely", "--timeout", "1")
    assert result.returncode == 1, result.stderr
    assert "did not handle the reconcile request" in result.stderr


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.GROUP}
spec:
  group: GROUP
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


async def test_depends_on_waits_for_the_crd_app(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    tmp_path: Path,
    open_project: str,
) -> None:
    group = f"{namespace}.example.com"
    repo.write(
        {
            "crds/crd.yaml": CRD.replace("GROUP", group),
            "widgets/w.yaml": f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1}}\n",
        }
    )
    head = repo.commit("crd and widget")
    await create_app(
        kube,
        application(
            "widgets",
            namespace,
            repo.url,
            "widgets",
            syncPolicy=auto(),
            dependsOn=[{"name": "crds"}],
        ),
    )
    # A CRD is cluster-scoped: the default project refuses it.
    crds = application("crds", namespace, repo.url, "crds", project=open_project)
    await create_app(kube, crds)  # manual for now
    try:
        with controller(kubeconfig, namespace, tmp_path):
            condition = await eventually(
                lambda: condition_of(kube, namespace, "widgets", "WaitingForDependencies"),
                timeout=30,
                what="WaitingForDependencies",
            )
            assert "crds" in condition.message
            await asyncio.sleep(1)
            s = await status_of(kube, namespace, "widgets")
            assert s.operation_state is None  # not synced while the CRD app is not Healthy

            assert (
                tether(
                    kubeconfig, "-n", namespace, "app", "set", "crds", "--sync-policy", "automated"
                ).returncode
                == 0
            )
            crds = await wait_synced_healthy(kube, namespace, "crds", head)
            widgets = await wait_synced_healthy(kube, namespace, "widgets", head)
            assert crds.status is not None and crds.status.operation_state is not None
            assert widgets.status is not None and widgets.status.operation_state is not None
            assert str(widgets.status.operation_state.started_at) >= str(
                crds.status.operation_state.finished_at
            )
            assert not [c for c in widgets.status.conditions if c.type == "WaitingForDependencies"]
    finally:
        await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}")


async def test_metrics_families_and_deleted_apps_disappear(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"a/cm.yaml": configmap("a", "1"), "b/cm.yaml": configmap("b", "1")})
    head = repo.commit("a and b")
    await create_app(kube, application("alpha", namespace, repo.url, "a", syncPolicy=auto()))
    await create_app(kube, application("beta", namespace, repo.url, "b"))
    with controller(kubeconfig, namespace, tmp_path) as proc:
        await wait_synced_healthy(kube, namespace, "alpha", head)

        async def beta_compared() -> bool:
            s = await status_of(kube, namespace, "beta")
            return s is not None and s.sync.status.value == "OutOfSync"

        await eventually(beta_compared, timeout=30, what="beta compared")
        # Idle apps cause no status writes (no resourceVersion churn).
        await asyncio.sleep(1)
        before = await kube.get("tether.dev/v1alpha1", "Application", "alpha", namespace)
        await asyncio.sleep(3)
        after = await kube.get("tether.dev/v1alpha1", "Application", "alpha", namespace)
        assert before is not None and after is not None
        assert before["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]
        body = scrape(proc)
        info = sample_lines(body, "tether_app_info")
        alpha = [line for line in info if 'name="alpha"' in line]
        assert len(alpha) == 1, info
        for label in (
            f'namespace="{namespace}"',
            f'repo="{repo.url}"',
            f'dest_namespace="{namespace}"',
            'cluster="in-cluster"',
            'sync_status="Synced"',
            'health_status="Healthy"',
            'autosync_enabled="true"',
            'suspended="false"',
            'operation="Succeeded"',
        ):
            assert label in alpha[0], (label, alpha[0])
        beta = [line for line in info if 'name="beta"' in line]
        assert 'sync_status="OutOfSync"' in beta[0] and 'autosync_enabled="false"' in beta[0]
        for family in (
            "tether_app_resources",
            "tether_app_sync_total",
            "tether_break_glass_active",
            "tether_history_rewritten",
            "tether_app_out_of_sync_since_seconds",
        ):
            assert sample_lines(body, family), family
        assert "tether_app_reconcile_seconds_bucket" in body
        assert 'tether_app_sync_total{name="alpha",namespace="' in body
        assert proc.get("/healthz")[0] == 200

        await kube.delete("tether.dev/v1alpha1", "Application", "alpha", namespace)

        async def alpha_gone() -> bool:
            return 'name="alpha"' not in scrape(proc)

        await eventually(alpha_gone, timeout=10, what="alpha gone from /metrics")


async def test_crash_in_the_middle_of_a_sync_is_resumed_without_duplicate_history(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    label = f"tether-test-{namespace}"[:63]
    stuck = f"\n      nodeSelector: {{{label}: 'yes'}}"
    repo.write(
        {
            "app/a.yaml": deployment("slow", replicas=1, extra=stuck),
            "app/b.yaml": configmap("after", "1").replace(
                "metadata: {name: after}",
                "metadata: {name: after, annotations: {tether.dev/sync-wave: '1'}}",
            ),
        }
    )
    head = repo.commit("a deployment that cannot schedule yet")
    await create_app(
        kube, application("slow", namespace, repo.url, "app", syncPolicy=auto(), timeout="5m")
    )
    first = controller(kubeconfig, namespace, tmp_path, name="first")
    second = controller(kubeconfig, namespace, tmp_path, name="second")
    nodes = [n["metadata"]["name"] for n in await kube.list("v1", "Node")]
    try:
        first.start()

        async def running() -> Any:
            s = await status_of(kube, namespace, "slow")
            state = s.operation_state if s else None
            return state if state is not None and state.phase.value == "Running" else None

        await eventually(running, timeout=30, what="the sync to be Running")
        await asyncio.sleep(1)
        first.kill()  # SIGKILL: no chance to finish or record anything
        s = await status_of(kube, namespace, "slow")
        assert s.operation_state.phase.value == "Running"
        for node in nodes:
            kubectl("label", "node", node, f"{label}=yes", "--overwrite")
        second.start()
        await wait_synced_healthy(kube, namespace, "slow", head, timeout=120)

        async def recorded() -> Any:
            # History is written right after the operation's final status.
            found = await get_app(kube, namespace, "slow")
            return found if found.status and found.status.history else None

        app = await eventually(recorded, timeout=30, what="the history entry")
        await asyncio.sleep(1)
        app = await get_app(kube, namespace, "slow")
        assert app.status is not None and app.status.operation_state is not None
        assert app.status.operation_state.phase.value == "Succeeded"
        assert [h.revision for h in app.status.history] == [head]  # recorded once
        events = await kube.list("v1", "Event", namespace)
        assert any(e.get("reason") == "SyncInterrupted" for e in events)
        # tether's own interrupted writes are finished, not reported as drift.
        own = [
            e["message"]
            for e in events
            if e.get("reason") == "DriftDetected" and "writer tether)" in e.get("message", "")
        ]
        assert own == []
        assert await kube.get("v1", "ConfigMap", "after", namespace) is not None
    finally:
        first.kill()
        second.stop()
        for node in nodes:
            kubectl("label", "node", node, f"{label}-", check=False)


async def test_two_shards_split_the_apps_and_take_over_a_dead_one(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    # Three apps per shard (the hash depends on the random namespace name).
    by_shard: dict[int, list[str]] = {0: [], 1: []}
    for i in range(100):
        shard = shard_of(namespace, f"app{i}", 2)
        if len(by_shard[shard]) < 3:
            by_shard[shard].append(f"app{i}")
    names = by_shard[0] + by_shard[1]
    assert len(names) == 6
    repo.write({f"{n}/cm.yaml": configmap(f"cm-{n}", "1") for n in names})
    head = repo.commit("six apps")
    for name in names:
        await create_app(kube, application(name, namespace, repo.url, name, syncPolicy=auto()))
    zero = controller(kubeconfig, namespace, tmp_path, "--shards", "2", "--shard", "0", name="s0")
    one = controller(kubeconfig, namespace, tmp_path, "--shards", "2", "--shard", "1", name="s1")
    try:
        zero.start()
        one.start()
        for name in names:
            await wait_synced_healthy(kube, namespace, name, head)

        def owned(proc: ControllerProcess) -> set[str]:
            lines = sample_lines(scrape(proc), "tether_app_info")
            return {n for n in names for line in lines if f'name="{n}"' in line}

        async def split() -> tuple[set[str], set[str]] | None:
            a, b = owned(zero), owned(one)
            return (a, b) if a | b == set(names) and not a & b and a and b else None

        first, second = await eventually(split, timeout=30, what="apps split between shards")
        assert (sorted(first), sorted(second)) == (sorted(by_shard[0]), sorted(by_shard[1]))
        leases = {
            lease["metadata"]["name"]
            for lease in await kube.list("coordination.k8s.io/v1", "Lease", namespace)
        }
        assert {"tether-controller-shard-0", "tether-controller-shard-1"} <= leases

        one.kill()
        killed_at = time.monotonic()

        async def taken_over() -> bool:
            return owned(zero) == set(names)

        await eventually(taken_over, timeout=30, interval=0.2, what="shard 0 takes over shard 1")
        assert time.monotonic() - killed_at < 4 * 2 + 5  # within about two Lease durations
        # The survivor heals an app of the dead shard.
        victim = sorted(second)[0]
        kubectl("patch", "-n", namespace, f"configmap/cm-{victim}", "-p", '{"data":{"v":"x"}}')

        async def healed() -> bool:
            cm = await kube.get("v1", "ConfigMap", f"cm-{victim}", namespace)
            return cm is not None and cm["data"]["v"] == "1"

        await eventually(healed, timeout=30, what="the survivor heals the dead shard's app")
        assert first  # shard 0 kept its own apps throughout

        # Shard 1's replica comes back: the stand-in hands its Lease over.
        back = controller(
            kubeconfig, namespace, tmp_path, "--shards", "2", "--shard", "1", name="s1-again"
        )
        try:
            back.start()

            async def split_again() -> bool:
                a, b = owned(zero), owned(back)
                return a == first and b == second

            await eventually(split_again, timeout=30, interval=0.3, what="shard 1 handed back")
        finally:
            back.stop()
    finally:
        zero.stop()
        one.kill()


async def test_force_push_freezes_auto_sync_and_break_glass_is_not_undone(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"app/cm.yaml": configmap("settings", "1")})
    v1 = repo.commit("v1")
    await create_app(
        kube, application("web", namespace, repo.url, "app", syncPolicy=auto(), interval="2s")
    )
    ns = ["-n", namespace]
    with controller(kubeconfig, namespace, tmp_path) as proc:
        await wait_synced_healthy(kube, namespace, "web", v1)
        repo.write({"app/cm.yaml": configmap("settings", "2")})
        v2 = repo.commit("v2")
        await wait_synced_healthy(kube, namespace, "web", v2, timeout=30)

        # Someone rewrites main: v3 does not descend from v2, the synced revision.
        git("reset", "-q", "--hard", v1, cwd=repo.work)
        repo.write({"app/cm.yaml": configmap("settings", "3")})
        git("add", "-A", cwd=repo.work)
        git("commit", "-q", "-m", "v3 on a rewritten main", cwd=repo.work)
        git("push", "-q", "--force", "origin", "main", cwd=repo.work)
        v3 = git("rev-parse", "HEAD", cwd=repo.work).strip()

        condition = await eventually(
            lambda: condition_of(kube, namespace, "web", "HistoryRewritten"),
            timeout=10,
            what="HistoryRewritten",
        )
        assert v3[:8] in condition.message
        await asyncio.sleep(3)  # more than one poll interval: still nothing auto-synced
        app = await get_app(kube, namespace, "web")
        assert app.status is not None and app.status.operation_state is not None
        assert app.status.operation_state.revision == v2
        cm = await kube.get("v1", "ConfigMap", "settings", namespace)
        assert cm is not None and cm["data"]["v"] == "2"
        rewritten = sample_lines(scrape(proc), "tether_history_rewritten")
        assert any(line.endswith(" 1.0") for line in rewritten), rewritten
        events = await kube.list("v1", "Event", namespace)
        assert any(e.get("reason") == "HistoryRewritten" for e in events)

        # An explicit sync of the new head is the human decision that clears it.
        result = tether(kubeconfig, *ns, "app", "sync", "web", cache=tmp_path / "cli")
        assert result.returncode == 0, result.stderr
        app = await wait_synced_healthy(kube, namespace, "web", v3, timeout=30)
        assert app.status is not None
        assert not [c for c in app.status.conditions if c.type == "HistoryRewritten"]

        # Break-glass back to v2's manifests: the controller must not re-apply Git's v3.
        history = app.status.history
        target = next(h.id for h in history if h.revision == v2)
        result = tether(
            kubeconfig,
            *ns,
            "app",
            "rollback",
            "web",
            str(target),
            "--disable-auto-sync",
            cache=tmp_path / "cli",
        )
        assert result.returncode == 0, result.stderr
        await asyncio.sleep(3)
        cm = await kube.get("v1", "ConfigMap", "settings", namespace)
        assert cm is not None and cm["data"]["v"] == "2"
        glass = sample_lines(scrape(proc), "tether_break_glass_active")
        assert any(line.endswith(" 1.0") for line in glass), glass


async def test_a_self_heal_that_keeps_being_undone_backs_off_and_says_so(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"app/cm.yaml": configmap("settings", "1")})
    head = repo.commit("v1")
    await create_app(kube, application("fought", namespace, repo.url, "app", syncPolicy=auto()))
    stop = asyncio.Event()

    async def rogue_controller() -> None:
        # Another writer that puts its value back as soon as tether heals it.
        while not stop.is_set():
            cm = await kube.get("v1", "ConfigMap", "settings", namespace)
            if cm is not None and cm.get("data", {}).get("v") != "rogue":
                await kube.patch(
                    "v1",
                    "ConfigMap",
                    "settings",
                    {"data": {"v": "rogue"}},
                    namespace=namespace,
                    field_manager="rogue-controller",
                )
            await asyncio.sleep(0.2)

    with controller(kubeconfig, namespace, tmp_path):
        await wait_synced_healthy(kube, namespace, "fought", head)
        fight = asyncio.create_task(rogue_controller())
        started = time.monotonic()
        try:
            condition = await eventually(
                lambda: condition_of(kube, namespace, "fought", "SelfHealFailing"),
                timeout=40,
                what="SelfHealFailing",
            )
            assert "self-heal ran 3 times" in condition.message
            elapsed = time.monotonic() - started
            assert elapsed > 2 + 6 - 1  # heal, then 2 s, then 6 s: backed off, not a hot loop
            await asyncio.sleep(2)
            events = await kube.list("v1", "Event", namespace)
            heals = [e for e in events if e.get("reason") == "SelfHeal"]
            assert 3 <= len(heals) <= 4, [e.get("message") for e in heals]
            assert any(e.get("reason") == "SelfHealFailing" for e in events)
        finally:
            stop.set()
            await fight


async def test_an_unreachable_git_remote_is_a_condition_and_drift_is_still_seen(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"app/cm.yaml": configmap("settings", "1")})
    head = repo.commit("v1")
    await create_app(
        kube,
        application(
            "offline", namespace, repo.url, "app", syncPolicy=auto(self_heal=False), interval="1s"
        ),
    )
    moved = repo.bare.with_name("moved-away.git")
    with controller(kubeconfig, namespace, tmp_path):
        await wait_synced_healthy(kube, namespace, "offline", head)
        repo.bare.rename(moved)
        try:
            condition = await eventually(
                lambda: condition_of(kube, namespace, "offline", "SourceError"),
                timeout=20,
                what="SourceError",
            )
            assert "gitops.git" in condition.message
            await kube.patch(
                "v1",
                "ConfigMap",
                "settings",
                {"data": {"v": "changed"}},
                namespace=namespace,
                field_manager="kubectl-edit",
            )

            async def drift_seen() -> bool:
                s = await status_of(kube, namespace, "offline")
                return bool(s.sync.status.value == "OutOfSync" and s.sync.revision == head)

            await eventually(drift_seen, timeout=10, what="drift seen with Git down")
        finally:
            moved.rename(repo.bare)

        async def cleared() -> bool:
            return await condition_of(kube, namespace, "offline", "SourceError") is None

        await eventually(cleared, timeout=20, what="SourceError cleared")


async def test_a_sync_left_running_by_a_dead_cli_is_marked_abandoned(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"app/cm.yaml": configmap("settings", "1")})
    repo.commit("v1")
    app = await create_app(kube, application("orphan", namespace, repo.url, "app"))
    stale = ApplicationStatus(
        operation_state=OperationState(
            OperationPhase.RUNNING, None, "2026-01-01T00:00:00Z", None, "sync started", "cli:dana"
        )
    )
    await apply_status(kube, app, stale, None)  # a CLI killed in the middle of its sync
    with controller(kubeconfig, namespace, tmp_path):

        async def abandoned() -> Any:
            s = await status_of(kube, namespace, "orphan")
            state = s.operation_state
            return state if state is not None and state.phase.value == "Failed" else None

        state = await eventually(abandoned, timeout=20, what="the Running sync marked failed")
        assert state.message.startswith("abandoned: cli:dana stopped during the sync")

        async def told() -> bool:  # the Event follows the status write
            events = await kube.list("v1", "Event", namespace)
            return any(e.get("reason") == "SyncInterrupted" for e in events)

        await eventually(told, timeout=10, what="the SyncInterrupted Event")


async def test_a_refused_auto_sync_is_recorded_once_not_retried_in_a_loop(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({f"app/cm{i}.yaml": configmap(f"cm{i}", "1") for i in range(4)})
    head = repo.commit("four")
    await create_app(
        kube, application("guarded", namespace, repo.url, "app", syncPolicy=auto(), interval="1s")
    )
    with controller(kubeconfig, namespace, tmp_path):
        await wait_synced_healthy(kube, namespace, "guarded", head)
        repo.remove("app/cm1.yaml", "app/cm2.yaml", "app/cm3.yaml")
        smaller = repo.commit("drop three of four")

        async def refused() -> Any:
            s = await status_of(kube, namespace, "guarded")
            state = s.operation_state
            ok = state is not None and state.revision == smaller and state.phase.value == "Error"
            return state if ok else None

        state = await eventually(refused, timeout=30, what="the prune guard's refusal")
        assert "refused" in (state.message or "")
        assert await condition_of(kube, namespace, "guarded", "SyncError") is not None
        await asyncio.sleep(4)  # several poll intervals and reconciles
        events = await kube.list("v1", "Event", namespace)
        assert [e.get("reason") for e in events].count("SyncRefused") == 1
        for i in range(4):  # nothing was pruned
            assert await kube.get("v1", "ConfigMap", f"cm{i}", namespace) is not None


async def test_a_stopped_controller_leaves_no_credential_files(
    kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    # The kubeconfig's inline client key is written to a file for TLS, in a directory of
    # the controller's own (here under the test's TMPDIR), removed when it stops.
    with controller(kubeconfig, namespace, tmp_path) as proc:
        made = list(tmp_path.glob("tether-kube-*/*"))
        assert made, "the local cluster's kubeconfig carries inline credentials"
        assert any(b"PRIVATE KEY" in path.read_bytes() for path in made)
        proc.stop()
        assert proc.proc is not None and proc.proc.returncode is not None
    assert list(tmp_path.glob("tether-kube-*")) == []
