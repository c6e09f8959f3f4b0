"""Shared fixtures: one real local control plane per test session, a namespace per test,
and real git repositories (bare on disk, served over `git http-backend` on loopback)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.support.githttp import GitHttpServer
from tests.support.projects import delete_project, permissive_project
from tests.support.repos import GitopsRepo
from tether.engine.compare import Engine
from tether.git import GitRepos
from tether.kube import KubeClient, LiveCache
from tether.localcluster import LocalCluster, binaries
from tether.render import RenderTools


def _state_dir_prefix() -> str:
    return f"tether-test-cluster-{os.getuid()}-"


def _reap_abandoned_clusters() -> None:
    """Stop the control planes of earlier test sessions that died before their teardown.

    Each session's state directory is named after its pytest PID; one whose process is
    gone was abandoned, and its components (recorded in it) are stopped by PID.
    """
    for path in Path(tempfile.gettempdir()).glob(_state_dir_prefix() + "*"):
        pid = path.name.removeprefix(_state_dir_prefix())
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            asyncio.run(LocalCluster(path).down())
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    _reap_abandoned_clusters()
    cluster = LocalCluster(Path(tempfile.gettempdir()) / f"{_state_dir_prefix()}{os.getpid()}")
    try:
        asyncio.run(cluster.up(timeout=240))
        yield cluster
    finally:
        asyncio.run(cluster.down())
        shutil.rmtree(cluster.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kubeconfig(local_cluster: LocalCluster) -> str:
    return str(local_cluster.kubeconfig)


@pytest.fixture
async def kube(kubeconfig: str) -> AsyncIterator[KubeClient]:
    client = KubeClient.from_kubeconfig(kubeconfig)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def namespace(kube: KubeClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    base = request.node.name.lower().replace("_", "-")[:40].strip("-")
    name = f"t-{base}-{uuid.uuid4().hex[:6]}"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        await kube.delete("v1", "Namespace", name)


@pytest.fixture
async def open_project(kube: KubeClient, namespace: str) -> AsyncIterator[str]:
    """A Project that lets the apps of the test namespace deploy anything anywhere (for
    tests about something other than the policy), deleted afterwards."""
    name = await permissive_project(kube, namespace)
    try:
        yield name
    finally:
        await delete_project(kube, name)


@pytest.fixture
async def engine(kube: KubeClient, tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine as the CLI builds one: git cache in tmp, real render tools, a watch cache."""
    cache = LiveCache(kube)
    built = Engine(
        kube, GitRepos(tmp_path / "git-cache"), RenderTools.from_dir(binaries.bin_dir()), cache
    )
    try:
        yield built
    finally:
        await built.evaluator.close()
        await cache.close()


@pytest.fixture
def repo(tmp_path: Path) -> GitopsRepo:
    """A GitOps repository: a bare repo on disk (file:// URL) and a work tree."""
    return GitopsRepo(tmp_path)


@pytest.fixture(scope="session")
def kubectl(kubeconfig: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real kubectl against the session cluster."""
    exe = str(binaries.binary("kubectl"))

    def run(
        *args: str, check: bool = True, env: dict[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [exe, f"--kubeconfig={kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            input=input,
            env={**os.environ, **(env or {})},
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    return run


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    server = GitHttpServer(tmp_path_factory.mktemp("git-http")).start()
    try:
        yield server
    finally:
        server.stop()


# Fixtures that need the Go-built binaries: the session's control plane, a control plane
# of the test's own (`empty_cluster`, `state_dir`), or the built render tools (`tools`).
NEEDS_BINARIES = frozenset({"local_cluster", "kubeconfig", "empty_cluster", "state_dir", "tools"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test that needs the Go-built binaries is marked, so `-m "not cluster"` runs
    # only the pure tests (and passes on a machine without the binaries).
    for item in items:
        if NEEDS_BINARIES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
