"""Sync 100 apps x 20 objects into an empty cluster: tether against `kubectl apply
--server-side -R` on the same manifests, in one run.

Each app has two waves: its configuration (ConfigMaps, Secrets, ServiceAccounts) in
wave -1, its workloads (Deployments, Services) in wave 0. tether does the whole job:
compare, claim the operation, preflight dry-run of every object, apply wave -1, wait for
its health, apply wave 0, record status and history. The operation ends when the last
wave is applied (Argo CD's semantics; the controller syncs this way); the time until
every Deployment is Available is measured too, against kubectl apply + kubectl wait.
kubectl only applies. Each side gets its own set of empty namespaces.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from tests.support.repos import GitopsRepo

from bench.common import bench_cluster, machine, wait_deployments_available
from bench.compare import app_manifests
from tether.engine.apps import create_app, install_crd
from tether.engine.compare import Engine
from tether.engine.sync import SyncRequest, sync_app
from tether.git import GitRepos
from tether.kube import KubeClient, LiveCache
from tether.localcluster import binaries
from tether.model.application import API_VERSION, Application
from tether.render import RenderTools

APPS = int(os.environ.get("BENCH_SYNC_APPS", "100"))
NAMESPACES = 10
CONCURRENCY = 32  # syncs mostly wait on health; the API server is the real limit


CONFIG_KINDS = ("ConfigMap", "Secret", "ServiceAccount")


def with_namespace(manifests: str, namespace: str) -> str:
    docs = list(yaml.safe_load_all(manifests))
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] in CONFIG_KINDS:
            doc["metadata"]["annotations"] = {"tether.dev/sync-wave": "-1"}
    return yaml.safe_dump_all(docs)


def wait_available(kubeconfig: str, prefix: str) -> None:
    wait_deployments_available(kubeconfig, (f"{prefix}-{n}" for n in range(NAMESPACES)))


async def tether_side(kubeconfig: str, work: Path) -> tuple[float, float]:
    repo = GitopsRepo(work, "sync-bench")
    repo.write(
        {
            f"apps/app-{i:03d}/all.yaml": with_namespace(app_manifests(i), f"t-{i % NAMESPACES}")
            for i in range(APPS)
        }
    )
    repo.commit("bench apps")
    kube = KubeClient.from_kubeconfig(kubeconfig)
    engine = Engine(
        kube, GitRepos(work / "cache"), RenderTools.from_dir(binaries.bin_dir()), LiveCache(kube)
    )
    apps = [
        Application.from_dict(
            {
                "apiVersion": API_VERSION,
                "kind": "Application",
                "metadata": {"name": f"app-{i:03d}", "namespace": "tether-system"},
                "spec": {
                    "source": {
                        "repoURL": repo.url,
                        "path": f"apps/app-{i:03d}",
                        "targetRevision": "main",
                    }
                },
            }
        )
        for i in range(APPS)
    ]
    try:
        await install_crd(kube)
        for n in range(NAMESPACES):
            await kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"t-{n}"}}
            )
        for app in apps:
            await create_app(kube, app)
        limit = asyncio.Semaphore(CONCURRENCY)

        request = SyncRequest(timeout=300, initiated_by="bench", final_health_gate=False)

        async def one(app: Application) -> None:
            async with limit:
                result = await sync_app(engine, app, request)
            assert result.succeeded, result.message

        start = time.perf_counter()
        await asyncio.gather(*(one(a) for a in apps))
        synced = time.perf_counter() - start
        await asyncio.to_thread(wait_available, kubeconfig, "t")
        return synced, time.perf_counter() - start
    finally:
        await engine.cache.close()
        kube.close()


def kubectl_side(kubeconfig: str, work: Path) -> tuple[float, float]:
    tree = work / "kubectl"
    for i in range(APPS):
        path = tree / f"app-{i:03d}" / "all.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(with_namespace(app_manifests(i), f"k-{i % NAMESPACES}"))
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    for n in range(NAMESPACES):
        subprocess.run([*kubectl, "create", "namespace", f"k-{n}"], check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run(
        [*kubectl, "apply", "--server-side", "-R", "-f", str(tree)], check=True, capture_output=True
    )
    applied = time.perf_counter() - start
    wait_available(kubeconfig, "k")  # the end state of a healthy rollout
    return applied, time.perf_counter() - start


def main() -> dict[str, float]:
    with bench_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = str(cluster.kubeconfig)
        applied, available = kubectl_side(kubeconfig, Path(tmp))
        ours, ours_available = asyncio.run(tether_side(kubeconfig, Path(tmp)))
    n = APPS * 20
    print(f"bench sync: {APPS} apps x 20 objects = {n} objects into empty namespaces ({machine()})")
    print(f"  kubectl apply --server-side -R (apply only)          : {applied:8.2f} s")
    print(f"  kubectl apply + wait until Deployments Available     : {available:8.2f} s")
    print(f"  tether sync (preflight, wave gate, apply, history)   : {ours:8.2f} s")
    print(f"  tether sync + wait until Deployments Available       : {ours_available:8.2f} s")
    print(f"  ratio tether sync / kubectl apply : {ours / applied:8.2f}x (target 1.5x)")
    print(f"  ratio until Available, tether / kubectl : {ours_available / available:8.2f}x")
    return {
        "kubectl_apply": applied,
        "kubectl_available": available,
        "tether": ours,
        "tether_available": ours_available,
    }


if __name__ == "__main__":
    main()
