"""Tools for failure tests: a private control plane that a test may break without
touching the session's, a TCP proxy that can cut a client off from the API server, and
a "git server" that accepts connections and never answers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType

import yaml

from tether.localcluster import LocalCluster


def _prefix() -> str:
    return f"tether-chaos-cluster-{os.getuid()}-"


async def _reap_abandoned() -> None:
    """Stop private control planes of test processes that died before their teardown."""
    for path in Path(tempfile.gettempdir()).glob(_prefix() + "*"):
        pid = path.name.removeprefix(_prefix()).split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            await LocalCluster(path).down()
            shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_cluster(name: str) -> AsyncIterator[LocalCluster]:
    """A control plane of its own, in a temp state dir named after this process; always
    stopped (every component, by PID) and removed afterwards."""
    await _reap_abandoned()
    cluster = LocalCluster(Path(tempfile.gettempdir()) / f"{_prefix()}{os.getpid()}-{name}")
    try:
        await cluster.up(timeout=240)
        yield cluster
    finally:
        await cluster.down()
        shutil.rmtree(cluster.state_dir, ignore_errors=True)


def api_port(cluster: LocalCluster) -> int:
    server = cluster.server
    assert server is not None
    return int(server.rsplit(":", 1)[1])


class CuttableProxy:
    """A loopback TCP proxy to a port. `cut()` drops every connection and refuses new
    ones (each accepted connection is closed at once) until `restore()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open = True
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True, name="proxy")

    def start(self) -> CuttableProxy:
        self._thread.start()
        return self

    def kubeconfig(self, original: Path, dest: Path) -> Path:
        """A copy of `original` whose server is this proxy."""
        doc = yaml.safe_load(original.read_text())
        for cluster in doc["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        dest.write_text(yaml.safe_dump(doc))
        return dest

    def cut(self) -> None:
        with self._lock:
            self._open = False
            conns, self._conns = self._conns, set()
        for conn in conns:
            _close(conn)

    def restore(self) -> None:
        with self._lock:
            self._open = True

    def stop(self) -> None:
        self._stopped = True
        self.cut()
        _close(self._listener)
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                admitted = self._open
            if not admitted:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)

    def __enter__(self) -> CuttableProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SilentServer:
    """Accepts TCP connections on loopback and never answers (a hung git remote)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._held: list[socket.socket] = []
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True, name="silent")

    @property
    def accepted(self) -> int:
        return len(self._held)

    def start(self) -> SilentServer:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(conn)

    def stop(self) -> None:
        self._stopped = True
        _close(self._listener)
        for conn in self._held:
            _close(conn)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> SilentServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


async def wait_until(
    check: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> float:
    """Seconds until `check()` is truthy; AssertionError naming `what` after `timeout`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < timeout:
        if check():
            return loop.time() - start
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
