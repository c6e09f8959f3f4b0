"""Shared pieces of the benchmarks: a throwaway local control plane and timing helpers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tether.localcluster import LocalCluster, binaries


@contextlib.contextmanager
def bench_cluster() -> Iterator[LocalCluster]:
    """A control plane of the benchmark's own, stopped and removed afterwards."""
    state = Path(tempfile.mkdtemp(prefix="tether-bench-"))
    cluster = LocalCluster(state)
    try:
        asyncio.run(cluster.up(timeout=240))
        yield cluster
    finally:
        asyncio.run(cluster.down())
        shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def timed(results: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        results[name] = time.perf_counter() - start


def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = platform.python_version()
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {python}"


def wait_deployments_available(
    kubeconfig: str, namespaces: Iterable[str], timeout: int = 600
) -> None:
    """Until every Deployment of the namespaces is Available, polled once a second with
    one `kubectl get -A` (`kubectl wait --all` waits object after object: minutes for
    thousands of Deployments, which made the floor slower than what it measures)."""
    wanted = set(namespaces)
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    columns = 'NS:.metadata.namespace,OK:.status.conditions[?(@.type=="Available")].status'
    deadline = time.monotonic() + timeout
    while True:
        listed = subprocess.run(
            [
                *kubectl,
                "get",
                "deployments",
                "-A",
                "--no-headers",
                "-o",
                f"custom-columns={columns}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows = [line.split() for line in listed.stdout.splitlines()]
        mine = [row for row in rows if row and row[0] in wanted]
        if mine and all(len(row) > 1 and row[1] == "True" for row in mine):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"Deployments not Available after {timeout} s")
        time.sleep(1.0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def rss_mib(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]
