"""Helpers of the hostile-render tests: fixture trees, a loopback trap server, checks."""

from __future__ import annotations

import contextlib
import os
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tether.errors import InputError
from tether.render import RenderRequest, RenderTools, render

MIB = 1 << 20


class Trap(ThreadingHTTPServer):
    connections = 0

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1  # every connection, before any byte is read
        return True


class _Serve(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = configmap("remote").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            Path(dirpath, name).chmod(0o444)
        Path(dirpath).chmod(0o555)


def make_writable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        Path(dirpath).chmod(0o755)
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                path.chmod(0o644)


def configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def billion_laughs(name: str = "lol") -> str:
    lols = ",".join(['"lol"'] * 9)
    lines = ["apiVersion: v1", "kind: ConfigMap", f"metadata: {{name: {name}}}", "data:"]
    lines.append(f"  l0: &l0 [{lols}]")
    for level in range(1, 9):
        lines.append(f"  l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


async def expect_error(request: RenderRequest, tools: RenderTools) -> str:
    """The one-line InputError of a refused render (exit code 2), no cache path in it."""
    with pytest.raises(InputError) as caught:
        await render(request, tools)
    error = caught.value
    message = str(error)
    assert error.exit_code == 2
    assert "\n" not in message
    assert str(request.root) not in message
    assert str(request.root.resolve()) not in message
    assert "tether-render-" not in message  # nor the workspace
    return message


def kustomization(tree: Path, text: str, app: str = "app") -> RenderRequest:
    write(tree, {f"{app}/kustomization.yaml": text, f"{app}/cm.yaml": configmap("a")})
    return RenderRequest(root=tree, app_name="web", path=app)


@contextlib.contextmanager
def serve_trap() -> Iterator[Trap]:
    """A loopback HTTP server that counts every connection it gets (and serves a
    ConfigMap to whoever asks)."""
    server = Trap(("127.0.0.1", 0), _Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
