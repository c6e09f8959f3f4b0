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
from tests.support.cli import tether
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
    assert phases[:3] == ["secrets", "crds", "root"]
    assert phases[-1] == "health"
    # dependsOn: the CRD app is synced in a wave before the app that uses it.
    assert phases.index("wave platform-crds") < phases.index("wave shop")
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
