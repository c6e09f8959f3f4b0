"""The HTTP servers against hostile clients: real uvicorn servers started through
`tether.server.http.serve` on 127.0.0.1, driven with raw sockets and http.client.

Each server runs on an event loop of its own in a thread, so the blocking clients here
(one byte every 2 s, N idle connections) measure the server as a remote client would.
Deadlines are short in these tests (3 s) to keep them quick; the defaults are longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette

from tether.core.metrics import ControllerCounters, MetricsSnapshot
from tether.core.webhook import PushEvent
from tether.server.http import Probes, metrics_app, serve, webhook_app
from tether.server.limits import ServerLimits

SECRET = "hook-secret"
CREDENTIAL_URL = "https://deploy:ghp_s3cr3tT0ken@git.example.com/org/app.git"
SLACK = 1.5  # scheduling noise allowed on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningServer:
    """`serve(app, ...)` on a loop of its own in a thread; `stop` cancels it and waits."""

    def __init__(self, app: Starlette, limits: ServerLimits) -> None:
        self.app = app
        self.limits = limits
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"server-{self.port}", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(
            serve(self.app, ("127.0.0.1", self.port), "test", limits=self.limits)
        )
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self.error = exc
        finally:
            self.loop.close()

    def start(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(self.address, 0.5).close()
                time.sleep(0.2)  # the server has seen this probe go: it holds no slot
                return self
            if not self.thread.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"server did not listen on {self.port}: {self.error!r}")

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.thread.is_alive() and self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "server thread did not stop"
        with pytest.raises(OSError):  # the listener is closed, not leaked
            socket.create_connection(self.address, 0.5).close()

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(*self.address, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@dataclass
class Pushes:
    """The on_push callback: counts calls, returns the URLs it was told to."""

    urls: list[str] = field(default_factory=lambda: ["https://git.example.com/org/app.git"])
    events: list[PushEvent] = field(default_factory=list)

    def __call__(self, event: PushEvent) -> list[str]:
        self.events.append(event)
        return list(self.urls)


@contextlib.contextmanager
def running(app: Starlette, **limits: float) -> Iterator[RunningServer]:
    server = RunningServer(app, ServerLimits(**limits)).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def webhook(pushes: Pushes, **options: int) -> Starlette:
    return webhook_app(lambda: SECRET, pushes, **options)


def probes_app() -> Starlette:
    snapshot = MetricsSnapshot(apps=[], counters=ControllerCounters())
    return metrics_app(lambda: snapshot, Probes(alive=lambda: True, ready=lambda: True))


def signed(body: bytes, **extra: str) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={digest}",
        **extra,
    }


def push_body(ref: str = "refs/heads/main", after: str = "a" * 40) -> bytes:
    return json.dumps(
        {"ref": ref, "after": after, "repository": {"clone_url": "https://git.example.com/org/app"}}
    ).encode()


def raw_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Cut:
    seconds: float  # from the start of the trickle to the server's close
    answer: bytes  # everything the server sent


def trickle(
    server: RunningServer, first: bytes, drip: bytes, *, every: float = 2.0, give_up: float = 15.0
) -> Cut:
    """Send `first`, then `drip` one byte every `every` seconds until the server closes
    the connection; what it answered and when. Fails if it is still open after
    `give_up` seconds."""
    with socket.create_connection(server.address, timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(first)
        answer = b""
        for byte in drip:
            sock.settimeout(every)
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
                return Cut(time.monotonic() - started, answer)  # closed by the server
            except TimeoutError:
                pass
            except ConnectionResetError:
                return Cut(time.monotonic() - started, answer)
            if time.monotonic() - started > give_up:
                break
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                return Cut(time.monotonic() - started, answer)
        raise AssertionError(f"connection still open after {time.monotonic() - started:.1f}s")


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One whole response from a raw socket (the connection stays usable)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.read()


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer.split(b" ", 2)[1])


# -- deadlines -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["webhook", "probes"])
def test_a_body_sent_a_byte_every_2s_is_cut_at_the_body_timeout(which: str) -> None:
    app, path = (
        (webhook(Pushes()), "/api/webhook") if which == "webhook" else (probes_app(), "/healthz")
    )
    with running(app, body_timeout=3, header_timeout=30, request_timeout=30) as server:
        body = push_body()
        head = raw_head(
            "POST" if which == "webhook" else "GET",
            path,
            {
                **signed(body),
                "Content-Length": str(len(body)),
            },
        )
        cut = trickle(server, head + body[:1], body[1:])
    assert 3 - 0.2 <= cut.seconds <= 3 + SLACK, cut
    if which == "webhook":
        assert status_of(cut.answer) == 408
        assert b"request body not received within 3s" in cut.answer
    else:  # /healthz answers without reading the body; the trickle is then cut, not answered
        assert status_of(cut.answer) == 200


@pytest.mark.parametrize("app_factory", [lambda: webhook(Pushes()), probes_app])
def test_headers_sent_a_byte_every_2s_are_cut_at_the_header_timeout(
    app_factory: Callable[[], Starlette],
) -> None:
    with running(app_factory(), header_timeout=3, body_timeout=30, request_timeout=30) as server:
        cut = trickle(server, b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"a" * 50)
        assert 3 - 0.2 <= cut.seconds <= 3 + SLACK, cut
        assert status_of(cut.answer) == 408
        assert b"request headers not received within 3s" in cut.answer
        # A connection that sends nothing at all is closed at the same deadline, silently.
        with socket.create_connection(server.address, timeout=10) as sock:
            started = time.monotonic()
            assert sock.recv(100) == b""
            assert 3 - 0.2 <= time.monotonic() - started <= 3 + SLACK


def test_the_whole_request_is_bounded_by_the_request_timeout() -> None:
    # Headers and body each arrive within their own deadline (a byte a second), but the
    # exchange as a whole may not last longer than request_timeout.
    with running(probes_app(), header_timeout=2.5, body_timeout=2.5, request_timeout=4) as server:
        body = b"x" * 100
        head = raw_head("POST", "/nowhere", {"Content-Length": str(len(body))})
        cut = trickle(server, head[:-2], b"\r\n" + body, every=1.0)
    assert 4 - 0.2 <= cut.seconds <= 4 + SLACK, cut
    assert status_of(cut.answer) == 404  # answered at once; the body's trickle is then cut


def test_keep_alive_then_a_trickled_second_request_is_cut_too() -> None:
    limits = {"header_timeout": 3, "body_timeout": 30, "request_timeout": 30}
    with (
        running(probes_app(), **limits) as server,
        socket.create_connection(server.address) as sock,
    ):
        sock.sendall(raw_head("GET", "/healthz", {}))
        assert read_response(sock) == (200, b"ok")
        started = time.monotonic()
        sock.sendall(b"G")  # cancels uvicorn's keep-alive timer; ours still runs
        sock.settimeout(3 + SLACK + 1)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
        assert 3 - 0.2 <= time.monotonic() - started <= 3 + SLACK
        assert status_of(answer) == 408


# -- connection and concurrency limits -------------------------------------------------


def test_connections_over_the_limit_are_refused_with_503() -> None:
    with running(probes_app(), max_connections=4, header_timeout=30, request_timeout=30) as server:
        held = [socket.create_connection(server.address, timeout=5) for _ in range(4)]
        try:
            time.sleep(0.3)  # the server has accepted them
            with socket.create_connection(server.address, timeout=5) as extra:
                started = time.monotonic()
                answer = b""
                while chunk := extra.recv(65536):
                    answer += chunk
                assert time.monotonic() - started < 1.0
            assert status_of(answer) == 503
            assert b"too many connections (limit 4)" in answer
            # A held connection is served; once one closes, a new one is accepted again.
            held[0].sendall(raw_head("GET", "/healthz", {}))
            assert read_response(held[0]) == (200, b"ok")
            held.pop().close()
            time.sleep(0.3)
            assert server.request("GET", "/readyz")[0] == 200
        finally:
            for sock in held:
                sock.close()


def test_webhook_requests_over_the_concurrency_limit_get_503() -> None:
    pushes = Pushes()
    with running(webhook(pushes, max_concurrent=2), body_timeout=30, request_timeout=30) as server:
        body = push_body()
        head = raw_head("POST", "/api/webhook", {**signed(body), "Content-Length": str(len(body))})
        slow = [socket.create_connection(server.address, timeout=5) for _ in range(2)]
        try:
            for sock in slow:
                sock.sendall(head + body[:10])  # inside the handler, waiting for the rest
            time.sleep(0.5)
            status, answer = server.request(
                "POST", "/api/webhook", push_body(after="b" * 40), signed(push_body(after="b" * 40))
            )
            assert status == 503, answer
            assert b"too many concurrent webhook requests (limit 2)" in answer
            slow[0].sendall(body[10:])
            assert read_response(slow[0])[0] == 200
            status, answer = server.request(
                "POST", "/api/webhook", push_body(after="c" * 40), signed(push_body(after="c" * 40))
            )
            assert status == 200, answer
            assert len(pushes.events) == 2
        finally:
            for sock in slow:
                sock.close()


# -- replays, malformed bodies, credentials --------------------------------------------


def test_a_replayed_signed_delivery_triggers_no_second_refresh() -> None:
    pushes = Pushes()
    with running(webhook(pushes)) as server:
        body = push_body()
        first = signed(body, **{"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"})
        status, answer = server.request("POST", "/api/webhook", body, first)
        assert status == 200 and json.loads(answer)["refreshing"], answer
        assert len(pushes.events) == 1
        # The same delivery again, the same body under a fresh id, and the same body
        # re-signed as a Gitea delivery (the same HMAC): all ignored.
        digest = first["X-Hub-Signature-256"].removeprefix("sha256=")
        for headers in (
            first,
            {**first, "X-GitHub-Delivery": "a-fresh-id"},
            {"X-Gitea-Event": "push", "X-Gitea-Signature": digest, "X-Gitea-Delivery": "x"},
        ):
            status, answer = server.request("POST", "/api/webhook", body, headers)
            assert status == 200, answer
            assert json.loads(answer) == {
                "provider": json.loads(answer)["provider"],
                "ref": "refs/heads/main",
                "duplicate": True,
                "message": "duplicate delivery, ignored",
                "refreshing": [],
            }
        assert len(pushes.events) == 1
        # GitLab deliveries are told apart by X-Gitlab-Event-UUID (or their body).
        gitlab_body = json.dumps({"project": {"git_http_url": "https://git.example.com/o/a"}})
        gitlab = {
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Token": SECRET,
            "X-Gitlab-Event-UUID": "u-1",
        }
        assert server.request("POST", "/api/webhook", gitlab_body.encode(), gitlab)[0] == 200
        assert server.request("POST", "/api/webhook", gitlab_body.encode(), gitlab)[0] == 200
        assert len(pushes.events) == 2
        # A wrongly signed copy is refused before the replay memory sees it, and a new
        # push (another body) goes through.
        bad = {**first, "X-Hub-Signature-256": "sha256=" + "0" * 64}
        assert server.request("POST", "/api/webhook", push_body(after="d" * 40), bad)[0] == 401
        new = push_body(after="d" * 40)
        assert server.request("POST", "/api/webhook", new, signed(new))[0] == 200
        assert len(pushes.events) == 3


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (nested(2000), b"body nests deeper than 64 levels"),
        (nested(65), b"body nests deeper than 64 levels"),
        (b"[" * 2000 + b"]" * 2000, b"body nests deeper than 64 levels"),
        (b"[1, 2, 3]", b"body is not a JSON object"),
        (b"{not json", b"body is not JSON"),
        (b'{"ref": "\xff"}', b"body is not JSON"),
        (b'{"repository": ["x"]}', b"payload names no repository URL"),
    ],
)
def test_malformed_signed_bodies_get_400_never_500(body: bytes, expected: bytes) -> None:
    pushes = Pushes()
    with running(webhook(pushes)) as server:
        status, answer = server.request("POST", "/api/webhook", body, signed(body))
    assert status == 400, answer
    assert expected in answer
    assert not pushes.events


def test_non_ascii_signature_header_is_401_not_500() -> None:
    with running(webhook(Pushes())) as server, socket.create_connection(server.address, 5) as sock:
        body = push_body()
        head = raw_head("POST", "/api/webhook", {"Content-Length": str(len(body))})
        sock.sendall(head[:-2] + b"X-Hub-Signature-256: sha256=\xe9\xe9\r\n\r\n" + body)
        assert read_response(sock)[0] == 401


def test_credentials_in_refreshed_urls_are_masked_in_responses_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pushes = Pushes(urls=[CREDENTIAL_URL, "ssh://git@git.example.com/org/app.git"])
    caplog.set_level(logging.DEBUG)
    with running(webhook(pushes)) as server:
        body = push_body()
        status, answer = server.request("POST", "/api/webhook", body, signed(body))
    assert status == 200, answer
    assert json.loads(answer)["refreshing"] == [
        "https://***@git.example.com/org/app.git",
        "ssh://git@git.example.com/org/app.git",
    ]
    assert b"s3cr3t" not in answer and b"deploy:" not in answer
    assert "https://***@git.example.com/org/app.git" in caplog.text  # logged, masked
    assert "s3cr3t" not in caplog.text
