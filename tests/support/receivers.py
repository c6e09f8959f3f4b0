"""A real HTTP receiver of notifications on 127.0.0.1 for tests: it records every
request (path, headers, body) and answers with the status codes it is told to, in order
(then 200), so retries, refusals and a receiver that is down can be tested for real.
Verifying Flux's `generic-hmac` signature is here too, written from Flux's description
(HMAC-SHA256 of the body with the Secret's token, hex, `X-Signature: sha256=<hex>`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tether.engine.apps import crd_installed, install_crd
from tether.kube import KubeClient
from tether.model.notification import NOTIFICATION_VERSION


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-path-4711"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.received]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def flux_signature_valid(received: Received, token: str) -> bool:
    header = received.headers.get("x-signature", "")
    algorithm, _, sent = header.partition("=")
    if algorithm != "sha256":
        return False
    expected = hmac.new(token.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(sent, expected)


async def register_receiver(
    kube: KubeClient,
    namespace: str,
    kind: str,
    address: str,
    token: str,
    *,
    timeout: str | None = None,
    **alert: Any,
) -> None:
    """Secret `receiver` (address, token), Provider `hook` of `kind`, Alert `ops` with
    the given spec fields (`triggers` at least)."""
    if not await crd_installed(kube):
        await install_crd(kube)

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "receiver", "namespace": namespace},
            "data": {"address": b64(address), "token": b64(token)},
        }
    )
    provider: dict[str, Any] = {"type": kind, "secretRef": {"name": "receiver"}}
    if timeout:
        provider["timeout"] = timeout
    for kind_, name, spec in (
        ("Provider", "hook", provider),
        ("Alert", "ops", {"providerRef": {"name": "hook"}, **alert}),
    ):
        await kube.apply(
            {
                "apiVersion": NOTIFICATION_VERSION,
                "kind": kind_,
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            }
        )
