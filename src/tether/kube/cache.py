"""A live-state cache: one list+watch per kind, objects indexed by key and by owning app.

Each watched kind runs a list (paginated) followed by a watch with bookmarks; a watch
that expires (410 Gone) relists. The blocking HTTP stream of each watch lives in its own
daemon thread and hands events to the event loop, so the loop never blocks and the
default thread pool is not tied up by long-lived watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import orjson

from tether.errors import TetherError
from tether.kube.client import KubeClient, ResourceInfo
from tether.model.application import TRACKING_ANNOTATION
from tether.model.keys import ResourceKey

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]


def owner_app(obj: dict[str, Any]) -> str | None:
    """`<app-ns>/<app-name>` from the tracking annotation, if the object carries one."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    tracking = annotations.get(TRACKING_ANNOTATION)
    if not tracking or ":" not in tracking:
        return None
    return str(tracking.split(":", 1)[0])


class _Informer:
    """List+watch of one resource type, feeding the shared store on the event loop."""

    def __init__(self, cache: LiveCache, info: ResourceInfo) -> None:
        self.cache = cache
        self.info = info
        self.synced = asyncio.Event()
        self.error: TetherError | None = None
        self.resource_version = ""
        self._stream: Any = None
        self._stopping = False
        self.task = asyncio.create_task(self._run(), name=f"watch {info.api_version} {info.kind}")

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stopping:
            try:
                if not self.resource_version:
                    await self._relist()
                    self.synced.set()
                await self._watch_once()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except TetherError as exc:
                # Unreachable API or a refused request: keep what we have, retry later.
                self.error = exc
                self.synced.set()
                log.warning("watch %s %s: %s", self.info.api_version, self.info.kind, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _relist(self) -> None:
        client = self.cache.client
        query: dict[str, str] = {"limit": "500"}
        fresh: dict[ResourceKey, dict[str, Any]] = {}
        rv = ""
        while True:
            page = await client.request("GET", self.info.path(), query=query)
            for item in page.get("items", []):
                item.setdefault("apiVersion", self.info.api_version)
                item.setdefault("kind", self.info.kind)
                fresh[ResourceKey.of(item)] = item
            meta = page.get("metadata") or {}
            rv = meta.get("resourceVersion", rv)
            if not meta.get("continue"):
                break
            query["continue"] = meta["continue"]
        self.cache._replace(self.info, fresh)
        self.resource_version = rv
        self.error = None

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
                    self.info.path(), query, timeout=self.cache.watch_timeout + 30
                )
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


def _settle(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)


class LiveCache:
    """Live objects of the kinds tether tracks, kept current by watches."""

    def __init__(self, client: KubeClient, *, watch_timeout: int = 290) -> None:
        self.client = client
        self.watch_timeout = watch_timeout
        self._informers: dict[tuple[str, str], _Informer] = {}
        self._objects: dict[ResourceKey, dict[str, Any]] = {}
        self._by_kind: dict[tuple[str, str], dict[ResourceKey, dict[str, Any]]] = {}
        self._by_app: dict[str, dict[ResourceKey, dict[str, Any]]] = {}
        self._listeners: list[Listener] = []

    async def watch_kind(self, api_version: str, kind: str) -> ResourceInfo:
        """Start watching a kind (once) and wait until its first list is in the cache."""
        info = await self.client.resource(api_version, kind)
        gk = (info.group, info.kind)
        informer = self._informers.get(gk)
        if informer is None:
            informer = _Informer(self, info)
            self._informers[gk] = informer
        await informer.synced.wait()
        if informer.error is not None and not informer.resource_version:
            raise informer.error
        return informer.info

    def watched(self, group: str, kind: str) -> bool:
        return (group, kind) in self._informers

    def get(self, key: ResourceKey) -> dict[str, Any] | None:
        return self._objects.get(key)

    def objects(self, group: str, kind: str) -> list[dict[str, Any]]:
        return list(self._by_kind.get((group, kind), {}).values())

    def tracked_by(self, app_id: str) -> dict[ResourceKey, dict[str, Any]]:
        """Objects whose tracking annotation names the app `<namespace>/<name>`."""
        return dict(self._by_app.get(app_id, {}))

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

    def _replace(self, info: ResourceInfo, fresh: dict[ResourceKey, dict[str, Any]]) -> None:
        stale = list(self._by_kind.get((info.group, info.kind), {}))
        for key in stale:
            if key not in fresh:
                self._remove(self._objects[key])
        for obj in fresh.values():
            self._put(obj)

    def _notify(self, event: str, obj: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(event, obj)
            except Exception:
                log.exception("live cache listener failed")
