"""Fleet: N Applications created at once, one `tether controller`, until all are Synced
and Healthy.

Each app has the Flux benchmark's shape (flux-benchmark: Deployment with 0 replicas,
ServiceAccount, Service, Ingress) with a ConfigMap in place of the Ingress: nothing on
the local control plane publishes an Ingress address, so an Ingress would never be
Healthy by the usual rule (Argo CD's waits for a load-balancer address as well). All
auto-sync, in 10 namespaces that exist beforehand.

Per N, on a control plane of its own (same machine, same run):
- floor: the same N x 4 objects applied by one `kubectl apply --server-side -f DIR -R`
  (into other namespaces of the same cluster), timed;
- tether: from the first Application created to every one Synced+Healthy (the bench's
  own watch on Applications), the controller's peak RSS and CPU, and the API requests it
  sent per app (its own client-side counter, `tether_kube_requests_total`);
- idle: 20 s after that with nothing changing: the controller's CPU share and the
  requests it sent (Lease renewals only: no status write).

- CLI: with the fleet Synced, `tether app list` and `tether app wait --all` as a user runs
  them (new processes, imports included), each against the kubectl command that reads
  the same: `kubectl get applications` and `kubectl wait --for=jsonpath=...` on all.

Prints the growth curve (time and memory per app at each N) and the ratio to the floor.
`BENCH_FLEET_SIZES` (default "1000"; e.g. "100,500,1000,2000,5000"); `BENCH_FLEET_ARGS`:
more `tether controller` flags (e.g. "--workers 8 --max-syncs 16"); `BENCH_FLEET_CLI=0`
leaves the CLI phase out.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.support.cli import tether
from tests.support.controller import ControllerProcess
from tests.support.repos import GitopsRepo

from bench.common import (
    bench_cluster,
    cpu_seconds,
    machine,
    rss_mib,
    wait_deployments_available,
)
from tether.engine.apps import crd_installed, ensure_namespace, install_crd
from tether.kube import KubeClient, LiveCache
from tether.localcluster import LocalCluster, binaries
from tether.model.application import API_VERSION

SIZES = [int(n) for n in os.environ.get("BENCH_FLEET_SIZES", "1000").split(",") if n]
APP_NAMESPACE = "tether-system"
NAMESPACES = 10
IDLE_SECONDS = 20.0
TIMEOUT = float(os.environ.get("BENCH_FLEET_TIMEOUT", "1800"))
# BENCH_FLEET_CLI=0 skips the CLI phase: kubectl wait alone takes ~0.1 s per app.
CLI_PHASE = os.environ.get("BENCH_FLEET_CLI", "1") != "0"


def app_objects(name: str, namespace: str | None) -> list[dict[str, Any]]:
    """The four objects of one app (namespace None: the app's destination sets it)."""
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    labels = {"app": name}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(meta), "data": {"app": name}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": dict(meta),
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": dict(meta),
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "containers": [{"name": "app", "image": "ghcr.io/example/app:1.0"}],
                    },
                },
            },
        },
    ]


def application(name: str, repo_url: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {"name": name, "namespace": APP_NAMESPACE},
        "spec": {
            "source": {"repoURL": repo_url, "path": f"apps/{name}", "targetRevision": "main"},
            "destination": {"namespace": namespace},
            "syncPolicy": {"automated": {}},
        },
    }


def kubectl_floor(kubeconfig: str, work: Path, names: list[str]) -> tuple[float, float]:
    """Seconds for `kubectl apply --server-side` of the same objects (other namespaces),
    and until every one of their Deployments is Available as well (the Deployment
    controller's share, which no GitOps tool can skip to be Healthy)."""
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    floor = work / "floor"
    floor.mkdir()
    namespaces = [f"floor-{n}" for n in range(NAMESPACES)]
    (floor / "namespaces.yaml").write_text(
        yaml.safe_dump_all(
            [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in namespaces]
        )
    )
    subprocess.run(
        [*kubectl, "apply", "-f", str(floor / "namespaces.yaml")], check=True, capture_output=True
    )
    (floor / "namespaces.yaml").unlink()
    for i, name in enumerate(names):
        objects = app_objects(name, namespaces[i % NAMESPACES])
        (floor / f"{name}.yaml").write_text(yaml.safe_dump_all(objects))
    started = time.perf_counter()
    subprocess.run(
        [*kubectl, "apply", "--server-side", "--field-manager=floor", "-R", "-f", str(floor)],
        check=True,
        capture_output=True,
    )
    applied = time.perf_counter() - started
    wait_deployments_available(kubeconfig, namespaces, timeout=int(TIMEOUT))
    return applied, time.perf_counter() - started


@dataclass
class FleetRun:
    apps: int
    seconds: float
    floor: float
    floor_ready: float
    peak_rss_mib: float
    cpu_seconds: float
    requests_per_app: float
    idle_cpu_share: float
    idle_requests: float
    cli: CliTimes


@dataclass
class CliTimes:
    app_list: float
    kubectl_get: float
    app_wait: float
    kubectl_wait: float


def timed_run(args: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}: exit {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def cli_times(kubeconfig: str, work: Path, n: int) -> CliTimes:
    """`tether app list` / `app wait --all` on the Synced fleet, and kubectl's equivalents."""
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}", "-n", APP_NAMESPACE]
    started = time.perf_counter()
    listed = tether(kubeconfig, "-n", APP_NAMESPACE, "app", "list")
    app_list = time.perf_counter() - started
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == n + 1, listed.stdout[-500:]
    kubectl_get = timed_run([*kubectl, "get", "applications.tether.dev"])
    started = time.perf_counter()
    waited = tether(
        kubeconfig,
        "-n",
        APP_NAMESPACE,
        "app",
        "wait",
        "--all",
        "--timeout",
        "600",
        cache=work / "cli-cache",
        timeout=900,
    )
    app_wait = time.perf_counter() - started
    assert waited.returncode == 0, waited.stderr[-2000:]
    kubectl_wait = timed_run(
        [
            *kubectl,
            "wait",
            "applications.tether.dev",
            "--all",
            "--timeout=600s",
            "--for=jsonpath={.status.health.status}=Healthy",
        ]
    )
    print(
        f"  CLI: app list {app_list:.2f} s (kubectl get {kubectl_get:.2f} s),"
        f" app wait --all {app_wait:.1f} s (kubectl wait {kubectl_wait:.1f} s)",
        flush=True,
    )
    return CliTimes(app_list, kubectl_get, app_wait, kubectl_wait)


def requests_by_verb(proc: ControllerProcess) -> Counter[str]:
    """The controller's own count of the API requests it sent, by verb."""
    with urllib.request.urlopen(proc.metrics_url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    found: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("tether_kube_requests_total{"):
            verb = line.split('verb="', 1)[1].split('"', 1)[0]
            found[verb] += int(float(line.rsplit(" ", 1)[1]))
    return found


APISERVER_SERIES = "apiserver_request_duration_seconds_"


def apiserver_time(kubeconfig: str) -> tuple[dict[str, float], Counter[str]]:
    """The API server's own account (its /metrics): seconds spent and requests served,
    per verb and resource (dry-runs apart), since it started."""
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    text = subprocess.run(
        [*kubectl, "get", "--raw", "/metrics"], check=True, capture_output=True, text=True
    ).stdout
    seconds: dict[str, float] = {}
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith(APISERVER_SERIES) or "{" not in line:
            continue
        series, _, rest = line.partition("{")
        labels = dict(
            part.split("=", 1) for part in rest.rsplit("}", 1)[0].split(",") if "=" in part
        )
        label = {k: v.strip('"') for k, v in labels.items()}
        what = f"{label.get('verb', '?')} {label.get('resource', '?')}" + (
            f"/{label['subresource']}" if label.get("subresource") else ""
        )
        if label.get("dry_run"):
            what += " (dry-run)"
        value = float(line.rsplit(" ", 1)[1])
        if series.endswith("_sum"):
            seconds[what] = seconds.get(what, 0.0) + value
        elif series.endswith("_count"):
            counts[what] += int(value)
    return seconds, counts


def kube_requests(proc: ControllerProcess) -> float:
    return float(sum(requests_by_verb(proc).values()))


async def run_size(cluster: LocalCluster, work: Path, n: int) -> FleetRun:
    kubeconfig = str(cluster.kubeconfig)
    names = [f"app-{i:05d}" for i in range(n)]
    repo = GitopsRepo(work, name="fleet")
    repo.write(
        {f"apps/{name}/all.yaml": yaml.safe_dump_all(app_objects(name, None)) for name in names}
    )
    repo.commit("fleet")
    floor, floor_ready = await asyncio.to_thread(kubectl_floor, kubeconfig, work, names)
    print(
        f"  floor: kubectl apply --server-side of {n * 4} objects: {floor:.1f} s,"
        f" every Deployment Available: {floor_ready:.1f} s",
        flush=True,
    )

    kube = KubeClient.from_kubeconfig(kubeconfig)
    ready: set[str] = set()
    all_ready = asyncio.Event()
    states: dict[str, str] = {}  # app -> "sync/health/operation" as last seen
    unsuccessful: dict[str, str] = {}  # app -> its last operation's message, unless Succeeded

    def on_event(_event: str, obj: dict[str, Any]) -> None:
        if obj.get("kind") != "Application":
            return
        status = obj.get("status") or {}
        name = obj["metadata"]["name"]
        states[name] = "/".join(
            (
                (status.get("sync") or {}).get("status", "-"),
                (status.get("health") or {}).get("status", "-"),
                (status.get("operationState") or {}).get("phase", "-"),
            )
        )
        operation = status.get("operationState") or {}
        if operation.get("phase") in ("Failed", "Error"):
            unsuccessful[name] = str(operation.get("message", ""))[:160]
        elif operation.get("phase") == "Succeeded":
            unsuccessful.pop(name, None)
        if (status.get("sync") or {}).get("status") == "Synced" and (
            status.get("health") or {}
        ).get("status") == "Healthy":
            ready.add(name)
            if len(ready) == n:
                all_ready.set()
        else:
            ready.discard(name)

    watch = LiveCache(kube)
    watch.add_listener(on_event)
    try:
        await ensure_namespace(kube, APP_NAMESPACE)
        for i in range(NAMESPACES):
            await ensure_namespace(kube, f"fleet-{i}")
        if not await crd_installed(kube):
            await install_crd(kube)
        await watch.watch_kind(API_VERSION, "Application")
        args = os.environ.get("BENCH_FLEET_ARGS", "").split()
        with ControllerProcess(kubeconfig, APP_NAMESPACE, work, *args, verbose=False) as proc:
            assert proc.proc is not None
            pid = proc.proc.pid
            cpu_before = cpu_seconds(pid)
            requests_before = kube_requests(proc)
            server_before = await asyncio.to_thread(apiserver_time, kubeconfig)
            limit = asyncio.Semaphore(32)

            async def create(i: int, name: str) -> None:
                async with limit:
                    await kube.create(application(name, repo.url, f"fleet-{i % NAMESPACES}"))

            started = time.monotonic()
            await asyncio.gather(*(create(i, name) for i, name in enumerate(names)))
            created = time.monotonic() - started
            print(f"  {n} Applications created in {created:.1f} s", flush=True)
            last = 0
            while not all_ready.is_set():
                try:
                    await asyncio.wait_for(all_ready.wait(), 5)
                except TimeoutError:
                    if time.monotonic() - started > TIMEOUT:
                        raise TimeoutError(
                            f"{len(ready)}/{n} ready after {TIMEOUT:.0f} s"
                        ) from None
                last = len(ready)
                counts = Counter(states.values()).most_common(3)
                print(
                    f"  {last}/{n} Synced+Healthy at {time.monotonic() - started:.0f} s"
                    f" ({', '.join(f'{k}: {v}' for k, v in counts)})",
                    flush=True,
                )
            seconds = time.monotonic() - started
            if unsuccessful:  # Synced+Healthy, yet the last sync did not succeed: why
                print(f"  {len(unsuccessful)} apps' last sync not Succeeded:", flush=True)
                for message, count in Counter(unsuccessful.values()).most_common(5):
                    print(f"    {count} x {message}", flush=True)
            cpu = cpu_seconds(pid) - cpu_before
            requests = kube_requests(proc) - requests_before
            verbs = requests_by_verb(proc)
            print(
                "  requests per app by verb: "
                + ", ".join(f"{v} {c / n:.1f}" for v, c in verbs.most_common()),
                flush=True,
            )
            server_seconds, server_counts = await asyncio.to_thread(apiserver_time, kubeconfig)
            server_counts.subtract(server_before[1])
            spent_on = {
                what: spent - server_before[0].get(what, 0.0)
                for what, spent in server_seconds.items()
                if not what.startswith("WATCH")
            }
            print("  the API server's time (all clients; watches left out):")
            for what, spent in sorted(spent_on.items(), key=lambda item: -item[1])[:8]:
                count = server_counts[what]
                print(
                    f"    {what}: {count / n:.2f} per app, {spent:.1f} s"
                    f" ({spent / max(count, 1) * 1000:.1f} ms each)",
                    flush=True,
                )
            _, peak = rss_mib(pid)
            idle_cpu = cpu_seconds(pid)
            idle_req = kube_requests(proc)
            await asyncio.sleep(IDLE_SECONDS)
            idle_share = (cpu_seconds(pid) - idle_cpu) / IDLE_SECONDS
            idle_requests = kube_requests(proc) - idle_req
            nan = float("nan")
            cli = (
                await asyncio.to_thread(cli_times, kubeconfig, work, n)
                if CLI_PHASE
                else CliTimes(nan, nan, nan, nan)
            )
    finally:
        await watch.close()
        kube.close()
    return FleetRun(
        n,
        seconds,
        floor,
        floor_ready,
        peak,
        cpu,
        requests / n,
        idle_share,
        max(idle_requests, 0),
        cli,
    )


def report(runs: list[FleetRun]) -> None:
    print(f"\nfleet: N apps x 4 objects to Synced+Healthy, one controller ({machine()})")
    print(
        f"{'apps':>6} {'time':>8} {'per app':>9} {'floor':>8} {'ratio':>6} {'+ready':>8}"
        f" {'ratio':>6} {'peak RSS':>9}"
        f" {'RSS/app':>8} {'CPU':>7} {'req/app':>8} {'idle CPU':>9} {'idle req':>9}"
    )
    for r in runs:
        print(
            f"{r.apps:>6} {r.seconds:>7.1f}s {1000 * r.seconds / r.apps:>7.1f}ms"
            f" {r.floor:>7.1f}s {r.seconds / r.floor:>5.2f}x {r.floor_ready:>7.1f}s"
            f" {r.seconds / r.floor_ready:>5.2f}x {r.peak_rss_mib:>7.0f}Mi"
            f" {1024 * r.peak_rss_mib / r.apps:>6.0f}Ki {r.cpu_seconds:>6.0f}s"
            f" {r.requests_per_app:>8.1f} {100 * r.idle_cpu_share:>8.1f}% {r.idle_requests:>9.0f}"
        )
    print(
        f"{'apps':>6} {'app list':>9} {'kubectl get':>12} {'app wait --all':>15}"
        f" {'kubectl wait':>13}"
    )
    for r in runs:
        c = r.cli
        print(
            f"{r.apps:>6} {c.app_list:>8.2f}s {c.kubectl_get:>11.2f}s {c.app_wait:>14.1f}s"
            f" {c.kubectl_wait:>12.1f}s"
        )
    if len(runs) > 1:
        small, large = runs[0], runs[-1]
        growth = (large.seconds / large.apps) / (small.seconds / small.apps)
        print(f"time per app at {large.apps} / at {small.apps}: {growth:.2f}x")


def main() -> None:
    runs = []
    for n in SIZES:
        print(f"fleet: {n} applications", flush=True)
        with tempfile.TemporaryDirectory(prefix="tether-fleet-") as tmp, bench_cluster() as cluster:
            runs.append(asyncio.run(run_size(cluster, Path(tmp), n)))
    report(runs)


if __name__ == "__main__":
    main()
