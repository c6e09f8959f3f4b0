"""Disaster recovery: rebuild 20 apps / ~400 objects from Git into a fresh control plane.

tether: `dr bootstrap` of an app-of-apps (2 CRD apps in wave -1, 18 apps that depend on
them, custom resources, waves, a SOPS secret) until every app is Synced + Healthy.
baseline, on another fresh control plane: a naive `kubectl apply --server-side -R` of the
same manifests (the SOPS file left out: kubectl cannot decrypt it), retried until it
stops failing on CRD ordering, then `kubectl wait` until every Deployment is Available.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from tests.support.age import generate_age_key_pair, sops_encrypt
from tests.support.repos import GitopsRepo

from bench.common import bench_cluster, machine, wait_deployments_available
from tether.engine.compare import Engine
from tether.engine.dr import bootstrap
from tether.git import GitRepos
from tether.kube import KubeClient, LiveCache
from tether.localcluster import binaries
from tether.render import RenderTools

CRD_APPS = 2
APPS = 18
TARGET_SECONDS = 60.0


def crd(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"things{i}.bench.tether.dev"},
        "spec": {
            "group": "bench.tether.dev",
            "scope": "Namespaced",
            "names": {"plural": f"things{i}", "singular": f"thing{i}", "kind": f"Thing{i}"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def app_objects(i: int) -> list[dict[str, Any]]:
    """~21 objects: 2 Deployments + Services (wave 1), 14 ConfigMaps (wave 0), 2 CRs, a SA."""
    ns = f"team-{i:02d}"
    objs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    ]
    for d in range(2):
        name = f"svc-{d}"
        objs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "annotations": {"tether.dev/sync-wave": "1"},
                },
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "containers": [
                                {"name": "app", "image": f"ghcr.io/example/{name}:1.0.{i}"}
                            ]
                        },
                    },
                },
            }
        )
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
            }
        )
    for c in range(13):
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cfg-{c}", "namespace": ns},
                "data": {"k": str(c)},
            }
        )
    for k in range(CRD_APPS):
        objs.append(
            {
                "apiVersion": "bench.tether.dev/v1",
                "kind": f"Thing{k}",
                "metadata": {"name": "main", "namespace": ns},
                "spec": {"size": i},
            }
        )
    objs.append(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": ns}}
    )
    return objs


def write_repo(work: Path, sops: Path, recipient: str) -> tuple[GitopsRepo, Path]:
    repo = GitopsRepo(work, "dr-bench")
    files: dict[str, str] = {}
    for k in range(CRD_APPS):
        files[f"apps/crds-{k}/crd.yaml"] = yaml.safe_dump(crd(k))
        files[f"root/crds-{k}.yaml"] = yaml.safe_dump(
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Application",
                "metadata": {"name": f"crds-{k}", "annotations": {"tether.dev/sync-wave": "-1"}},
                "spec": {
                    "source": {
                        "repoURL": repo.url,
                        "path": f"apps/crds-{k}",
                        "targetRevision": "main",
                    }
                },
            }
        )
    for i in range(APPS):
        files[f"apps/team-{i:02d}/all.yaml"] = yaml.safe_dump_all(app_objects(i))
        spec: dict[str, Any] = {
            "source": {"repoURL": repo.url, "path": f"apps/team-{i:02d}", "targetRevision": "main"},
            "destination": {"namespace": f"team-{i:02d}"},
            "dependsOn": [{"name": f"crds-{k}"} for k in range(CRD_APPS)],
        }
        if i == 0:
            spec["source"]["decryption"] = {"provider": "sops", "secretRef": {"name": "sops-age"}}
        files[f"root/team-{i:02d}.yaml"] = yaml.safe_dump(
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Application",
                "metadata": {
                    "name": f"team-{i:02d}",
                    "annotations": {"tether.dev/sync-wave": str(i % 3)},
                },
                "spec": spec,
            }
        )
    repo.write(files)
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team-00}\n"
        "stringData: {password: not-real}\n"
    )
    encrypted = sops_encrypt(sops, recipient, secret, work)
    repo.write({"apps/team-00/secret.yaml": encrypted})
    repo.commit("20 apps")
    return repo, repo.work


def kubectl_naive(kubeconfig: str, tree: Path, scratch: Path) -> tuple[float, int, float]:
    """Apply the apps' manifests as a person with kubectl would: retry until it sticks."""
    plain = scratch / "naive"
    shutil.copytree(tree / "apps", plain)
    (plain / "team-00" / "secret.yaml").unlink()  # SOPS: kubectl cannot decrypt it
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    start = time.perf_counter()
    attempts = 0
    while True:
        attempts += 1
        proc = subprocess.run(
            [*kubectl, "apply", "--server-side", "-R", "-f", str(plain)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0 or attempts >= 10:
            break
        time.sleep(1)
    applied = time.perf_counter() - start
    wait_deployments_available(kubeconfig, (f"team-{i:02d}" for i in range(APPS)), timeout=300)
    return applied, attempts, time.perf_counter() - start


async def tether_bootstrap(kubeconfig: str, repo_url: str, age_key: str, cache: Path) -> Any:
    kube = KubeClient.from_kubeconfig(kubeconfig)
    engine = Engine(
        kube, GitRepos(cache), RenderTools.from_dir(binaries.bin_dir()), LiveCache(kube)
    )
    try:
        return await bootstrap(
            engine, repo_url=repo_url, path="root", revision="main", timeout=600, age_key=age_key
        )
    finally:
        await engine.cache.close()
        kube.close()


def main() -> dict[str, float]:
    key = generate_age_key_pair()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo, tree = write_repo(work, binaries.binary("sops"), key.recipient)
        objects = CRD_APPS + APPS * len(app_objects(0)) + 1 + 1 + CRD_APPS + APPS  # + root + apps
        with bench_cluster() as naive_cluster:
            applied, attempts, available = kubectl_naive(str(naive_cluster.kubeconfig), tree, work)
        with bench_cluster() as cluster:
            start = time.perf_counter()
            report = asyncio.run(
                tether_bootstrap(str(cluster.kubeconfig), repo.url, key.identity, work / "cache")
            )
            total = time.perf_counter() - start
    print(
        f"bench dr: {CRD_APPS + APPS} apps, about {objects} objects, fresh clusters ({machine()})"
    )
    for phase in report.phases:
        print(f"  tether phase {phase.phase:<28}: {phase.seconds:7.2f} s")
    print(
        f"  tether dr bootstrap, all Synced + Healthy    : {total:7.2f} s"
        f" (target < {TARGET_SECONDS:.0f} s)"
    )
    print(f"  kubectl apply -R, naive: {attempts} attempt(s)      : {applied:7.2f} s until applied")
    print(f"  kubectl apply -R + wait Deployments Available: {available:7.2f} s")
    print(f"  ratio tether / kubectl (same end state)      : {total / available:7.2f}x")
    return {
        "tether": total,
        "kubectl_applied": applied,
        "kubectl_available": available,
        "kubectl_attempts": attempts,
    }


if __name__ == "__main__":
    main()
