"""A sync converges what compare flags: fields of a person's kubectl are taken over before
the apply (a hand-added ConfigMap key is removed, a changed field restored), never fields
an ignore rule protects or a controller owns; an empty render is a warning, not a green
"synced 0 objects"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.apps import application
from tests.support.cli import tether
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import create_app, get_app
from tether.engine.compare import Comparison, Engine, compare
from tether.engine.sync import SyncRequest, sync_app
from tether.git import GitRepos
from tether.kube import KubeClient, LiveCache
from tether.localcluster import binaries
from tether.model.application import Application
from tether.render import RenderTools

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: '1'}\n"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: "nginx:1.27"}]
"""


async def deployed(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, **spec: Any
) -> Application:
    repo.commit("v1")
    app = await create_app(kube, application("conv", namespace, repo.url, "app", **spec))
    await sync_app(engine, app, SyncRequest())
    return await get_app(kube, namespace, "conv")


async def drifted(engine: Engine, app: Application, *paths: str) -> Comparison:
    """The comparison once the watch delivered the edit: exactly `paths` drifted."""

    async def probe() -> Comparison | None:
        found = await compare(engine, app, fetch=False)
        assert found.error is None, found.error
        assert found.diff is not None
        now = sorted(p for d in found.diff.out_of_sync for p in d.paths)
        return found if now == sorted(paths) else None

    return await eventually(probe, timeout=10, interval=0.1, what=f"drift {paths}")


async def synced_after_sync(engine: Engine, kube: KubeClient, namespace: str) -> Comparison:
    app = await get_app(kube, namespace, "conv")
    result = await sync_app(engine, app, SyncRequest())
    assert result.comparison is not None and result.comparison.diff is not None
    leftover = [(str(d.key), d.paths) for d in result.comparison.diff.out_of_sync]
    assert result.comparison.diff.in_sync, leftover
    status = (await get_app(kube, namespace, "conv")).status
    assert status is not None and status.sync.status.value == "Synced"
    return result.comparison


def managers(obj: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    assert obj is not None
    return sorted(
        (e["manager"], e["operation"], e.get("subresource", ""))
        for e in obj["metadata"].get("managedFields") or []
    )


async def test_a_key_added_with_kubectl_edit_is_drift_and_the_sync_removes_it(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    repo.write({"app/cm.yaml": CONFIGMAP})
    # A jq rule (evaluated in a worker) protects one key: its writer keeps it.
    ignore = [{"kind": "ConfigMap", "jqPathExpressions": [".data.kept"]}]
    app = await deployed(engine, kube, namespace, repo, ignoreDifferences=ignore)
    editor = tmp_path / "edit.sh"
    editor.write_text(
        '#!/bin/sh\nsed -i \'s#^  a: "1"#  a: "1"\\n  added: by-hand\\n  kept: too#\' "$1"\n'
    )
    editor.chmod(0o755)
    kubectl("edit", "-n", namespace, "configmap/settings", env={"KUBE_EDITOR": str(editor)})
    live = await kube.get("v1", "ConfigMap", "settings", namespace)
    assert live is not None and live["data"] == {"a": "1", "added": "by-hand", "kept": "too"}
    assert ("kubectl-edit", "Update", "") in managers(live)

    found = await drifted(engine, app, "/data/added")
    assert found.status is not None
    causes = {r.name: r.drift_cause for r in found.status.resources}
    assert causes == {"settings": "manual-edit"}

    await synced_after_sync(engine, kube, namespace)
    live = await kube.get("v1", "ConfigMap", "settings", namespace)
    assert live is not None and live["data"] == {"a": "1", "kept": "too"}
    # One entry of tether's; the person's entry keeps only the protected key.
    assert managers(live) == [("kubectl-edit", "Update", ""), ("tether", "Apply", "")]
    edit = [e for e in live["metadata"]["managedFields"] if e["manager"] == "kubectl-edit"]
    assert edit[0]["fieldsV1"] == {"f:data": {"f:kept": {}}}


async def test_fields_kubectl_changed_are_restored_and_their_entries_taken(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
) -> None:
    repo.write({"app/cm.yaml": CONFIGMAP, "app/web.yaml": DEPLOYMENT})
    app = await deployed(engine, kube, namespace, repo)
    kubectl("patch", "-n", namespace, "configmap/settings", "-p", '{"data":{"a":"2","b":"3"}}')
    kubectl("set", "image", "-n", namespace, "deployment/web", "app=nginx:1.26")
    await drifted(engine, app, "/data/a", "/data/b", "/spec/template/spec/containers/0/image")
    await synced_after_sync(engine, kube, namespace)
    cm = await kube.get("v1", "ConfigMap", "settings", namespace)
    assert cm is not None and cm["data"] == {"a": "1"}
    web = await kube.get("apps/v1", "Deployment", "web", namespace)
    assert web is not None
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert not [m for m in managers(web) if m[0].startswith("kubectl")], managers(web)


async def test_replicas_an_ignore_rule_protects_stay_with_the_hpa_and_kubectl(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
) -> None:
    repo.write({"app/web.yaml": DEPLOYMENT})
    ignore = [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]
    app = await deployed(engine, kube, namespace, repo, ignoreDifferences=ignore)
    # An autoscaler owns replicas (a scale write records an owner only once replicas has
    # one); a person changes the image.
    await kube.patch(
        "apps/v1",
        "Deployment",
        "web",
        {"spec": {"replicas": 3}},
        namespace=namespace,
        field_manager="horizontal-pod-autoscaler",
    )
    kubectl("set", "image", "-n", namespace, "deployment/web", "app=nginx:1.26")
    await drifted(engine, app, "/spec/template/spec/containers/0/image")
    await synced_after_sync(engine, kube, namespace)
    web = await kube.get("apps/v1", "Deployment", "web", namespace)
    assert web is not None
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert web["spec"]["replicas"] == 3
    assert owners(web)[("horizontal-pod-autoscaler", "")] == {"f:spec": {"f:replicas": {}}}

    # A person's `kubectl scale` of the protected field stays theirs; the image is taken.
    kubectl("scale", "-n", namespace, "deployment/web", "--replicas=5")
    kubectl("set", "image", "-n", namespace, "deployment/web", "app=nginx:1.25")
    await drifted(engine, app, "/spec/template/spec/containers/0/image")
    await synced_after_sync(engine, kube, namespace)
    web = await kube.get("apps/v1", "Deployment", "web", namespace)
    assert web is not None
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert web["spec"]["replicas"] == 5  # protected by the rule: left to its writer
    entries = owners(web)
    assert entries[("kubectl", "scale")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in entries[("tether", "")]["f:spec"]
    assert ("kubectl-set", "") not in entries


def owners(obj: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (e["manager"], e.get("subresource", "")): e["fieldsV1"]
        for e in obj["metadata"]["managedFields"]
    }


async def test_a_takeover_through_an_app_service_account_is_bounded_by_its_rbac(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
) -> None:
    account = "deployer"
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": namespace},
        }
    )
    await kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account, "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        }
    )
    repo.write({"app/cm.yaml": CONFIGMAP})
    app = await deployed(engine, kube, namespace, repo, serviceAccountName=account)
    kubectl("patch", "-n", namespace, "configmap/settings", "-p", '{"data":{"added":"x"}}')
    await drifted(engine, app, "/data/added")
    await synced_after_sync(engine, kube, namespace)
    cm = await kube.get("v1", "ConfigMap", "settings", namespace)
    assert cm is not None and cm["data"] == {"a": "1"}


