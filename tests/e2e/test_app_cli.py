"""`tether app create|list|get|diff|delete` end to end: real CLI process, real cluster, real git."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import assert_one_error_line, create_app, tether
from tests.support.repos import GitopsRepo
from tether.engine.apps import get_app
from tether.kube import KubeClient

WEB = """\
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
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data: {mode: blue}
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitopsRepo:
    repo = GitopsRepo(tmp_path)
    repo.write({"apps/web/web.yaml": WEB})
    repo.commit("web")
    return repo


def test_create_list_get_diff_and_delete(
    kubeconfig: str, namespace: str, repo: GitopsRepo, kubectl: Callable[..., Any], tmp_path: Path
) -> None:
    ns = ["-n", namespace]
    made = create_app(kubeconfig, namespace, "web", repo.url, "apps/web", cache=tmp_path)
    assert made.returncode == 0, made.stderr
    again = tether(
        kubeconfig,
        *ns,
        "app",
        "create",
        "--name",
        "web",
        "--repo",
        repo.url,
        "--path",
        "other",
        cache=tmp_path,
    )
    assert_one_error_line(again, 2, "already exists with a different spec")

    diff = tether(kubeconfig, *ns, "app", "diff", "web", "--exit-code", cache=tmp_path)
    assert diff.returncode == 1, diff.stderr
    assert "Deployment.apps" in diff.stdout and "(Missing)" in diff.stdout
    assert "OutOfSync" in diff.stderr

    listed = tether(kubeconfig, *ns, "app", "list", "-o", "json", cache=tmp_path)
    apps = json.loads(listed.stdout)
    assert [a["metadata"]["name"] for a in apps] == ["web"]
    assert apps[0]["status"]["sync"]["status"] == "OutOfSync"
    table = tether(kubeconfig, *ns, "app", "list", cache=tmp_path)
    assert table.stdout.split()[:5] == ["NAME", "SYNC", "HEALTH", "REVISION", "OUT-OF-SYNC"]
    assert "web" in table.stdout and "Missing" in table.stdout

    # Apply what Git says (as a person would, before `app sync` exists) -> Synced, exit 0.
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    kubectl("apply", "--server-side", "-n", namespace, "-f", str(manifest))
    kubectl(
        "annotate",
        "-n",
        namespace,
        "deployment/web",
        f"tether.dev/tracking-id={namespace}/web:apps/Deployment:{namespace}/web",
    )
    kubectl(
        "annotate",
        "-n",
        namespace,
        "configmap/web-config",
        f"tether.dev/tracking-id={namespace}/web:/ConfigMap:{namespace}/web-config",
    )
    synced = tether(
        kubeconfig, *ns, "app", "diff", "web", "--exit-code", "-o", "json", cache=tmp_path
    )
    assert synced.returncode == 0, synced.stderr
    doc = json.loads(synced.stdout)
    assert doc["sync"] == "Synced" and {o["status"] for o in doc["objects"]} == {"Synced"}

    kubectl("scale", "-n", namespace, "deployment/web", "--replicas=4")
    shown = tether(kubeconfig, *ns, "app", "diff", "web", cache=tmp_path)
    # The writer and cause stand next to the path (kubectl scale writes as `kubectl`).
    assert "changed: /spec/replicas (kubectl, manual-edit)" in shown.stdout
    drift = tether(
        kubeconfig, *ns, "app", "diff", "web", "--exit-code", "-o", "json", cache=tmp_path
    )
    assert drift.returncode == 1
    changed = [o for o in json.loads(drift.stdout)["objects"] if o["status"] != "Synced"]
    assert changed == [
        {
            "group": "apps",
            "kind": "Deployment",
            "namespace": namespace,
            "name": "web",
            "status": "OutOfSync",
            "paths": ["/spec/replicas"],
            # replicas is declared in Git: ordinary drift, not an undeclared manual edit.
            "manualEdits": [],
        }
    ]

    got = tether(kubeconfig, *ns, "app", "get", "web", cache=tmp_path)
    assert got.returncode == 0, got.stderr
    assert (
        "OutOfSync" in got.stdout and "/spec/replicas" in got.stdout and "RESOURCES" in got.stdout
    )

    local = tmp_path / "local"
    local.mkdir()
    (local / "web.yaml").write_text(WEB.replace("replicas: 2", "replicas: 4"))
    by_local = tether(
        kubeconfig, *ns, "app", "diff", "web", "--local", str(local), "--exit-code", cache=tmp_path
    )
    assert by_local.returncode == 0, by_local.stdout + by_local.stderr

    gone = tether(kubeconfig, *ns, "app", "delete", "web", cache=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert_one_error_line(
        tether(kubeconfig, *ns, "app", "get", "web", cache=tmp_path), 2, "not found"
    )
    # Deleting the Application leaves its objects alone.
    assert kubectl("get", "-n", namespace, "deployment/web", check=False).returncode == 0


BROKEN_CHART = {
    "charts/bad/Chart.yaml": "apiVersion: v2\nname: bad\nversion: 0.1.0\n",
    "charts/bad/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n"
        '  v: {{ required "region is required" .Values.region }}\n'
    ),
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("case", "code", "needles"),
    [
        ("malformed-yaml", 2, ("apps/broken/bad.yaml", "line")),
        ("helm-failure", 2, ("region is required",)),
        ("missing-path", 2, ("apps/nowhere", "not found")),
        ("unreachable-remote", 3, ("unreachable", "127.0.0.1")),
    ],
)
async def test_bad_sources_give_one_line_an_exit_code_and_a_condition(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    tmp_path: Path,
    case: str,
    code: int,
    needles: tuple[str, ...],
) -> None:
    repo.write(
        {"apps/broken/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n"}
        | BROKEN_CHART
    )
    repo.commit("broken things")
    url, path = {
        "malformed-yaml": (repo.url, "apps/broken"),
        "helm-failure": (repo.url, "charts/bad"),
        "missing-path": (repo.url, "apps/nowhere"),
        "unreachable-remote": (f"http://127.0.0.1:{closed_port()}/gitops.git", "apps/web"),
    }[case]
    ns = ["-n", namespace]
    made = tether(
        kubeconfig,
        *ns,
        "app",
        "create",
        "--name",
        case,
        "--repo",
        url,
        "--path",
        path,
        "--dest-namespace",
        namespace,
        cache=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    result = tether(kubeconfig, *ns, "app", "diff", case, cache=tmp_path)
    line = assert_one_error_line(result, code, *needles)
    app = await get_app(kube, namespace, case)
    assert app.status is not None and app.status.sync.status.value == "Unknown"
    condition = next(c for c in app.status.conditions if c.type == "ComparisonError")
    assert condition.status.value == "True" and condition.message in line


def test_sync_wait_and_cascade_delete(
    kubeconfig: str, namespace: str, repo: GitopsRepo, kubectl: Callable[..., Any], tmp_path: Path
) -> None:
    ns = ["-n", namespace]
    made = create_app(kubeconfig, namespace, "web", repo.url, "apps/web", cache=tmp_path)
    assert made.returncode == 0, made.stderr

    plan = tether(kubeconfig, *ns, "app", "sync", "web", "--dry-run", cache=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines() == [
        f"Sync wave 0: apply ConfigMap {namespace}/web-config",
        f"Sync wave 0: apply Deployment.apps {namespace}/web",
    ]
    assert kubectl("get", "-n", namespace, "deployment/web", check=False).returncode != 0

    synced = tether(kubeconfig, *ns, "app", "sync", "web", "-o", "json", cache=tmp_path)
    assert synced.returncode == 0, synced.stderr
    doc = json.loads(synced.stdout)
    assert doc["phase"] == "Succeeded" and len(doc["applied"]) == 2
    assert "preflight: 2 objects accepted" in synced.stderr

    waited = tether(kubeconfig, *ns, "app", "wait", "web", "--timeout", "60", cache=tmp_path)
    assert waited.returncode == 0, waited.stderr
    listed = json.loads(tether(kubeconfig, *ns, "app", "list", "-o", "json", cache=tmp_path).stdout)
    status = listed[0]["status"]
    assert status["sync"]["status"] == "Synced" and status["health"]["status"] == "Healthy"
    assert status["operationState"]["phase"] == "Succeeded"
    assert status["operationState"]["initiatedBy"].startswith("cli:")

    # A wait that cannot be met: exit 1, naming the app and why.
    kubectl("scale", "-n", namespace, "deployment/web", "--replicas=3")
    stuck = tether(
        kubeconfig, *ns, "app", "wait", "web", "--sync", "--timeout", "2", cache=tmp_path
    )
    assert stuck.returncode == 1
    assert "not ready: web: 1 objects OutOfSync" in stuck.stderr

    gone = tether(kubeconfig, *ns, "app", "delete", "web", "--cascade", cache=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert "and 2 objects" in gone.stderr
    assert kubectl("get", "-n", namespace, "deployment/web", check=False).returncode != 0
    assert kubectl("get", "-n", namespace, "configmap/web-config", check=False).returncode != 0


def test_revert_cli(kubeconfig: str, namespace: str, repo: GitopsRepo, tmp_path: Path) -> None:
    ns = ["-n", namespace]
    assert (
        create_app(kubeconfig, namespace, "web", repo.url, "apps/web", cache=tmp_path).returncode
        == 0
    )
    repo.write({"apps/web/web.yaml": WEB.replace("mode: blue", "mode: broken")})
    bad = repo.commit("break web-config")
    result = tether(kubeconfig, *ns, "revert", "web", "--commit", bad, "-o", "json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["pushed"] and doc["reverted"] == [{"sha": bad, "subject": "break web-config"}]
    assert doc["synced"] == {"web": "Succeeded"}
    neither = tether(kubeconfig, *ns, "revert", "web", cache=tmp_path)
    assert_one_error_line(neither, 2, "exactly one of --commit, --range, --to-last-healthy")
