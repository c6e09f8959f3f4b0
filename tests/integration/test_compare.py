"""Compare against the real control plane: a 34-object corpus applied by kubectl is Synced,
and each kind of drift marks exactly the object that drifted, with the right paths."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import corpus
from tests.support.apps import application
from tests.support.githttp import GitHttpServer, git
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.core.diff import Verdict, unified_diff
from tether.engine.apps import ClusterApplicationStore, create_app, get_app, write_status
from tether.engine.compare import Comparison, Engine, compare
from tether.engine.sync import SyncRequest, sync_app
from tether.kube import KubeClient
from tether.model.application import Application
from tether.model.keys import ResourceKey

Kubectl = Callable[..., Any]


def kubectl_apply(kubectl: Kubectl, objects: list[dict[str, Any]], tmp_path: Path) -> None:
    """Apply the manifests tether would apply, with the real kubectl, CRDs first."""
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
    for batch, name in ((crds, "crds.yaml"), (rest, "objects.yaml")):
        if not batch:
            continue
        path = tmp_path / name
        path.write_text(yaml.safe_dump_all(batch))
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
        if batch is crds:
            for crd in crds:
                kubectl(
                    "wait",
                    "--for=condition=Established",
                    f"crd/{crd['metadata']['name']}",
                    "--timeout=30s",
                )


def out_of_sync(result: Comparison) -> dict[str, tuple[str, list[str]]]:
    assert result.error is None, result.error
    assert result.diff is not None
    return {
        f"{d.key.kind}/{d.key.name}": (d.verdict.value, d.paths) for d in result.diff.out_of_sync
    }


def count_dry_runs(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the objects the engine dry-runs from now on, in order."""
    dry_runs: list[str] = []
    real_apply = engine.kube.apply

    async def counting_apply(obj: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if kwargs.get("dry_run"):
            dry_runs.append(obj["metadata"]["name"])
        return await real_apply(obj, **kwargs)

    monkeypatch.setattr(engine.kube, "apply", counting_apply)
    return dry_runs


async def settle(
    engine: Engine, app: Application, expected: dict[str, tuple[str, list[str]]]
) -> Comparison:
    """Compare until the watch cache has seen the change (a few ms) and the result matches."""
    last: list[Comparison] = []

    async def matches() -> bool:
        last[:] = [await compare(engine, app)]
        return out_of_sync(last[0]) == expected

    try:
        await eventually(matches, timeout=10, interval=0.2, what=f"out of sync == {expected}")
    except AssertionError:
        assert out_of_sync(last[0]) == expected  # shows the difference
    return last[0]


async def test_corpus_synced_then_each_drift_is_exact(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    kubectl: Kubectl,
    repo: GitopsRepo,
    tmp_path: Path,
    open_project: str,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    repo.write(corpus.shop_directory(suffix) | corpus.CHART | corpus.KUSTOMIZE)
    repo.commit("shop, cache chart, frontend overlay")
    # CRDs and a ClusterRole: cluster-scoped kinds need a Project that allows them.
    project = open_project
    shop = application(
        "shop",
        namespace,
        repo.url,
        "apps/shop",
        source={"directory": {"recurse": True}},
        project=project,
    )
    cache = application(
        "cache",
        namespace,
        repo.url,
        "charts/shop-cache",
        source={
            "helm": {
                "valueFiles": ["values-prod.yaml"],
                "values": "maxMemory: 512mb\n",
                "parameters": [{"name": "image", "value": "redis:7.4.1"}],
            }
        },
    )
    frontend = application("frontend", namespace, repo.url, "kustomize/overlays/prod")
    apps = [shop, cache, frontend]
    try:
        total = 0
        for app in apps:
            await create_app(kube, app)
            first = await compare(engine, app)
            assert first.error is None, first.error
            assert first.diff is not None and {d.verdict for d in first.diff.objects} == {
                Verdict.MISSING
            }
            kubectl_apply(kubectl, first.desired, tmp_path)
            synced = await settle(engine, app, {})
            assert synced.diff is not None
            assert all(d.verdict is Verdict.SYNCED and d.paths == [] for d in synced.diff.objects)
            total += len(synced.diff.objects)
        assert total >= 30

        helm_objects = {o["kind"]: o for o in (await compare(engine, cache)).desired}
        assert helm_objects["Deployment"]["spec"]["replicas"] == 2  # value file
        assert helm_objects["ConfigMap"]["data"]["maxmemory"] == "512mb"  # inline values
        assert (
            helm_objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
            == "redis:7.4.1"
        )

        # Status is written to the Application: Synced, with every resource listed.
        result = await compare(engine, shop)
        assert result.status is not None
        await write_status(
            ClusterApplicationStore(kube), await get_app(kube, namespace, "shop"), result.status
        )
        stored = await get_app(kube, namespace, "shop")
        assert stored.status is not None and stored.status.sync.status.value == "Synced"
        assert stored.status.sync.revision == result.revision
        assert len(stored.status.resources) == len(result.desired)
        assert stored.status.out_of_sync_since is None

        # 1. kubectl scale
        kubectl("scale", "deployment/api", "-n", namespace, "--replicas=5")
        result = await settle(engine, shop, {"Deployment/api": ("OutOfSync", ["/spec/replicas"])})
        await write_status(
            ClusterApplicationStore(kube), await get_app(kube, namespace, "shop"), result.status
        )
        stored = await get_app(kube, namespace, "shop")
        assert stored.status is not None and stored.status.sync.status.value == "OutOfSync"
        assert stored.status.out_of_sync_since
        drifted = [r for r in stored.status.resources if r.drift]
        assert [(r.kind, r.name, r.drift) for r in drifted] == [
            ("Deployment", "api", ("/spec/replicas",))
        ]
        kubectl_apply(kubectl, result.desired, tmp_path)
        await settle(engine, shop, {})

        # 2. kubectl edit of an image
        editor = tmp_path / "edit.sh"
        editor.write_text("#!/bin/sh\nsed -i 's#worker:1.9.0#worker:1.9.1-hotfix#' \"$1\"\n")
        editor.chmod(0o755)
        kubectl("edit", "deployment/worker", "-n", namespace, env={"KUBE_EDITOR": str(editor)})
        result = await settle(
            engine,
            shop,
            {"Deployment/worker": ("OutOfSync", ["/spec/template/spec/containers/0/image"])},
        )
        kubectl_apply(kubectl, result.desired, tmp_path)
        await settle(engine, shop, {})

        # 3. a label added (in Git, not yet applied)
        api = repo.work / "apps/shop/api.yaml"
        api.write_text(
            api.read_text().replace(
                "labels: {app: api, tier: web}\nspec:",
                "labels: {app: api, tier: web, team: payments}\nspec:",
                1,
            )
        )
        repo.commit("label the api deployment")
        result = await settle(
            engine, shop, {"Deployment/api": ("OutOfSync", ["/metadata/labels/team"])}
        )
        kubectl_apply(kubectl, result.desired, tmp_path)
        await settle(engine, shop, {})

        # 4. a Secret key changed live; the diff never shows the values
        kubectl(
            "patch",
            "secret",
            "api-token",
            "-n",
            namespace,
            "-p",
            '{"data":{"token":"cm90YXRlZA=="}}',
        )
        result = await settle(engine, shop, {"Secret/api-token": ("OutOfSync", ["/data/token"])})
        assert result.diff is not None
        text = "\n".join(unified_diff(d) for d in result.diff.out_of_sync)
        assert "*** (changed)" in text
        for secret in ("c2VjcmV0LXRva2Vu", "cm90YXRlZA==", "secret-token", "rotated"):
            assert secret not in text
        kubectl_apply(kubectl, result.desired, tmp_path)
        await settle(engine, shop, {})

        # 5. a stringData key removed from Git stays live: OutOfSync, not silently Synced
        secrets = repo.work / "apps/shop/data/secrets.yaml"
        secrets.write_text(secrets.read_text().replace("  legacy-key: to-be-removed\n", ""))
        repo.commit("drop legacy-key")
        result = await settle(
            engine, shop, {"Secret/db-credentials": ("OutOfSync", ["/data/legacy-key"])}
        )
        kubectl(
            "patch",
            "secret",
            "db-credentials",
            "-n",
            namespace,
            "--type=json",
            "-p",
            '[{"op":"remove","path":"/data/legacy-key"}]',
        )
        await settle(engine, shop, {})

        # 6. an object deleted
        kubectl("delete", "configmap", "feature-flags", "-n", namespace)
        result = await settle(engine, shop, {"ConfigMap/feature-flags": ("Missing", [])})
        kubectl_apply(kubectl, result.desired, tmp_path)
        await settle(engine, shop, {})

        # 7. an extra object carrying our tracking id
        stray = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "stray",
                "namespace": namespace,
                "annotations": {
                    "tether.dev/tracking-id": f"{namespace}/shop:/ConfigMap:{namespace}/stray"
                },
            },
            "data": {"a": "b"},
        }
        (tmp_path / "stray.yaml").write_text(yaml.safe_dump(stray))
        kubectl("apply", "-f", str(tmp_path / "stray.yaml"))
        await settle(engine, shop, {"ConfigMap/stray": ("Extraneous", [])})
        # ...but one whose tracking id names another object is not ours
        stray["metadata"]["name"] = "impostor"
        (tmp_path / "impostor.yaml").write_text(yaml.safe_dump(stray))
        kubectl("apply", "-f", str(tmp_path / "impostor.yaml"))
        await settle(engine, shop, {"ConfigMap/stray": ("Extraneous", [])})
    finally:
        for kind in ("clusterrole", "clusterrolebinding"):
            kubectl(
                "delete",
                kind,
                f"shop-aggregate-{suffix}",
                f"shop-view-{suffix}",
                "--ignore-not-found",
                check=False,
            )
        kubectl("delete", "crd", f"widgets.{suffix}.example.dev", "--ignore-not-found", check=False)


HPA_APP = {
    "apps/web/web.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
""",
}


@pytest.mark.parametrize(
    "rule",
    [
        {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
        {"group": "apps", "kind": "Deployment", "jqPathExpressions": [".spec.replicas"]},
        {"group": "*", "kind": "*", "managedFieldsManagers": ["horizontal-pod-autoscaler"]},
    ],
    ids=["pointer", "jq", "managedFieldsManagers"],
)
async def test_ignore_differences_silence_hpa_replicas(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    kubectl: Kubectl,
    repo: GitopsRepo,
    tmp_path: Path,
    rule: dict[str, Any],
) -> None:
    repo.write(HPA_APP)
    repo.commit("web")
    app = application("web", namespace, repo.url, "apps/web")
    await create_app(kube, app)
    first = await compare(engine, app)
    kubectl_apply(kubectl, first.desired, tmp_path)
    await settle(engine, app, {})
    # The HPA controller writes replicas through the scale subresource as its own manager.
    await kube.patch(
        "apps/v1",
        "Deployment",
        "web",
        {"spec": {"replicas": 6}},
        namespace=namespace,
        field_manager="horizontal-pod-autoscaler",
        subresource="scale",
    )
    await settle(engine, app, {"Deployment/web": ("OutOfSync", ["/spec/replicas"])})

    ignoring = application("web", namespace, repo.url, "apps/web", ignoreDifferences=[rule])
    await create_app(kube, ignoring, upsert=True)
    await settle(engine, await get_app(kube, namespace, "web"), {})


async def test_warm_compare_reuses_dry_runs_until_live_or_git_changes(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    kubectl: Kubectl,
    repo: GitopsRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo.write(
        HPA_APP | {"apps/web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"}
    )
    repo.commit("web")
    app = application("web", namespace, repo.url, "apps/web")
    await create_app(kube, app)
    kubectl_apply(kubectl, (await compare(engine, app)).desired, tmp_path)
    await settle(engine, app, {})

    dry_runs = count_dry_runs(engine, monkeypatch)
    # The controllers may still write the new objects' metadata (under load, a moment
    # after they are Synced): wait until the live objects stop moving.
    for _ in range(20):
        dry_runs.clear()
        assert out_of_sync(await compare(engine, app)) == {}
        if not dry_runs:
            break
        await asyncio.sleep(0.5)
    dry_runs.clear()
    assert out_of_sync(await compare(engine, app)) == {}
    assert dry_runs == []  # nothing changed: every prediction is reused
    kubectl("scale", "deployment/web", "-n", namespace, "--replicas=3")
    await settle(engine, app, {"Deployment/web": ("OutOfSync", ["/spec/replicas"])})
    assert set(dry_runs) == {"web"}  # only the object whose resourceVersion moved
    dry_runs.clear()
    await compare(engine, app, hard_refresh=True)
    assert sorted(dry_runs) == ["c", "web"]  # a hard refresh asks the API server again


async def test_after_a_sync_other_writers_fields_need_no_dry_run_but_tethers_do(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    kubectl: Kubectl,
    repo: GitopsRepo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the apply stored answers the next compare; a later write by someone else to a
    # field tether does not own (a label, the Deployment controller's revision annotation)
    # leaves that answer good, one to a field tether applied does not.
    repo.write(
        {
            "apps/web/cm.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: '1'\n"
            )
        }
    )
    repo.commit("web")
    app = application("web", namespace, repo.url, "apps/web")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest())).succeeded
    dry_runs = count_dry_runs(engine, monkeypatch)
    await settle(engine, app, {})
    assert dry_runs == []  # the apply's answer
    kubectl("label", "configmap/c", "-n", namespace, "seen-by=someone")

    async def labelled() -> bool:
        live = engine.cache.get(ResourceKey("", "ConfigMap", namespace, "c")) or {}
        return "seen-by" in (live.get("metadata") or {}).get("labels", {})

    await eventually(labelled, what="the label in the watch cache")
    assert out_of_sync(await compare(engine, app)) == {}
    assert dry_runs == []  # someone else's field: the same answer holds
    kubectl("patch", "configmap/c", "-n", namespace, "-p", '{"data":{"a":"2"}}')
    await settle(engine, app, {"ConfigMap/c": ("OutOfSync", ["/data/a"])})
    assert dry_runs and set(dry_runs) == {"c"}  # a field tether applied: asked again


async def test_custom_health_rule_from_configmap(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    kubectl: Kubectl,
    repo: GitopsRepo,
    tmp_path: Path,
) -> None:
    repo.write(
        {
            "apps/cm/cm.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gate}\ndata: {state: closed}\n"
            )
        }
    )
    repo.commit("gate")
    app = application("gated", namespace, repo.url, "apps/cm")
    await create_app(kube, app)
    kubectl_apply(kubectl, (await compare(engine, app)).desired, tmp_path)
    before = await settle(engine, app, {})
    assert before.app_health is not None and str(before.app_health.status) == "Healthy"  # no rule

    rule = """\
- kind: ConfigMap
  jq: >-
    if .data.state == "open" then "Healthy"
    else {status: "Degraded", message: "gate is \\(.data.state)"} end
"""
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "tether-health-rules", "namespace": namespace},
            "data": {"rules.yaml": rule},
        }
    )

    async def degraded() -> Comparison | None:  # the rule arrives through the watch
        result = await compare(engine, app)
        health = result.app_health
        return result if health is not None and str(health.status) == "Degraded" else None

    result = await eventually(degraded, timeout=5, what="the custom rule to apply")
    assert result.app_health is not None and "gate is closed" in result.app_health.message


async def test_repository_credentials_from_a_labelled_secret(
    engine: Engine, kube: KubeClient, namespace: str, git_server: GitHttpServer, tmp_path: Path
) -> None:
    git_server.create_repo("private-app")
    work = tmp_path / "w"
    git("init", "--initial-branch=main", str(work))
    (work / "app").mkdir()
    (work / "app/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    git("add", "-A", cwd=work)
    git("commit", "-m", "c", cwd=work)
    git("push", git_server.url("private-app", with_credentials=True), "main", cwd=work)
    app = application("private", namespace, git_server.url("private-app"), "app")
    await create_app(kube, app)
    assert engine.credentials is None  # as in the controller: no credentials from the env

    denied = await compare(engine, app)
    assert denied.error is not None and denied.error.exit_code == 3

    url = git_server.url("private-app")
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "repo-creds",
                "namespace": namespace,
                "labels": {"tether.dev/secret-type": "repository"},
            },
            "stringData": {
                "url": url,
                "username": git_server.username,
                "password": git_server.password,
            },
        }
    )
    engine._repo_secrets.clear()  # a fresh engine would read the Secrets anew
    allowed = await compare(engine, app)
    assert allowed.error is None, allowed.error
    assert allowed.diff is not None and [d.verdict.value for d in allowed.diff.objects] == [
        "Missing"
    ]
    assert git_server.password not in str(allowed.status)