async def test_an_empty_render_syncs_with_a_warning_never_plain_success(
    engine: Engine, kube: KubeClient, kubeconfig: str, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"app/placeholder.yaml": "# components come later\n"})
    head = repo.commit("placeholder")
    app = await create_app(kube, application("conv", namespace, repo.url, "app"))
    result = await sync_app(engine, app, SyncRequest())
    assert result.message == f"synced 0 objects at {head[:8]}: the render is empty"
    status = (await get_app(kube, namespace, "conv")).status
    assert status is not None and status.sync.status.value == "Synced"
    empty = [c for c in status.conditions if c.type == "EmptyRender"]
    assert [c.message for c in empty] == [f"render of app at {head[:8]} produced no objects"]
    listed = tether(kubeconfig, "-n", namespace, "app", "list")
    assert listed.returncode == 0, listed.stderr
    assert "Synced (empty)" in listed.stdout, listed.stdout
    shown = tether(kubeconfig, "-n", namespace, "app", "get", "conv")
    assert "EmptyRender" in shown.stdout and "produced no objects" in shown.stdout

    # A render with objects clears it; one whose every object is another app's raises it.
    repo.write({"app/cm.yaml": CONFIGMAP})
    head = repo.commit("cm")
    result = await sync_app(engine, await get_app(kube, namespace, "conv"), SyncRequest())
    assert result.message == f"synced 1 objects at {head[:8]}"
    status = (await get_app(kube, namespace, "conv")).status
    assert status is not None and not [c for c in status.conditions if c.type == "EmptyRender"]
    other = await create_app(kube, application("copycat", namespace, repo.url, "app"))
    result = await sync_app(engine, other, SyncRequest())
    assert result.message.endswith(": every object belongs to other apps"), result.message
    status = (await get_app(kube, namespace, "copycat")).status
    assert status is not None
    assert [c.message for c in status.conditions if c.type == "EmptyRender"] == [
        f"render of app at {head[:8]}: every object belongs to other apps"
    ]


RANDOM_PASSWORD_CHART = {
    "chart/Chart.yaml": "apiVersion: v2\nname: random-password\nversion: 0.1.0\n",
    "chart/values.yaml": "password: ''\n",
    "chart/templates/secret.yaml": """\
apiVersion: v1
kind: Secret
metadata: {name: {{ .Release.Name }}-admin}
stringData:
  user: admin
  password: {{ .Values.password | default (randAlphaNum 16) | quote }}
""",
}


async def fresh_engine(kube: KubeClient, tmp_path: Path) -> Engine:
    """Another engine, as the next CLI command builds one (its own render cache)."""
    return Engine(
        kube,
        GitRepos(tmp_path / f"git-cache-{len(list(tmp_path.iterdir()))}"),
        RenderTools.from_dir(binaries.bin_dir()),
        LiveCache(kube),
    )


async def test_a_random_password_chart_is_drift_of_cause_non_deterministic_render(
    engine: Engine,
    kube: KubeClient,
    kubeconfig: str,
    namespace: str,
    repo: GitopsRepo,
    tmp_path: Path,
) -> None:
    repo.write(RANDOM_PASSWORD_CHART)
    repo.commit("chart")
    app = await create_app(kube, application("conv", namespace, repo.url, "chart"))
    await sync_app(engine, app, SyncRequest())
    app = await get_app(kube, namespace, "conv")
    assert app.status is not None and app.status.sync.status.value == "Synced"

    # The next command renders the chart again: another password.
    other = await fresh_engine(kube, tmp_path)
    try:
        found = await compare(other, app)
        assert found.error is None, found.error
        assert found.status is not None and found.status.sync.status.value == "OutOfSync"
        resources = {r.name: r for r in found.status.resources if r.drift}
        assert list(resources) == ["conv-admin"]
        assert resources["conv-admin"].drift == ("/data/password",)
        assert resources["conv-admin"].drift_cause == "non-deterministic-render"
        assert resources["conv-admin"].drift_writer == "tether"
    finally:
        await other.evaluator.close()
        await other.cache.close()
    shown = tether(kubeconfig, "-n", namespace, "drift", "conv", "--explain")
    assert "non-deterministic-render" in shown.stdout, shown.stdout + shown.stderr
    assert "existingSecret" in shown.stdout
    # A value set in Git makes the render deterministic: Synced after a sync, and stays so.
    repo.write({"chart/values.yaml": "password: from-git\n"})
    repo.commit("pin the password")
    await sync_app(engine, await get_app(kube, namespace, "conv"), SyncRequest())
    other = await fresh_engine(kube, tmp_path)
    try:
        found = await compare(other, await get_app(kube, namespace, "conv"))
        assert found.status is not None and found.status.sync.status.value == "Synced"
    finally:
        await other.evaluator.close()
        await other.cache.close()
