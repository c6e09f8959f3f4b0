"""Deadlines and a connection cap for the HTTP servers (uvicorn on h11).

uvicorn bounds little by itself: `timeout_keep_alive` only runs between requests (armed
once a response is complete, cancelled by the next byte), and h11's
`max_incomplete_event_size` bounds the size of the headers, not the time they take. A
client that trickles its headers or its body a byte at a time, or connects and sends
nothing, held its connection forever. `limit_concurrency` answers 503 only once a
request's headers have arrived, so idle connections are not refused by it either.

`DeadlineProtocol` is uvicorn's h11 protocol with three deadlines per request, all
following h11's own state rather than parsing anything itself:
- headers: from the moment the connection is ready for a request (accepted, or the
  previous response done) until the request line and headers are complete;
- body: from the end of the headers until the end of the body;
- request: from the moment the connection is ready for a request until the response is
  complete and the body fully read.
A request that misses one is answered 408 and its connection closed; a connection on
which no request byte arrived, or whose response had already started, is just closed.
A connection over `max_connections` is answered 503 and closed before anything is read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.server import ServerState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    request_timeout: float = 15.0
    keep_alive_timeout: int = 5  # idle between requests: uvicorn's own timer
    max_connections: int = 64  # open connections per server
    max_header_bytes: int = 16 * 1024  # request line + headers (h11's incomplete-event cap)

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "request_timeout", "keep_alive_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"server limit {name} must be positive")
        if self.max_connections < 1 or self.max_header_bytes < 1024:
            raise ValueError("server limits: max_connections >= 1, max_header_bytes >= 1024")


class LimitedConfig(uvicorn.Config):
    """A uvicorn Config that carries `ServerLimits` to each connection's protocol."""

    def __init__(self, app: Any, *, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(
            app,
            http=DeadlineProtocol,
            timeout_keep_alive=limits.keep_alive_timeout,
            h11_max_incomplete_event_size=limits.max_header_bytes,
            **kwargs,
        )
        self.limits = limits


def _raw_response(status: int, reason: str, text: str, *extra: str) -> bytes:
    """A complete response written past h11: only ever followed by closing the
    connection, so h11's view of the exchange no longer matters."""
    body = (text + "\n").encode()
    head = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: text/plain; charset=utf-8",
        "connection: close",
        f"content-length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class DeadlineProtocol(H11Protocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = config.limits if isinstance(config, LimitedConfig) else ServerLimits()
        self._refused = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._request_timer: asyncio.TimerHandle | None = None
        self._timed: RequestResponseCycle | None = None  # the request the timers are for
        self._seen: RequestResponseCycle | None = None  # the latest request parsed
        self._bytes_waiting = False  # a byte of the next request arrived

    # -- the connection ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self._refused = True
            self.transport = transport
            peer = transport.get_extra_info("peername")
            log.warning("refusing a connection from %s: %d open", peer, len(self.connections))
            text = f"too many connections (limit {self.limits.max_connections})"
            transport.write(_raw_response(503, "Service Unavailable", text, "retry-after: 1"))
            transport.close()
            return
        super().connection_made(transport)
        self._wait_for_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport.is_closing():
            return
        if self._timed is None:
            self._bytes_waiting = True
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    # -- deadlines -------------------------------------------------------------------------

    def _later(self, seconds: float, what: str) -> asyncio.TimerHandle:
        return self.loop.call_later(seconds, self._expired, what, seconds)

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer, self._request_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = self._request_timer = None

    def _wait_for_request(self) -> None:
        self._cancel_timers()
        self._timed = None
        self._bytes_waiting = False
        self._header_timer = self._later(self.limits.header_timeout, "request headers not received")
        self._request_timer = self._later(self.limits.request_timeout, "request not completed")

    def _follow(self) -> None:
        """Move the deadlines along with h11's state after it consumed bytes or sent a
        response."""
        if self.transport.is_closing():
            return
        if self.cycle is not self._seen:  # h11 parsed the headers of a new request
            if self._timed is not None:  # pipelined right behind the previous exchange
                self._wait_for_request()
            self._seen = self.cycle
            if self.cycle is not None:
                self._headers_done(self.cycle)
        elif (
            self._timed is not None
            and self._timed.response_complete
            and self.conn.our_state is h11.IDLE
        ):
            self._wait_for_request()  # both sides done: h11 started the next cycle
        if self._body_timer is not None and self.conn.their_state is not h11.SEND_BODY:
            self._body_timer.cancel()
            self._body_timer = None

    def _headers_done(self, cycle: RequestResponseCycle) -> None:
        self._timed = cycle
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self.conn.their_state is h11.SEND_BODY:
            self._body_timer = self._later(self.limits.body_timeout, "request body not received")

    def _expired(self, what: str, seconds: float) -> None:
        if self.transport.is_closing():
            return
        cycle = self._timed
        # A 408 to a request under way; silence to an idle connection or after a response.
        answer = self._bytes_waiting if cycle is None else not cycle.response_started
        log.warning(
            "closing the connection from %s: %s within %gs",
            self.client,
            what,
            seconds,
        )
        if answer:
            text = f"request timeout: {what} within {seconds:g}s"
            self.transport.write(_raw_response(408, "Request Timeout", text))
        if cycle is not None:  # the handler sees a disconnect; its response goes nowhere
            cycle.disconnected = True
            cycle.keep_alive = False
            cycle.message_event.set()
        self._cancel_timers()
        self.transport.close()
