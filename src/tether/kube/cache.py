"""A live-state cache: one list+watch per kind, objects indexed by key and by owning app.

Each watched kind runs a list (paginated) followed by a watch with bookmarks; a watch
that expires (410 Gone) relists. The blocking HTTP stream of each watch lives in its own
daemon thread and hands events to the event loop, so the loop never blocks and the
default thread pool is not tied up by long-lived watches.

A relist (after a 410, or after the API server came back) tells the listeners what
changed while the watch was down: an ADDED, MODIFIED or DELETED event for every object
that appeared, got a new resourceVersion, or disappeared. Without them a change made
during (or right after) an outage would sit in the cache unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from tether.errors import ClusterError, TetherError
from tether.kube.client import KubeClient, ResourceInfo
from tether.model.application import TRACKING_ANNOTATION
from tether.model.foreign import foreign_marks
from tether.model.keys import ResourceKey

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]

# Retry delays of a failed list or watch: doubling from the first, capped low so that a
# restarted API server is noticed within about a second of answering again (each retry
# against a server that is down costs one refused connection).
RETRY_FIRST = 0.25
RETRY_MAX = 1.0
RETRY_MAX_REFUSED = 30.0  # a server that answers "no" (403, 404) is asked less often
# Between two watch streams (the server ends each after watch_timeout) an informer
# still counts as connected for this long after its last contact.
RECONNECT_GRACE = 10.0
# An open stream with no event or bookmark for watch_timeout plus this is not trusted
# (a server that stopped answering but keeps the connection open).
SILENT_STREAM_SLACK = 60.0


def owner_app(obj: dict[str, Any]) -> str | None:
    """`<app-ns>/<app-name>` from the tracking annotation, if the object carries one."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    tracking = annotations.get(TRACKING_ANNOTATION)
    if not tracking or ":" not in tracking:
        return None
    return str(tracking.split(":", 1)[0])


class _Informer:
    """List+watch of one resource type, feeding the shared store on the event loop."""

    def __init__(self, cache: LiveCache, info: ResourceInfo, namespace: str | None = None) -> None:
        self.cache = cache
        self.info = info
        self.namespace = namespace  # None: every namespace (or a cluster-scoped kind)
        self.synced = asyncio.Event()
        self.error: TetherError | None = None
        self.resource_version = ""
        self.listed = False  # a list filled the store before: the next one is a relist
        self.streaming = False  # a watch stream is open right now
        self.last_contact: float | None = None  # monotonic time the API last answered
        self._stream: Any = None
        self._stopping = False
        self.task = asyncio.create_task(self._run(), name=f"watch {info.api_version} {info.kind}")

    def connected(self, now: float) -> bool:
        """Whether this informer is in contact with the API server. A refusal (403, 404)
        is an answer: that watch is degraded, but the server is there."""
        if self.error is not None:
            return not _unreachable(self.error)
        if self.last_contact is None:
            return False
        quiet = now - self.last_contact
        if self.streaming:
            return quiet < self.cache.watch_timeout + SILENT_STREAM_SLACK
        return quiet < RECONNECT_GRACE

    async def _run(self) -> None:
        backoff = RETRY_FIRST
        while not self._stopping:
            try:
                if not self.resource_version:
                    await self._relist()
                    self.synced.set()
                await self._watch_once()
                backoff = RETRY_FIRST
            except asyncio.CancelledError:
                raise
            except TetherError as exc:
                # Unreachable API or a refused request: keep what we have, retry soon.
                # One warning per outage; the retries of the same outage are debug lines.
                report = log.warning if self.error is None else log.debug
                report("watch %s %s: %s", self.info.api_version, self.info.kind, exc)
                self.error = exc
                self.synced.set()
                await asyncio.sleep(backoff * random.uniform(0.8, 1.0))
                backoff = min(backoff * 2, RETRY_MAX if _unreachable(exc) else RETRY_MAX_REFUSED)

    def _contact(self) -> None:
        """The API server answered (a list page, a watch opened, an event or bookmark)."""
        self.last_contact = time.monotonic()
        if self.error is not None:
            log.info("watch %s %s: connected again", self.info.api_version, self.info.kind)
            self.error = None

    def _stream_opened(self) -> None:
        self.streaming = True
        self._contact()

    def _stream_closed(self) -> None:
        self.streaming = False

    async def _relist(self) -> None:
        client = self.cache.client
        query: dict[str, str] = {"limit": "500"}
        fresh: dict[ResourceKey, dict[str, Any]] = {}
        rv = ""
        while True:
            page = await client.request("GET", self.info.path(self.namespace), query=query)
            self._contact()
            for item in page.get("items", []):
                item.setdefault("apiVersion", self.info.api_version)
                item.setdefault("kind", self.info.kind)
                fresh[ResourceKey.of(item)] = item
            meta = page.get("metadata") or {}
            rv = meta.get("resourceVersion", rv)
            if not meta.get("continue"):
                break
            query["continue"] = meta["continue"]
        self.cache._replace(self.info, fresh, notify=self.listed, namespace=self.namespace)
        self.listed = True
        self.resource_version = rv

    async def _watch_once(self) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        query = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version,
            "timeoutSeconds": str(self.cache.watch_timeout),
        }

        def stream() -> None:
            error: BaseException | None = None
            try:
                self._stream = self.cache.client.open_watch_sync(
                    self.info.path(self.namespace), query, timeout=self.cache.watch_timeout + 30
                )
                _post(loop, self._stream_opened)
                for line in self._stream:
                    if self._stopping:
                        break
                    if line.strip():
                        _post(loop, self._on_event, orjson.loads(line))
            except BaseException as exc:
                error = exc
            finally:
                if self._stream is not None:
                    with contextlib.suppress(Exception):
                        self._stream.release_conn()
                _post(loop, self._stream_closed)
                _post(loop, _settle, done, error)

        threading.Thread(target=stream, daemon=True, name=f"watch-{self.info.plural}").start()
        try:
            await done
        except TetherError:
            raise
        except Exception as exc:
            if self._stopping:
                return
            # A dropped connection: resume from the last resourceVersion.
            log.debug("watch %s ended: %s", self.info.plural, exc)

    def _on_event(self, event: dict[str, Any]) -> None:
        self.last_contact = time.monotonic()
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            # 410 Gone: our resourceVersion is too old; relist on the next round.
            if obj.get("code") == 410:
                self.resource_version = ""
            return
        meta = obj.get("metadata") or {}
        self.resource_version = meta.get("resourceVersion", self.resource_version)
        if kind == "BOOKMARK":
            return
        obj.setdefault("apiVersion", self.info.api_version)
        obj.setdefault("kind", self.info.kind)
        if kind == "DELETED":
            self.cache._remove(obj)
        else:
            self.cache._put(obj)
        self.cache._notify(str(kind), obj)

    def stop(self) -> None:
        self._stopping = True
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.shutdown()
        self.task.cancel()


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    """Hand work to the loop from a watch thread; after the loop closed there is no one
    left to tell (the stream is ending because its cache was closed)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def _unreachable(error: TetherError) -> bool:
    """An error that means the API server did not answer (or cannot serve right now);
    a refusal such as 403 or 404 is an answer: the watch is degraded, not cut off."""
    if isinstance(error, ClusterError):
        # 401: the server no longer knows these credentials (a rebuilt cluster, a revoked
        # token): as cut off as silence, since nothing it serves can be read any more.
        return error.status in {0, 401, 429} or error.status >= 500
    return True


def _settle(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)


class LiveCache:
    """Live objects of the kinds tether tracks, kept current by watches."""

    def __init__(
        self, client: KubeClient, *, watch_timeout: int = 290, namespaces: tuple[str, ...] = ()
    ) -> None:
        self.client = client
        self.watch_timeout = watch_timeout
        # Namespaced kinds are watched in these namespaces only (a registration that may
        # read no more: Argo CD's `namespaces`); empty: cluster-wide.
        self.namespaces = namespaces
        self._informers: dict[tuple[str, str, str], _Informer] = {}
        self._objects: dict[ResourceKey, dict[str, Any]] = {}
        self._by_kind: dict[tuple[str, str], dict[ResourceKey, dict[str, Any]]] = {}
        self._by_app: dict[str, dict[ResourceKey, dict[str, Any]]] = {}
        # By the marks Argo CD or Flux left on an object (model/foreign.py).
        self._by_mark: dict[str, dict[ResourceKey, dict[str, Any]]] = {}
        self._listeners: list[Listener] = []

    async def watch_kind(self, api_version: str, kind: str) -> ResourceInfo:
        """Start watching a kind (once) and wait until its first list is in the cache."""
        info = await self.client.resource(api_version, kind)
        scopes: tuple[str | None, ...] = (
            self.namespaces if info.namespaced and self.namespaces else (None,)
        )
        informers = []
        for namespace in scopes:
            key = (info.group, info.kind, namespace or "")
            informer = self._informers.get(key)
            if informer is None:
                informer = _Informer(self, info, namespace)
                self._informers[key] = informer
            informers.append(informer)
        for informer in informers:
            await informer.synced.wait()
            if informer.error is not None and not informer.resource_version:
                raise informer.error
        return info

    def watched(self, group: str, kind: str) -> bool:
        return any(key[:2] == (group, kind) for key in self._informers)

    @property
    def connected(self) -> bool:
        """Every watch is in contact with the API server: its stream is open (or it
        answered within the last few seconds) and its last list or watch did not fail
        for want of an answer. False from the moment a watch loses the server until it
        has reconnected, so a readiness probe can tell."""
        now = time.monotonic()
        return all(informer.connected(now) for informer in self._informers.values())

    def contact_problem(self) -> str:
        """Why a watch is out of contact (its last error's first line), "" if none is."""
        now = time.monotonic()
        for informer in self._informers.values():
            if not informer.connected(now) and informer.error is not None:
                return informer.error.message.splitlines()[0]
        return ""

    def get(self, key: ResourceKey) -> dict[str, Any] | None:
        return self._objects.get(key)

    @property
    def size(self) -> int:
        """How many objects the watches hold."""
        return len(self._objects)

    def objects(self, group: str, kind: str) -> list[dict[str, Any]]:
        return list(self._by_kind.get((group, kind), {}).values())

    def tracked_by(self, app_id: str) -> dict[ResourceKey, dict[str, Any]]:
        """Objects whose tracking annotation names the app `<namespace>/<name>`."""
        return dict(self._by_app.get(app_id, {}))

    def marked(self, mark: str) -> dict[ResourceKey, dict[str, Any]]:
        """Objects another tool marks as its app's (`foreign_marks`: `argocd:<app>`...)."""
        return dict(self._by_mark.get(mark, {}))

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        informers = list(self._informers.values())
        self._informers.clear()
        for informer in informers:
            informer.stop()
        for informer in informers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await informer.task

    # -- store updates (event loop only) ------------------------------------------

    def _put(self, obj: dict[str, Any]) -> None:
        key = ResourceKey.of(obj)
        self._unindex(key)
        self._objects[key] = obj
        self._by_kind.setdefault((key.group, key.kind), {})[key] = obj
        app = owner_app(obj)
        if app:
            self._by_app.setdefault(app, {})[key] = obj
        for mark in foreign_marks(obj):
            self._by_mark.setdefault(mark, {})[key] = obj

    def _remove(self, obj: dict[str, Any]) -> None:
        key = ResourceKey.of(obj)
        self._unindex(key)
        self._objects.pop(key, None)
        self._by_kind.get((key.group, key.kind), {}).pop(key, None)

    def _unindex(self, key: ResourceKey) -> None:
        old = self._objects.get(key)
        app = owner_app(old) if old else None
        if app and app in self._by_app:
            self._by_app[app].pop(key, None)
            if not self._by_app[app]:
                del self._by_app[app]
        for mark in foreign_marks(old) if old else ():
            if mark in self._by_mark:
                self._by_mark[mark].pop(key, None)
                if not self._by_mark[mark]:
                    del self._by_mark[mark]

    def _replace(
        self,
        info: ResourceInfo,
        fresh: dict[ResourceKey, dict[str, Any]],
        *,
        notify: bool,
        namespace: str | None = None,
    ) -> None:
        """Make the store hold exactly `fresh` for this kind (in `namespace`, when the
        informer watches one). With `notify` (a relist), listeners then hear of every
        difference, as if the watch had delivered it."""
        old = {
            key: obj
            for key, obj in self._by_kind.get((info.group, info.kind), {}).items()
            if namespace is None or key.namespace == namespace
        }
        for key, obj in old.items():
            if key not in fresh:
                self._remove(obj)
        for obj in fresh.values():
            self._put(obj)
        if not notify:
            return
        events = relist_events(old, fresh)
        counts = {name: sum(1 for e, _ in events if e == name) for name in _EVENT_NAMES}
        log.info(
            "watch %s %s: relisted; %d added, %d changed, %d removed since the last event",
            info.api_version,
            info.kind,
            *counts.values(),
        )
        for event, obj in events:
            self._notify(event, obj)

    def _notify(self, event: str, obj: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(event, obj)
            except Exception:
                log.exception("live cache listener failed")


_EVENT_NAMES = ("ADDED", "MODIFIED", "DELETED")


def relist_events(
    old: dict[ResourceKey, dict[str, Any]], fresh: dict[ResourceKey, dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """The watch events a relist stands for: ADDED for keys only in `fresh`, MODIFIED
    where the resourceVersion differs, DELETED (with the last known object) for keys
    gone from `fresh`."""
    events: list[tuple[str, dict[str, Any]]] = []
    for key, obj in fresh.items():
        before = old.get(key)
        if before is None:
            events.append(("ADDED", obj))
        elif _version(before) != _version(obj):
            events.append(("MODIFIED", obj))
    events.extend(("DELETED", obj) for key, obj in old.items() if key not in fresh)
    return events


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))
