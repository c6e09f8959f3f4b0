"""Who is asking, and whether a state-changing request may go ahead: the dashboard's
write guard (origin, CSRF token, form size), and for the controller's `/ui` the signed-in
callers (a Kubernetes token checked once by a TokenReview at sign-in, then a session
cookie; or a bearer token on each request, for scripts).

A session keeps the user the API server named, never the token. The cookie is HttpOnly
and SameSite=Strict: a page of another site can neither read it nor send it along.
"""

from __future__ import annotations

import hmac
import secrets
import time
import urllib.parse
from collections import OrderedDict
from typing import Protocol

from starlette.requests import Request

from tether.engine.dashboard_access import AccessDecision
from tether.kube.reviews import ReviewedUser

SESSION_COOKIE = "tether_session"
SESSION_SECONDS = 8 * 3600.0
MAX_SESSIONS = 1000
MAX_FORM_BYTES = 16 * 1024


class DashboardAuth(Protocol):
    """TokenReview and SubjectAccessReview (engine/dashboard_access.KubernetesAccess)."""

    async def authenticate(self, token: str) -> ReviewedUser | None: ...

    async def authorize(
        self, user: ReviewedUser, namespace: str, name: str, action: str
    ) -> AccessDecision: ...


class Sessions:
    """Signed-in users by random session id, each for SESSION_SECONDS; the oldest is
    dropped past MAX_SESSIONS (a flood of sign-ins cannot grow memory)."""

    def __init__(self, ttl: float = SESSION_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.ttl = ttl
        self.limit = limit
        self._open: OrderedDict[str, tuple[ReviewedUser, float]] = OrderedDict()

    def open(self, user: ReviewedUser) -> str:
        session = secrets.token_urlsafe(32)
        self._open[session] = (user, time.monotonic() + self.ttl)
        while len(self._open) > self.limit:
            self._open.popitem(last=False)
        return session

    def user(self, session: str) -> ReviewedUser | None:
        found = self._open.get(session)
        if found is None:
            return None
        user, expires = found
        if time.monotonic() >= expires:
            del self._open[session]
            return None
        return user

    def close(self, session: str) -> None:
        self._open.pop(session, None)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def caller(request: Request, auth: DashboardAuth, sessions: Sessions) -> ReviewedUser | None:
    """The signed-in user: a bearer token (checked now) or the session cookie."""
    token = bearer_token(request)
    if token is not None:
        return await auth.authenticate(token)
    session = request.cookies.get(SESSION_COOKIE, "")
    return sessions.user(session) if session else None


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind these pages send), read at most MAX_FORM_BYTES
    (a longer body is no form of ours: empty); kept on the request for a second read."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            request.state.form = {}
            return {}
    try:
        parsed = urllib.parse.parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
    except ValueError:  # more fields than any form of ours has
        parsed = {}
    form = {k: v[0] for k, v in parsed.items() if v}
    request.state.form = form
    return form


async def refused_write(request: Request, csrf_token: str) -> str | None:
    """Why a state-changing request is refused (None: it may go ahead). The page's own
    forms send the token and come from this origin; a cross-site form does neither. A
    request with a bearer token needs no CSRF token: no browser adds that header to a
    cross-site request by itself."""
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None and urllib.parse.urlsplit(origin).netloc.lower() != host.lower():
        return "cross-origin request refused"
    if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
        return "cross-site request refused"
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return "expected a form"
    if bearer_token(request) is not None:
        return None
    form = await read_form(request)
    sent = form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token.encode()):
        return "missing or wrong CSRF token: reload the page"
    return None


__all__ = [
    "SESSION_COOKIE",
    "DashboardAuth",
    "Sessions",
    "bearer_token",
    "caller",
    "read_form",
    "refused_write",
]
