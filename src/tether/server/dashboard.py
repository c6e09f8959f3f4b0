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
import secrets
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
from tether.core.fleet import AppRow, CommitView, EventRow, app_row, deploy_duration, drifted
from tether.core.resource_tree import TreeNode
from tether.engine.dashboard_actions import ACTIONS, ActionRequest, ActionResult
from tether.errors import TetherError
from tether.kube.reviews import ReviewedUser
from tether.model.application import Application
from tether.model.urls import display_url, scrub_userinfo

from .dashboard_auth import (
    SESSION_COOKIE,
    DashboardAuth,
    Sessions,
    caller,
    read_form,
    refused_write,
)
from .dashboard_forms import asked_in, confirmation_missing, request_as
from .ratelimit import ReadLimit, ReadRateLimit

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
    """What the buttons do (engine/dashboard_actions.run_action bound to an engine)."""

    async def __call__(self, namespace: str, name: str, request: ActionRequest) -> ActionResult: ...


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

    async def tree(self, namespace: str, name: str) -> list[TreeNode]: ...


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
    env.globals["duration"] = deploy_duration
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


def _app_view(app: Application, events: list[EventRow], tree: list[TreeNode]) -> dict[str, Any]:
    """What the app page shows, in the order people read it."""
    status = app.status
    resources_ = list(status.resources) if status else []
    return {
        "app": app,
        "row": app_row(app),
        "status": status,
        "resources": resources_,
        "tree": tree,
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
    local_user: str = "",
    auth: DashboardAuth | None = None,
    allowed_hosts: frozenset[str] | None = None,
    read_limit: ReadLimit | None = None,
) -> Starlette:
    """The dashboard's routes. Without `compare_on_request` (the controller's /ui, open to
    anyone who reaches it) the diff page says where to see the diff instead of comparing.
    Without `actions` it is read-only: no route takes a POST. With `auth` (the
    controller's) every action needs a signed-in caller whom the cluster's RBAC allows it;
    without, actions run as `local_user` (`tether dashboard`: the kubeconfig's own user).
    `allowed_hosts` (the names a Host header may carry) refuses every other name;
    `read_limit` answers an anonymous client past its request rate 429."""
    env = _templates()
    csrf_token = secrets.token_urlsafe(32)  # one per process: every form carries it
    sessions = Sessions()

    def render(template: str, status_code: int = 200, **values: Any) -> Response:
        values.setdefault("signed_in", None)
        html = env.get_template(template).render(
            title=title,
            csrf_token=csrf_token,
            can_act=actions is not None,
            needs_sign_in=auth is not None,
            **values,
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

    async def app_view(app: Application) -> dict[str, Any]:
        events, tree = await asyncio.gather(
            source.events(app.namespace, app.name), source.tree(app.namespace, app.name)
        )
        return _app_view(app, events, tree)

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
        return render("app.html", **await app_view(app), commits=await app_commits(app))

    async def app_body(request: Request) -> Response:
        app = one(request)
        if app is None:
            return not_found("Application")
        return render("app_body.html", **await app_view(app), commits=await app_commits(app))

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

    async def signed_in(request: Request) -> ReviewedUser | None:
        return await caller(request, auth, sessions) if auth is not None else None

    async def actions_page(request: Request) -> Response:
        app = one(request)
        if app is None:
            return render("missing.html", what=f"Application {request.path_params['name']}")
        user = await signed_in(request)
        return render(
            "actions.html", app=app, row=app_row(app), result=None, asked=None, signed_in=user
        )

    async def act(request: Request) -> Response:
        assert actions is not None
        refused = await refused_write(request, csrf_token)
        if refused is not None:
            return _secure(PlainTextResponse(refused, status_code=403))
        form = await read_form(request)
        app = one(request)
        if app is None:
            return render("missing.html", 404, what=f"Application {request.path_params['name']}")
        asked = asked_in(form)
        if asked.action not in ACTIONS:
            return _secure(PlainTextResponse(f"unknown action {asked.action!r}", status_code=400))
        user = await signed_in(request)
        page: dict[str, Any] = {"app": app, "row": app_row(app), "asked": asked, "signed_in": user}
        acting_as = local_user
        if auth is not None:
            # The controller acts, so the caller's own rights are checked first: who they
            # are (TokenReview) and whether RBAC lets them do this (SubjectAccessReview).
            if user is None:
                refusal = ActionResult(False, "sign in with a Kubernetes token to act")
                unauthorized = render("actions.html", 401, result=refusal, **page)
                unauthorized.headers["WWW-Authenticate"] = 'Bearer realm="tether"'
                return unauthorized
            decision = await auth.authorize(user, app.namespace, app.name, asked.action)
            if not decision.allowed:
                return render(
                    "actions.html", 403, result=ActionResult(False, decision.reason), **page
                )
            acting_as = user.username
        problem = confirmation_missing(app, asked, form)
        if problem is not None:
            return render("actions.html", 400, result=ActionResult(False, problem), **page)
        result = await actions(app.namespace, app.name, request_as(asked, acting_as))
        fresh = one(request) or app
        page |= {"app": fresh, "row": app_row(fresh)}
        return render("actions.html", result=result, **page)

    async def login_page(request: Request) -> Response:
        return render("login.html", failed=None, signed_in=await signed_in(request))

    async def login(request: Request) -> Response:
        assert auth is not None
        refused = await refused_write(request, csrf_token)
        if refused is not None:
            return _secure(PlainTextResponse(refused, status_code=403))
        token = (await read_form(request)).get("token", "").strip()
        user = await auth.authenticate(token) if token else None
        if user is None:
            failed = "the API server did not accept this token"
            return render("login.html", 401, failed=failed, signed_in=None)
        response = _secure(Response(status_code=303, headers={"Location": "/ui/"}))
        response.set_cookie(
            SESSION_COOKIE,
            sessions.open(user),
            max_age=int(sessions.ttl),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        refused = await refused_write(request, csrf_token)
        if refused is not None:
            return _secure(PlainTextResponse(refused, status_code=403))
        sessions.close(request.cookies.get(SESSION_COOKIE, ""))
        response = _secure(Response(status_code=303, headers={"Location": "/ui/"}))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def root(_: Request) -> Response:
        return _secure(Response(status_code=307, headers={"Location": "/ui/"}))

    # A Host that is not one of ours is refused (400): a page of another site that rebinds
    # its DNS name to 127.0.0.1 can neither read nor act.
    guard = []
    if allowed_hosts is not None:
        guard.append(Middleware(TrustedHostMiddleware, allowed_hosts=sorted(allowed_hosts)))
    if read_limit is not None:
        live = lambda session: sessions.user(session) is not None  # noqa: E731
        guard.append(Middleware(ReadRateLimit, read_limit, SESSION_COOKIE, live))
    app = Starlette(
        middleware=guard,
        exception_handlers={TetherError: _tether_error},
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
            *(
                [
                    Route("/ui/login", login_page),
                    Route("/ui/login", login, methods=["POST"]),
                    Route("/ui/logout", logout, methods=["POST"]),
                ]
                if auth is not None
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


async def _tether_error(_: Request, exc: Exception) -> Response:
    """A page that needed the cluster, Git or a review the API server would not give
    says so in one line (503), never a bare 500, and no URL credentials in it."""
    message = exc.message if isinstance(exc, TetherError) else str(exc)
    first = scrub_userinfo(message.splitlines()[0]) if message else type(exc).__name__
    return _secure(PlainTextResponse(f"not available now: {first}", status_code=503))


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
