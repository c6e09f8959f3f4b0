"""The controller's HTTP endpoints: metrics and probes on one address, push webhooks on
another (DESIGN §4: `--metrics-addr :8082`, `--webhook-addr :8083`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tether.core.metrics import MetricsSnapshot
from tether.core.webhook import MAX_BODY_BYTES, PushEvent, WebhookRejected, parse_push, verify
from tether.errors import InputError

from .metrics import metrics_registry

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


def webhook_app(secret: Callable[[], str], on_push: Callable[[PushEvent], list[str]]) -> Starlette:
    async def receive(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse({"error": "payload too large"}, status_code=413)
        try:
            provider = verify(dict(request.headers), body, secret())
            event = parse_push(provider, body)
        except WebhookRejected as exc:
            log.warning("webhook rejected (%d): %s", exc.status, exc.message)
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        urls = on_push(event)
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


async def serve(app: Starlette, address: tuple[str, int], name: str) -> None:
    config = uvicorn.Config(
        app, host=address[0], port=address[1], log_level="warning", access_log=False, lifespan="off"
    )
    server = _Server(config)
    log.info("%s listening on http://%s:%d", name, *address)
    try:
        await server.serve()
    except asyncio.CancelledError:
        server.should_exit = True
        raise


class _Server(uvicorn.Server):
    """The controller owns signal handling; uvicorn must not replace its handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield
