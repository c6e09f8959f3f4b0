"""`tether dr bootstrap` rebuilds every app from Git on an empty control plane of its own,
in dependency order, with SOPS secrets, and reports the recovery time per phase;
`tether dr check` lints a repository."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.age import generate_age_key_pair, sops_encrypt
from tests.support.cli import assert_one_error_line, tether
from tests.support.repos import GitopsRepo
from tether.localcluster import LocalCluster, binaries

ROOT = {
    # CRDs are cluster-scoped: the default project refuses them, this project allows them.
    "root/project.yaml": """\
apiVersion: tether.dev/v1alpha1
kind: Project
metadata:
  name: platform
  annotations: {tether.dev/sync-wave: "-2"}
spec:
  sourceRepos: ["*"]
  clusterResourceWhitelist: [{group: apiextensions.k8s.io, kind: CustomResourceDefinition}]
""",
    "root/crds.yaml": """\
apiVersion: tether.dev/v1alpha1
kind: Application
metadata:
  name: platform-crds
  annotations: {tether.dev/sync-wave: "-1"}
spec:
  project: platform
  source: {repoURL: REPO, path: apps/crds, targetRevision: main}
""",
    "root/shop.yaml": """\
apiVersion: tether.dev/v1alpha1
kind: Application
metadata: {name: shop}
spec:
  source:
    repoURL: REPO
    path: apps/shop
    targetRevision: main
    decryption: {provider: sops, secretRef: {name: sops-age}}
  destination: {namespace: shop}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
  dependsOn: [{name: platform-crds}]
""",
    "apps/crds/widgets.yaml": """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.shop.example.dev}
spec:
  group: shop.example.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
""",
    "apps/shop/app.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: ghcr.io/example/api:2.3.0
        env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
---
apiVersion: shop.example.dev/v1
kind: Widget
metadata: {name: main}
spec: {size: 3}
""",
}
SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: s3cr3t-dr}\n"


@pytest.fixture
def empty_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "dr-cluster")
    try:
        asyncio.run(cluster.up(timeout=240))
        yield cluster
    finally:
        asyncio.run(cluster.down())


