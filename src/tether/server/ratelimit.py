"""A token bucket per client address for the controller's anonymous dashboard: a reader
who reloads in a loop, or a script that walks every app page, is answered 429 instead of
making the controller read Events and Git for it without end.

Requests that carry a live session (a caller signed in with a Kubernetes token) are not
counted: they are few and already paid for a TokenReview. Behind a port-forward or a
proxy every reader shares one address, so the default burst is generous: a person
opening pages never meets it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_CLIENTS = 10_000


@dataclass(frozen=True)
class ReadLimit:
    rate: float = 20.0  # requests per second, refilled continuously
    burst: int = 120  # requests at once (a page load is ~5: page, style, script, stream)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("read limit: rate > 0 and burst >= 1")


class _Buckets:
    def __init__(self, limit: ReadLimit) -> None:
        self.limit = limit
        self._tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """0 when a request may go ahead, else the seconds until one may."""
        tokens, last = self._tokens.pop(client, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - last) * self.limit.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.limit.rate
        self._tokens[client] = (tokens, now)  # most recent last: the oldest go first
        while len(self._tokens) > MAX_CLIENTS:
            self._tokens.popitem(last=False)
        return wait


class ReadRateLimit:
    """ASGI middleware: 429 with Retry-After for an anonymous client over its bucket."""

    def __init__(
        self,
        app: ASGIApp,
        limit: ReadLimit,
        session_cookie: str,
        live_session: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.buckets = _Buckets(limit)
        self.cookie = session_cookie
        self.live_session = live_session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._signed_in(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        wait = self.buckets.take(str(client[0]), time.monotonic())
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        body = b"too many requests: slow down\n"
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(max(1, round(wait + 0.5))).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _signed_in(self, scope: Scope) -> bool:
        for name, value in scope.get("headers") or ():
            if name == b"cookie":
                session = cookie_parser(value.decode("latin-1")).get(self.cookie)
                if session and self.live_session(session):
                    return True
        return False


__all__ = ["ReadLimit", "ReadRateLimit"]
