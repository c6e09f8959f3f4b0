"""`tether app list` of a large fleet, against `kubectl get` of the same Applications.

N Applications (default 5,000: `BENCH_LIST_APPS`) with the status a controller leaves
(4 resources, one history entry, Synced+Healthy) are written straight to the API server
(no controller, no Git: listing reads only the Applications). Then each command runs
as a user runs it, a new process every time (imports included), best of 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
import time
from typing import Any

from tests.support.cli import tether

from bench.common import bench_cluster, machine
from tether.cli.app_list import HEADERS, _row
from tether.cli.output import emit_table
from tether.core.fleet import list_line
from tether.engine.apps import (
    apply_status,
    ensure_namespace,
    install_crd,
    list_app_lines,
    list_apps,
)
from tether.kube import KubeClient
from tether.localcluster import binaries
from tether.model.application import API_VERSION, Application, ApplicationStatus

APPS = int(os.environ.get("BENCH_LIST_APPS", "5000"))
NAMESPACE = "tether-system"
SHA = "0123456789abcdef0123456789abcdef01234567"


def status(i: int) -> ApplicationStatus:
    kinds = (("apps", "Deployment"), ("", "Service"), ("", "ConfigMap"), ("", "ServiceAccount"))
    return ApplicationStatus.from_dict(
        {
            "sync": {"status": "Synced", "revision": SHA},
            "health": {"status": "Healthy"},
            "resources": [
                {"group": g, "version": "v1", "kind": k, "namespace": f"fleet-{i % 10}",
                 "name": f"app-{i:05d}", "status": "Synced", "health": {"status": "Healthy"}}
                for g, k in kinds
            ],
            "history": [{"id": 1, "revision": SHA, "deployedAt": "2026-12-03T05:00:00Z"}],
        }
    )  # fmt: skip


def application(i: int) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {"name": f"app-{i:05d}", "namespace": NAMESPACE},
        "spec": {
            "source": {"repoURL": "https://git.example/fleet.git", "path": f"apps/app-{i:05d}"},
            "destination": {"namespace": f"fleet-{i % 10}"},
            "syncPolicy": {"automated": {"prune": True}},
        },
    }


async def populate(kubeconfig: str) -> None:
    kube = KubeClient.from_kubeconfig(kubeconfig)
    try:
        await ensure_namespace(kube, NAMESPACE)
        await install_crd(kube)
        limit = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with limit:
                created = await kube.create(application(i))
                app = Application.from_dict(created)
                await apply_status(kube, app, status(i), None)

        await asyncio.gather(*(one(i) for i in range(APPS)))
    finally:
        kube.close()


async def in_process(kubeconfig: str) -> tuple[float, float, float, float]:
    """Seconds for the table request (what `app list` reads), the whole objects' list
    request (what `-o wide|json` read), their summary parse, and rows + table."""
    kube = KubeClient.from_kubeconfig(kubeconfig)
    try:
        started = time.perf_counter()
        lines = await list_app_lines(kube, NAMESPACE)
        assert lines is not None and len(lines) == APPS
        tabled = time.perf_counter()
        items = await kube.list(API_VERSION, "Application", NAMESPACE)
        listed = time.perf_counter()
        apps = await list_apps(_Listed(items), NAMESPACE, summary=True)  # type: ignore[arg-type]
        parsed = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            emit_table([*HEADERS, "MESSAGE"], [_row(list_line(a)) for a in apps])
        done = time.perf_counter()
        return tabled - started, listed - tabled, parsed - listed, done - parsed
    finally:
        kube.close()


class _Listed:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    async def list(self, *_args: Any, **_kwargs: Any) -> list[dict[str, Any]]:
        return self.items


def best_of(runs: int, command: list[str] | None = None, kubeconfig: str = "", *args: str) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        if command is None:
            done = tether(kubeconfig, "-n", NAMESPACE, "app", "list", *args)
            assert done.returncode == 0, done.stderr
            assert len(done.stdout.splitlines()) == APPS + 1
        else:
            subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    with bench_cluster() as cluster:
        kubeconfig = str(cluster.kubeconfig)
        started = time.perf_counter()
        asyncio.run(populate(kubeconfig))
        print(f"cli_list: {APPS} Applications written in {time.perf_counter() - started:.0f} s")
        ours = best_of(3, kubeconfig=kubeconfig)
        wide = best_of(3, None, kubeconfig, "-o", "wide")
        kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}", "-n", NAMESPACE]
        theirs = best_of(3, [*kubectl, "get", "applications.tether.dev"])
        bare = best_of(3, [sys.executable, "-c", "import tether.cli, tether.cli.app_list"])
        table_request, request, parse, table = asyncio.run(in_process(kubeconfig))
    print(f"\ncli_list: `tether app list` of {APPS} Applications ({machine()})")
    print(f"  tether app list: {ours:.2f} s; its start + imports {bare:.2f} s")
    print(f"  tether app list -o wide (whole objects): {wide:.2f} s")
    print(
        f"  in process: table request {table_request:.2f} s; whole objects: list request"
        f" {request:.2f} s, summary parse {parse:.2f} s, rows + table {table:.2f} s"
    )
    print(f"  kubectl get applications.tether.dev: {theirs:.2f} s")
    print(f"  ratio tether / kubectl: {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
