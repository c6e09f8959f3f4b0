"""The controller's HTTP endpoints: metrics and probes on one address, push webhooks on
another (DESIGN §4: `--metrics-addr :8082`, `--webhook-addr :8083`).

Both face clients that may be hostile: every server runs with `ServerLimits` (deadlines
on headers, body and the whole request; a cap on open connections, see limits.py), and
the webhook answers every malformed or replayed delivery with one line, never a 500.
Responses and log lines show repository URLs only through `display_url` (credentials
masked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tether.core.deliveries import (
    REPLAY_CAPACITY,
    REPLAY_WINDOW_SECONDS,
    SeenDeliveries,
    delivery_keys,
)
from tether.core.metrics import MetricsSnapshot
from tether.core.webhook import MAX_BODY_BYTES, PushEvent, WebhookRejected, parse_push, verify
from tether.errors import InputError, UnreachableError
from tether.model.urls import display_url

from .limits import LimitedConfig, ServerLimits
from .metrics import metrics_registry

MAX_CONCURRENT_WEBHOOKS = 8  # deliveries being read or checked at once; more get 503

log = logging.getLogger(__name__)


@dataclass
class Probes:
    alive: Callable[[], bool]
    ready: Callable[[], bool]


def metrics_app(read: Callable[[], MetricsSnapshot], probes: Probes) -> Starlette:
    registry = metrics_registry(read)

    async def metrics(_: Request) -> Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        ok = probes.alive()
        return PlainTextResponse("ok" if ok else "not alive", status_code=200 if ok else 503)

    async def readyz(_: Request) -> Response:
        ok = probes.ready()
        return PlainTextResponse("ok" if ok else "not ready", status_code=200 if ok else 503)

    return Starlette(
        routes=[
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
    )


def _verified_push(
    headers: dict[str, str], body: bytes, secret: str
) -> tuple[str, PushEvent, tuple[str, ...]]:
    provider = verify(headers, body, secret)
    return provider, parse_push(provider, body), delivery_keys(provider, headers, body)


def webhook_app(
    secret: Callable[[], str],
    on_push: Callable[[PushEvent], list[str]],
    *,
    max_concurrent: int = MAX_CONCURRENT_WEBHOOKS,
    replay_window: float = REPLAY_WINDOW_SECONDS,
    replay_capacity: int = REPLAY_CAPACITY,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """POST /api/webhook. `on_push` runs once per distinct verified delivery (a copy seen
    within `replay_window` seconds is answered 200 "duplicate delivery, ignored")."""
    seen = SeenDeliveries(window=replay_window, capacity=replay_capacity)
    busy = 0

    async def receive(request: Request) -> Response:
        nonlocal busy
        if busy >= max_concurrent:
            log.warning("webhook refused: %d deliveries already in progress", busy)
            return JSONResponse(
                {"error": f"too many concurrent webhook requests (limit {max_concurrent})"},
                status_code=503,
                headers={"retry-after": "1"},
            )
        busy += 1
        try:
            return await _receive(request)
        finally:
            busy -= 1

    async def _receive(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return JSONResponse({"error": "payload too large"}, status_code=413)
        except ClientDisconnect:  # gone, or cut by a deadline: nobody reads an answer
            return Response(status_code=400)
        body = b"".join(chunks)
        try:
            # HMAC and parsing of up to a MiB: off the loop that serves the other clients.
            provider, event, keys = await asyncio.to_thread(
                _verified_push, dict(request.headers), body, secret()
            )
        except WebhookRejected as exc:
            log.warning("webhook rejected (%d): %s", exc.status, exc.message)
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        if not seen.first_sight(keys, clock()):
            log.info("webhook: %s delivery seen before, ignored", provider)
            return JSONResponse(
                {
                    "provider": provider,
                    "ref": event.ref,
                    "duplicate": True,
                    "message": "duplicate delivery, ignored",
                    "refreshing": [],
                }
            )
        try:
            urls = [display_url(u) for u in on_push(event)]
        except BaseException:
            seen.forget(keys)  # not acted on: the provider's retry must get through
            raise
        log.info("webhook: %s push to %r refreshes %s", provider, event.ref, urls or "nothing")
        return JSONResponse({"provider": provider, "ref": event.ref, "refreshing": urls})

    return Starlette(routes=[Route("/api/webhook", receive, methods=["POST"])])


def parse_address(text: str, default_port: int) -> tuple[str, int]:
    """`host:port`, `:port` (loopback) or `port`. Binding all interfaces needs an explicit
    `0.0.0.0:port` (the in-cluster Deployment passes it)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise InputError(f"invalid address {text!r}: expected HOST:PORT or :PORT") from None
    if not 0 <= number <= 65535:
        raise InputError(f"invalid address {text!r}: port out of range")
    return host or "127.0.0.1", number


async def serve(
    app: Starlette,
    address: tuple[str, int],
    name: str,
    limits: ServerLimits | None = None,
    *,
    listener: socket.socket | None = None,
) -> None:
    """Serve `app` until cancelled; on cancellation the listener and every open
    connection are closed before the CancelledError goes on. `listener` is a socket
    bound beforehand (bind_listener), so a caller can fail on a taken port first."""
    config = LimitedConfig(
        app,
        limits=limits or ServerLimits(),
        host=address[0],
        port=address[1],
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = _Server(config)
    listener = listener or bind_listener(address, name)
    log.info("%s listening on http://%s:%d", name, *address)
    try:
        await server.serve(sockets=[listener])
    except asyncio.CancelledError:
        server.should_exit = True
        await server.close_now()
        raise


def bind_listener(address: tuple[str, int], name: str) -> socket.socket:
    """The listening socket, bound here so that a taken port is one clear line (exit 3)
    instead of uvicorn's traceback and SystemExit."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UnreachableError(
            f"{name}: cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}",
            hint="another process holds the port: pick another address (--metrics-addr,"
            " --webhook-addr)",
        ) from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """The controller owns signal handling; uvicorn must not replace its handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def close_now(self, grace: float = 1.0) -> None:
        """Stop listening and drop every connection: a cancelled serve does not reach
        uvicorn's own graceful shutdown, and would leave the port open. A handler whose
        client is gone sees a disconnect and ends by itself; one still running after
        `grace` seconds is cancelled."""
        for listener in getattr(self, "servers", []):
            listener.close()
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        tasks = list(self.server_state.tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
