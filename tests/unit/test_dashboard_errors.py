"""A dashboard page whose source fails (the cluster unreachable, a TokenReview the API
server refuses) answers one line with 503, never a 500, with no credential in it. Driven
through the ASGI app with an in-memory source; the e2e tests use the real one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tests.support.apps import application
from tests.support.asgi import asgi_get
from tether.core.drift_view import AppDriftView
from tether.core.fleet import CommitView, EventRow
from tether.core.resource_tree import TreeNode
from tether.errors import UnreachableError
from tether.model.application import Application
from tether.server.dashboard import dashboard_app

APP = application("web", "shop", "https://git.example/r.git", "web")


class Failing:
    """Apps are known; everything that needs the cluster fails."""

    def apps(self) -> list[Application]:
        return [APP]

    def app(self, namespace: str, name: str) -> Application | None:
        return APP if (namespace, name) == ("shop", "web") else None

    async def changes(self) -> AsyncIterator[tuple[str, str]]:
        await asyncio.Event().wait()
        yield ("", "")

    async def events(self, namespace: str, name: str) -> list[EventRow]:
        raise UnreachableError("cluster https://admin:s3cret@10.0.0.1:6443 unreachable\nmore")

    async def commits(self, wanted: list[tuple[Application, str]]) -> dict[str, CommitView]:
        return {}

    async def drift(self, namespace: str, name: str) -> AppDriftView | None:
        return None

    async def history_diff(self, namespace: str, name: str, entry: int) -> AppDriftView | None:
        return None

    async def tree(self, namespace: str, name: str) -> list[TreeNode]:
        return []


def test_a_failing_source_is_one_line_503_without_credentials() -> None:
    status, body, headers = asyncio.run(asgi_get(dashboard_app(Failing()), "/ui/apps/shop/web"))
    assert status == 503
    text = body.decode()
    assert text.startswith("not available now: cluster https://***@10.0.0.1:6443 unreachable")
    assert "s3cret" not in text and "admin" not in text and "more" not in text
    assert b"content-security-policy" in headers
    # What needs nothing from the cluster still works.
    assert asyncio.run(asgi_get(dashboard_app(Failing()), "/ui/"))[0] == 200
