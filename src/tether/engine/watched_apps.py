"""Applications as the watch cache has them, for readers that follow changes (the
dashboard): the current list, one app, and a stream of the keys that changed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tether.core.drift_view import AppDriftView
from tether.core.fleet import CommitView, EventRow, app_events
from tether.core.resource_tree import TreeNode, owned_by, resource_tree
from tether.errors import ClusterError, TetherError
from tether.kube import LiveCache
from tether.model.application import API_GROUP, API_VERSION, KIND, Application
from tether.model.keys import ResourceKey

from .apps import ParsedApplications
from .compare import Engine
from .drift import drift_view
from .history_diff import history_entry_diff

AppKey = tuple[str, str]  # (namespace, name)
SUBSCRIBER_BACKLOG = 1000  # changes a slow reader may lag behind
# What Kubernetes makes from an app's objects, shown below them on the app page.
CHILD_KINDS = (("apps/v1", "ReplicaSet"), ("v1", "Pod"), ("batch/v1", "Job"))
FIRST_LIST_SECONDS = 5.0  # a page waits this long for a new watch; later views see it all


class WatchedApplications:
    """Parsed once per resourceVersion; an Application tether cannot read is left out
    (the controller reports it in its own status)."""

    def __init__(self, engine: Engine, namespace: str | None) -> None:
        self.engine = engine
        self.cache: LiveCache = engine.cache
        self.namespace = namespace  # None: every namespace
        self._parsed = ParsedApplications(shadow=engine.shadow)
        self._subscribers: set[asyncio.Queue[AppKey]] = set()
        # (repository, sha) -> what the commit says; a commit never changes. A lookup
        # that failed is remembered as None (no subject shown) for this process.
        self._commits: dict[tuple[str, str], CommitView | None] = {}
        self._starting: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        self.cache.add_listener(self._on_event)
        await self.cache.watch_kind(API_VERSION, KIND)

    def _on_event(self, event: str, obj: dict[str, Any]) -> None:
        if obj.get("kind") != KIND:
            return
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if self.namespace is not None and key[0] != self.namespace:
            return
        if event == "DELETED":
            self._parsed.forget(key)
        for queue in list(self._subscribers):
            if queue.full():
                queue.get_nowait()  # a slow reader loses the oldest change, not the newest
            queue.put_nowait(key)

    def apps(self) -> list[Application]:
        found = []
        for raw in self.cache.objects(API_GROUP, KIND):
            meta = raw.get("metadata") or {}
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            if self.namespace is not None and key[0] != self.namespace:
                continue
            app = self._parsed.parse(key, raw)
            if app is not None:
                found.append(app)
        return sorted(found, key=lambda a: (a.namespace, a.name))

    def app(self, namespace: str, name: str) -> Application | None:
        if self.namespace is not None and namespace != self.namespace:
            return None
        raw = self.cache.get(ResourceKey(API_GROUP, KIND, namespace, name))
        return self._parsed.parse((namespace, name), raw) if raw is not None else None

    async def drift(self, namespace: str, name: str) -> AppDriftView | None:
        """Compare the app now and say what differs (None: no such app)."""
        app = self.app(namespace, name)
        return await drift_view(self.engine, app) if app is not None else None

    async def tree(self, namespace: str, name: str) -> list[TreeNode]:
        """The app's objects in sync order with what their owners made (watch cache)."""
        app = self.app(namespace, name)
        if app is None:
            return []
        resources = list(app.status.resources) if app.status else []
        kinds = {(f"{r.group}/{r.version}" if r.group else r.version, r.kind) for r in resources}
        await self._watch({k for k in kinds if k[0]} | set(CHILD_KINDS))
        live = {r.key: obj for r in resources if (obj := self.cache.get(r.key)) is not None}
        made = [
            obj
            for api_version, kind in CHILD_KINDS
            for obj in self.cache.objects(api_version.rpartition("/")[0], kind)
        ]
        return resource_tree(resources, live, owned_by(made))

    async def _watch(self, kinds: set[tuple[str, str]]) -> None:
        """Watch these kinds (once each); one that cannot be watched (RBAC, gone) shows
        its objects without what is below them."""

        async def one(api_version: str, kind: str) -> None:
            with contextlib.suppress(TetherError):
                await self.cache.watch_kind(api_version, kind)

        new = [k for k in sorted(kinds) if not self.cache.watched(k[0].rpartition("/")[0], k[1])]
        pending = {asyncio.ensure_future(one(*k)) for k in new} - self._starting
        if not pending:
            return
        self._starting |= pending  # kept until done: a slow first list goes on after the page
        for task in pending:
            task.add_done_callback(self._starting.discard)
        await asyncio.wait(pending, timeout=FIRST_LIST_SECONDS)

    async def history_diff(self, namespace: str, name: str, entry_id: int) -> AppDriftView | None:
        """What differs between history entry `entry_id` and live (None: no such app)."""
        app = self.app(namespace, name)
        return await history_entry_diff(self.engine, app, entry_id) if app is not None else None

    async def events(self, namespace: str, name: str) -> list[EventRow]:
        """Recent Events of the app and of its objects (a list per namespace involved)."""
        app = self.app(namespace, name)
        if app is None:
            return []
        namespaces = {app.namespace} | {
            r.namespace for r in (app.status.resources if app.status else ()) if r.namespace
        }
        found: list[dict[str, Any]] = []
        for ns in sorted(namespaces):
            with contextlib.suppress(ClusterError):  # not allowed to list there: fewer Events
                found += await self.engine.kube.list("v1", "Event", ns)
        return app_events(app, found)

    async def commits(self, wanted: list[tuple[Application, str]]) -> dict[str, CommitView]:
        """Subject and author of each (app, sha), looked up in that app's repository."""
        found: dict[str, CommitView] = {}
        for app, sha in wanted:
            if sha in found or len(sha) != 40:
                continue
            key = (app.spec.source.repo_url, sha)
            if key not in self._commits:
                self._commits[key] = await self._commit(app, key[0], sha)
            view = self._commits[key]
            if view is not None:
                found[sha] = view
        return found

    async def _commit(self, app: Application, url: str, sha: str) -> CommitView | None:
        try:
            credentials = await self.engine.repo_credentials(app, url)
            log = await self.engine.repos.log(url, sha, limit=1, credentials=credentials)
        except TetherError:
            return None  # not in this repository, or it cannot be read: no subject
        if not log:
            return None
        commit = log[0]
        return CommitView(commit.subject, commit.author_name, commit.authored_at)

    async def changes(self) -> AsyncIterator[AppKey]:
        """The key of every Application that changes from now on, until the reader stops."""
        queue: asyncio.Queue[AppKey] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            with contextlib.suppress(KeyError):
                self._subscribers.remove(queue)


__all__ = ["WatchedApplications"]
