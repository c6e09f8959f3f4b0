"""The dashboard: server-rendered pages (Jinja2, autoescaped) and the JSON API behind
them, with live updates over Server-Sent Events.

Routes (all GET; this slice is read-only):
- `/ui/` the fleet page, `/ui/rows` its table body (what the page re-fetches on a change);
- `/ui/apps/{namespace}/{name}` an app page, `.../body` its main section, `.../diff` what
  differs now (a compare: the same server-side dry-run diff as `tether app diff`),
  `.../history/{id}` what differs between that history entry's stored manifests and live;
- `/api/v1/apps`, `/api/v1/apps/{namespace}/{name}`: the Applications exactly as
  `tether app list -o json` / `tether app get -o json` print them; `.../diff` the diff
  page's data (paths with writer, cause and time, the masked unified diff, the ignore rule);
- `/api/v1/stream`: `event: app` with `{"namespace", "name"}` for every change;
- `/ui/static/*`: the page's own script and style sheet (no CDN, no inline script).

Every response carries a strict Content-Security-Policy (scripts and styles from this
origin only, no inline script, no framing). Values are escaped by the templates; the page
script only ever sets text or swaps in HTML the server rendered and escaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any, Protocol

import jinja2
import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from tether.core.drift_view import AppDriftView
from tether.core.fleet import AppRow, CommitView, EventRow, app_row, drifted
from tether.engine.dashboard_actions import ACTIONS, ActionResult
from tether.model.application import Application
from tether.model.urls import display_url

HEARTBEAT_SECONDS = 15.0
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on
    # the page's own form posts, and the origin check must see the real one.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class DashboardActions(Protocol):
    """What the buttons do (engine/dashboard_actions.run_action with the user's engine)."""

    async def __call__(
        self,
        namespace: str,
        name: str,
        action: str,
        *,
        reason: str,
        prune: bool,
        entry_id: int | None,
    ) -> ActionResult: ...


class DashboardSource(Protocol):
    """What the pages read: engine/watched_apps.WatchedApplications."""

    def apps(self) -> list[Application]: ...

    def app(self, namespace: str, name: str) -> Application | None: ...

    def changes(self) -> AsyncIterator[tuple[str, str]]: ...

    async def events(self, namespace: str, name: str) -> list[EventRow]: ...

    async def commits(self, wanted: list[tuple[Application, str]]) -> dict[str, CommitView]: ...

    async def drift(self, namespace: str, name: str) -> AppDriftView | None: ...

    async def history_diff(
        self, namespace: str, name: str, entry_id: int
    ) -> AppDriftView | None: ...


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tether.server", "templates"),
        autoescape=True,  # every value is text, whatever an annotation or commit holds
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = lambda text, n=8: (text or "")[:n]
    env.filters["scrub"] = display_url  # no userinfo (credentials) of a repository URL
    return env


def _static(name: str) -> bytes | None:
    if "/" in name or name.startswith(".") or not name.endswith(tuple(STATIC_TYPES)):
        return None
    path = resources.files("tether.server").joinpath("static", name)
    return path.read_bytes() if path.is_file() else None


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _json(data: Any) -> Response:
    return _secure(Response(orjson.dumps(data), 200, media_type="application/json"))


def _app_view(app: Application, events: list[EventRow]) -> dict[str, Any]:
    """What the app page shows, in the order people read it."""
    status = app.status
    resources_ = list(status.resources) if status else []
    return {
        "app": app,
        "row": app_row(app),
        "status": status,
        "resources": resources_,
        "drifted": [r for r in resources_ if drifted(r)],
        "conditions": list(status.conditions) if status else [],
        "history": list(reversed(status.history)) if status else [],
        "source": app.spec.source,
        "events": events,
        # tether's own bookkeeping annotations say nothing to a reader
        "annotations": sorted(
            (k, v) for k, v in app.annotations.items() if not k.startswith("kubectl.kubernetes.io/")
        ),
    }


def dashboard_app(
    source: DashboardSource,
    *,
    title: str = "tether",
    compare_on_request: bool = True,
    actions: DashboardActions | None = None,
    allowed_hosts: frozenset[str] | None = None,
) -> Starlette:
    """The dashboard's routes. Without `compare_on_request` (the controller's /ui, open to
    anyone who reaches it) the diff page says where to see the diff instead of comparing.
    Without `actions` it is read-only: no route takes a POST. `allowed_hosts` (the names a
    Host header may carry) refuses every other name."""
    env = _templates()
    csrf_token = secrets.token_urlsafe(32)  # one per process: every form carries it

    def render(template: str, status_code: int = 200, **values: Any) -> Response:
        html = env.get_template(template).render(
            title=title, csrf_token=csrf_token, can_act=actions is not None, **values
        )
        return _secure(HTMLResponse(html, status_code=status_code))

    async def rows() -> tuple[list[AppRow], dict[str, CommitView]]:
        apps = source.apps()
        revisions = [
            (a, a.status.sync.revision) for a in apps if a.status and a.status.sync.revision
        ]
        return [app_row(a) for a in apps], await source.commits(revisions)

    async def app_commits(app: Application) -> dict[str, CommitView]:
        status = app.status
        shas = [e.revision for e in status.history] if status else []
        if status and status.sync.revision:
            shas.append(status.sync.revision)
        return await source.commits([(app, sha) for sha in shas])

    def not_found(what: str) -> Response:
        return _secure(JSONResponse({"error": f"{what} not found"}, status_code=404))

    async def fleet(_: Request) -> Response:
        found, commits = await rows()
        return render("fleet.html", rows=found, commits=commits)

    async def fleet_rows(_: Request) -> Response:
        found, commits = await rows()
        return render("rows.html", rows=found, commits=commits)

    def one(request: Request) -> Application | None:
        params = request.path_params
        return source.app(str(params["namespace"]), str(params["name"]))

    async def app_page(request: Request) -> Response:
        app = one(request)
        if app is None:
            return render("missing.html", what=f"Application {request.path_params['name']}")
        events = await source.events(app.namespace, app.name)
        return render("app.html", **_app_view(app, events), commits=await app_commits(app))

    async def app_body(request: Request) -> Response:
        app = one(request)
        if app is None:
            return not_found("Application")
        events = await source.events(app.namespace, app.name)
        return render("app_body.html", **_app_view(app, events), commits=await app_commits(app))

    async def drift_of(request: Request) -> AppDriftView | None:
        params = request.path_params
        return await source.drift(str(params["namespace"]), str(params["name"]))

    async def diff_page(request: Request) -> Response:
        app = one(request)
        if app is not None and not compare_on_request:
            return render("no_compare.html", app=app)
        view = await drift_of(request) if app is not None else None
        if app is None or view is None:
            return render("missing.html", what=f"Application {request.path_params['name']}")
        return render(
            "diff.html",
            app=app,
            row=app_row(app),
            view=view,
            empty_text="nothing differs from Git.",
        )

    async def api_diff(request: Request) -> Response:
        if not compare_on_request:
            message = "this dashboard does not compare on request: use tether dashboard"
            return _secure(JSONResponse({"error": message}, status_code=403))
        view = await drift_of(request)
        return not_found("Application") if view is None else _json(view.to_dict())

    async def entry_view(request: Request) -> AppDriftView | None:
        params = request.path_params
        return await source.history_diff(
            str(params["namespace"]), str(params["name"]), int(params["entry"])
        )

    async def entry_page(request: Request) -> Response:
        app = one(request)
        view = await entry_view(request) if app is not None else None
        if app is None or view is None:
            return render("missing.html", what=f"Application {request.path_params['name']}")
        entry = int(request.path_params["entry"])
        nothing = "nothing differs: the live objects are what this entry applied."
        return render(
            "entry.html", app=app, row=app_row(app), view=view, entry=entry, empty_text=nothing
        )

    async def api_entry(request: Request) -> Response:
        view = await entry_view(request)
        return not_found("Application") if view is None else _json(view.to_dict())

    async def api_apps(_: Request) -> Response:
        return _secure(
            Response(
                orjson.dumps([a.to_dict() for a in source.apps()]),
                200,
                media_type="application/json",
            )
        )

    async def api_app(request: Request) -> Response:
        app = one(request)
        if app is None:
            return not_found("Application")
        return _json(app.to_dict())

    async def stream(request: Request) -> Response:
        return _secure(
            StreamingResponse(
                _events(source.changes(), request.is_disconnected),
                media_type="text/event-stream",
            )
        )

    async def static(request: Request) -> Response:
        name = str(request.path_params["name"])
        body = _static(name)
        if body is None:
            return not_found("file")
        kind = STATIC_TYPES[name[name.rindex(".") :]]
        return _secure(Response(body, 200, media_type=kind))

    async def actions_page(request: Request) -> Response:
        app = one(request)
        if app is None:
            return render("missing.html", what=f"Application {request.path_params['name']}")
        return render("actions.html", app=app, row=app_row(app), result=None, asked=None)

    async def act(request: Request) -> Response:
        assert actions is not None
        refused = await _refused_write(request, csrf_token)
        if refused is not None:
            return _secure(PlainTextResponse(refused, status_code=403))
        form = await _form(request)
        app = one(request)
        if app is None:
            return render("missing.html", 404, what=f"Application {request.path_params['name']}")
        action = form.get("action", "")
        if action not in ACTIONS:
            return _secure(PlainTextResponse(f"unknown action {action!r}", status_code=400))
        prune = form.get("prune") == "on"
        reason = form.get("reason", "").strip()[:200]
        entry_id: int | None = None
        if action == "rollback":
            # Break-glass asks for the app's name typed out and a reason: nothing is done
            # on a slip of the mouse.
            entry = form.get("entry", "")
            if form.get("confirm", "") != app.name or not reason or not entry.isdigit():
                message = "rollback not done: type the app's name and give a reason"
                not_done = ActionResult(False, message)
                asked = {"action": action, "prune": False, "reason": reason}
                return render(
                    "actions.html", 400, app=app, row=app_row(app), result=not_done, asked=asked
                )
            entry_id = int(entry)
        result = await actions(
            app.namespace, app.name, action, reason=reason, prune=prune, entry_id=entry_id
        )
        fresh = one(request) or app
        asked = {"action": action, "prune": prune, "reason": reason}
        return render("actions.html", app=fresh, row=app_row(fresh), result=result, asked=asked)

    async def root(_: Request) -> Response:
        return _secure(Response(status_code=307, headers={"Location": "/ui/"}))

    # A Host that is not one of ours is refused (400): a page of another site that rebinds
    # its DNS name to 127.0.0.1 can neither read nor act.
    guard = [Middleware(TrustedHostMiddleware, allowed_hosts=sorted(allowed_hosts or ()))]
    app = Starlette(
        middleware=guard if allowed_hosts is not None else [],
        routes=[
            Route("/", root),
            Route("/ui/", fleet),
            Route("/ui/rows", fleet_rows),
            Route("/ui/apps/{namespace}/{name}", app_page),
            Route("/ui/apps/{namespace}/{name}/body", app_body),
            Route("/ui/apps/{namespace}/{name}/diff", diff_page),
            Route("/ui/apps/{namespace}/{name}/history/{entry:int}", entry_page),
            Route("/ui/apps/{namespace}/{name}/actions", actions_page),
            *(
                [Route("/ui/apps/{namespace}/{name}/actions", act, methods=["POST"])]
                if actions is not None
                else []
            ),
            Route("/ui/static/{name}", static),
            Route("/api/v1/apps", api_apps),
            Route("/api/v1/apps/{namespace}/{name}", api_app),
            Route("/api/v1/apps/{namespace}/{name}/diff", api_diff),
            Route("/api/v1/apps/{namespace}/{name}/history/{entry:int}/diff", api_entry),
            Route("/api/v1/stream", stream),
        ],
    )
    return app


MAX_FORM_BYTES = 16 * 1024


async def _form(request: Request) -> dict[str, str]:
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


async def _refused_write(request: Request, token: str) -> str | None:
    """Why a state-changing request is refused (None: it may go ahead). The page's own
    forms send the token and come from this origin; a cross-site form does neither."""
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
    form = await _form(request)
    sent = form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent.encode(), token.encode()):
        return "missing or wrong CSRF token: reload the page"
    return None


async def _events(
    changes: AsyncIterator[tuple[str, str]], disconnected: Callable[[], Awaitable[bool]]
) -> AsyncIterator[bytes]:
    """`event: app` per change, a comment line as heartbeat; ends when the reader goes."""
    yield b": connected\n\n"
    pending: asyncio.Task[tuple[str, str]] | None = None
    try:
        while not await disconnected():
            pending = pending or asyncio.ensure_future(anext(changes))
            done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT_SECONDS)
            if not done:
                yield b": heartbeat\n\n"
                continue
            namespace, name = pending.result()
            pending = None
            data = orjson.dumps({"namespace": namespace, "name": name})
            yield b"event: app\ndata: " + data + b"\n\n"
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        aclose = getattr(changes, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


__all__ = ["DashboardSource", "dashboard_app"]