def test_bootstrap_rebuilds_everything_in_order_and_times_it(
    empty_cluster: LocalCluster, tmp_path: Path
) -> None:
    repo = GitopsRepo(tmp_path)
    repo.write({k: v.replace("REPO", repo.url) for k, v in ROOT.items()})
    key = generate_age_key_pair()
    encrypted = sops_encrypt(binaries.binary("sops"), key.recipient, SECRET, tmp_path)
    assert "s3cr3t-dr" not in encrypted
    repo.write({"apps/shop/secret.yaml": encrypted})
    repo.commit("platform")
    key_file = tmp_path / "age.key"
    key_file.write_text(key.identity + "\n")
    kubeconfig = str(empty_cluster.kubeconfig)

    result = tether(
        kubeconfig,
        "dr",
        "bootstrap",
        "--repo",
        repo.url,
        "--path",
        "root",
        "--revision",
        "main",
        "--age-key-file",
        str(key_file),
        "-o",
        "json",
        cache=tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    phases = [p["phase"] for p in report["phases"]]
    assert phases == ["secrets", "crds", "root", "wave -1", "wave 0 (dependsOn level 1)", "health"]
    # dependsOn: the CRD app is synced in a wave before the app that uses it; each wave
    # counts its apps and lists them with their own sync time.
    waves = [p for p in report["phases"] if p["phase"].startswith("wave")]
    assert [p["detail"] for p in waves] == ["1 application", "1 application"]
    assert [[a["name"] for a in p["applications"]] for p in waves] == [["platform-crds"], ["shop"]]
    assert report["total_seconds"] > 0 and sorted(report["applications"]) == [
        "platform-crds",
        "shop",
    ]
    assert "s3cr3t-dr" not in result.stdout + result.stderr

    listed = json.loads(
        tether(kubeconfig, "app", "list", "-o", "json", cache=tmp_path / "cache").stdout
    )
    states = {
        a["metadata"]["name"]: (a["status"]["sync"]["status"], a["status"]["health"]["status"])
        for a in listed
    }
    assert states == {name: ("Synced", "Healthy") for name in ("root", "platform-crds", "shop")}
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    password = subprocess.run(
        [*kubectl, "-n", "shop", "get", "secret", "db", "-o", "jsonpath={.data.password}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert password.stdout == "czNjcjN0LWRy"  # base64 of the decrypted value
    widget = subprocess.run(
        [*kubectl, "-n", "shop", "get", "widgets.shop.example.dev", "main"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert widget.returncode == 0, widget.stderr


def test_dr_check_lists_hazards_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps/api.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n"
        "    spec:\n      containers: [{name: api, image: 'nginx'}]\n"
    )
    env = {**os.environ}
    result = subprocess.run(
        [sys.executable, "-m", "tether", "dr", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    expected = "apps/api.yaml: unpinned-image: Deployment api container api uses nginx"
    assert result.stdout.strip() == expected + ": pin a tag or digest"
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    ok = subprocess.run(
        [sys.executable, "-m", "tether", "dr", "check", str(clean)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr


HOOKED_ROOT = {
    "root/hooked.yaml": """\
apiVersion: tether.dev/v1alpha1
kind: Application
metadata: {name: hooked}
spec:
  source: {repoURL: REPO, path: apps/hooked, targetRevision: main}
  destination: {namespace: hooked}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
""",
    "root/stuck.yaml": """\
apiVersion: tether.dev/v1alpha1
kind: Application
metadata:
  name: stuck
  annotations: {tether.dev/sync-wave: "1"}
spec:
  source: {repoURL: REPO, path: apps/stuck, targetRevision: main}
  destination: {namespace: stuck}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
""",
    # Hooks of every kind: none of them may keep the app from Synced + Healthy.
    "apps/hooked/app.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: prod}
---
apiVersion: v1
kind: Pod
metadata:
  name: test-connection
  annotations: {helm.sh/hook: test}
spec:
  containers: [{name: t, image: "busybox:1.36"}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {helm.sh/hook: pre-install, helm.sh/hook-delete-policy: hook-succeeded}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "busybox:1.36"}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: admission-patch
  annotations: {argocd.argoproj.io/hook: PostSync}
spec:
  ttlSecondsAfterFinished: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: p, image: "busybox:1.36"}]
""",
    "apps/stuck/app.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  progressDeadlineSeconds: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {no-such-node: "true"}
      containers: [{name: web, image: "nginx:1.27"}]
""",
}


def test_a_failed_bootstrap_reports_what_finished_and_what_it_waited_for(
    empty_cluster: LocalCluster, tmp_path: Path
) -> None:
    repo = GitopsRepo(tmp_path)
    repo.write({k: v.replace("REPO", repo.url) for k, v in HOOKED_ROOT.items()})
    repo.commit("an app with hooks, then one that never becomes healthy")
    kubeconfig = str(empty_cluster.kubeconfig)
    args = ("dr", "bootstrap", "--repo", repo.url, "--path", "root", "--revision", "main")

    result = tether(kubeconfig, *args, "--timeout", "120", cache=tmp_path / "cache")
    error = assert_one_error_line(result, 1, "recovery stopped at wave 1", "stuck")
    assert "Deployment.apps stuck/web" in error and "Degraded" in error, error
    # The breakdown of what finished comes first, on stdout: the wave of the app with
    # hooks succeeded (its hooks ran, none is waited for), the next one failed.
    rows = [line.split(None, 2) for line in result.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == [
        "secrets",
        "crds",
        "root",
        "wave",
        "hooked",
        "wave",
        "stuck",
        "total",
    ], result.stdout
    assert "1 application" in result.stdout and "1 application, 1 failed" in result.stdout
    hooked = next(r for r in rows if r[0] == "hooked")
    assert hooked[2].startswith("synced"), hooked

    listed = json.loads(
        tether(kubeconfig, "app", "get", "hooked", "-o", "json", cache=tmp_path / "cache").stdout
    )
    assert (listed["status"]["sync"]["status"], listed["status"]["health"]["status"]) == (
        "Synced",
        "Healthy",
    )
    assert [r["kind"] for r in listed["status"]["resources"]] == ["ConfigMap"]


def test_dr_check_of_a_repository_url_with_a_chart(tmp_path: Path) -> None:
    repo = GitopsRepo(tmp_path)
    repo.write(
        {
            "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            "charts/web/templates/cm.yaml": (
                "kind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
            ),
            "apps/web.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
                "  template: {spec: {containers: [{name: web, image: 'nginx:1.27'}]}}\n"
            ),
        }
    )
    first = repo.commit("pinned")
    repo.write({"apps/web.yaml": (repo.work / "apps/web.yaml").read_text().replace(":1.27", "")})
    repo.commit("unpinned")
    cache = tmp_path / "cache"
    latest = tether("", "dr", "check", repo.url, cache=cache)
    assert latest.returncode == 1, latest.stderr
    assert latest.stdout.strip().startswith("apps/web.yaml: unpinned-image: Deployment web")
    assert "1 Helm chart(s) not linted as files" in latest.stderr and "charts/web" in latest.stderr
    older = tether("", "dr", "check", repo.url, "--revision", first, cache=cache)
    assert older.returncode == 0, older.stderr
    assert f"@{first[:12]}: no recovery hazards found" in older.stderr
    gone = tether("", "dr", "check", f"file://{tmp_path}/nothing.git", cache=cache)
    assert_one_error_line(gone, 3, "nothing.git", "unreachable")
    local_revision = tether("", "dr", "check", str(repo.work), "--revision", "main")
    assert_one_error_line(local_revision, 2, "--revision needs a repository URL")


FLUX_ROOT = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: flux-system}
spec: {url: REPO, ref: {branch: main}, interval: 1m}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-infra, namespace: flux-system}
spec:
  sourceRef: {kind: GitRepository, name: fleet}
  path: ./flux/infra
  prune: true
  interval: 10m
  targetNamespace: default
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-apps, namespace: flux-system}
spec:
  dependsOn: [{name: flux-infra}]
  sourceRef: {kind: GitRepository, name: fleet}
  path: ./flux/apps
  prune: true
  interval: 10m
  targetNamespace: default
"""

ARGO_ROOT = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: argo-base
  namespace: argocd
  annotations: {argocd.argoproj.io/sync-wave: "0"}
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: default
  source: {repoURL: REPO, targetRevision: HEAD, path: argo/base}
  destination: {server: "https://kubernetes.default.svc", namespace: default}
  syncPolicy: {automated: {prune: true, selfHeal: true}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: argo-web
  namespace: argocd
  annotations: {argocd.argoproj.io/sync-wave: "1"}
spec:
  project: default
  source: {repoURL: REPO, targetRevision: HEAD, path: argo/web}
  destination: {server: "https://kubernetes.default.svc", namespace: default}
  syncPolicy: {automated: {prune: true, selfHeal: true}}
"""


def _configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{a: b}}\n"


ROOTS = [  # (path of the root, its apps in recovery order, the ConfigMaps they make)
    ("flux/clusters/prod", ["flux-infra", "flux-apps"], ["flux-infra", "flux-app"]),
    ("argo/root", ["argo-base", "argo-web"], ["argo-base", "argo-web"]),
]


def test_bootstrap_of_a_flux_or_argo_cd_root_rebuilds_it_without_flux_or_argo_cd(
    empty_cluster: LocalCluster, tmp_path: Path
) -> None:
    repo = GitopsRepo(tmp_path)
    repo.write(
        {
            "flux/clusters/prod/flux.yaml": FLUX_ROOT.replace("REPO", repo.url),
            "flux/infra/kustomization.yaml": "resources: [cm.yaml]\n",
            "flux/infra/cm.yaml": _configmap("flux-infra"),
            "flux/apps/nested/cm.yaml": _configmap("flux-app"),  # Flux reads it recursively
            "argo/root/apps.yaml": ARGO_ROOT.replace("REPO", repo.url),
            "argo/base/cm.yaml": _configmap("argo-base"),
            "argo/web/cm.yaml": _configmap("argo-web"),
        }
    )
    repo.commit("clusters managed by other tools")
    kubeconfig = str(empty_cluster.kubeconfig)
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}", "-n", "default"]
    # One control plane for both roots (their apps and objects have other names).
    for root, apps, configmaps in ROOTS:
        result = tether(
            kubeconfig, "dr", "bootstrap", "--repo", repo.url, "--path", root, "-o", "json",
            cache=tmp_path / "cache",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert sorted(report["applications"]) == sorted(apps)
        phases = [p["phase"] for p in report["phases"]]
        assert phases[:3] == ["secrets", "crds", "root"] and phases[-1] == "health"
        # dependsOn (Flux) and waves (Argo CD) order the rebuild: two steps, one app each.
        waves = [p for p in report["phases"] if p["phase"].startswith("wave")]
        assert [[a["name"] for a in p["applications"]] for p in waves] == [[apps[0]], [apps[1]]]
        assert report["total_seconds"] > 0
        for name in configmaps:
            got = subprocess.run(
                [*kubectl, "get", "configmap", name], capture_output=True, check=False
            )
            assert got.returncode == 0, got.stderr
        # No root app: the converted apps are the roots; no Argo CD or Flux kind applied.
        listed = json.loads(
            tether(kubeconfig, "app", "list", "-o", "json", cache=tmp_path / "cache").stdout
        )
        states = {a["metadata"]["name"]: a["status"]["health"]["status"] for a in listed}
        assert all(states[name] == "Healthy" for name in apps)
        assert "root" not in states
