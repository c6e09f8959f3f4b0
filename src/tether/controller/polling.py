"""Git polling: one fetch per repository at the shortest `spec.interval` of its apps (with
jitter), sooner when a push webhook names it. An app's apps are queued when a ref moved,
or when fetching starts or stops failing (their SourceError condition)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable

from tether.engine.compare import Engine
from tether.errors import TetherError
from tether.git import GitRepos
from tether.model.application import Application

log = logging.getLogger(__name__)

AppKey = tuple[str, str]  # (namespace, name)
POLL_JITTER = 0.1  # ±10 % of the interval


class SourcePoller:
    def __init__(
        self,
        engine: Engine,
        apps: Callable[[], list[Application]],
        owns: Callable[[AppKey], bool],
        enqueue: Callable[[AppKey], None],
    ) -> None:
        self.engine = engine
        self._apps = apps
        self._owns = owns
        self._enqueue = enqueue
        self._next_poll: dict[str, float] = {}
        self._refs: dict[str, str] = {}  # repository -> digest of its refs at the last poll
        self._fetch_errors: dict[str, str] = {}  # repository -> why its last fetch failed
        self._wakeup = asyncio.Event()

    def fetched(self, url: str) -> bool:
        """Whether `url` has been fetched (or tried) since the start: polling owns it."""
        return url in self._next_poll

    def error_of(self, url: str) -> str | None:
        """Why the last fetch of `url` failed, None when it did not."""
        return self._fetch_errors.get(url)

    def poll_now(self, urls: Iterable[str]) -> None:
        for url in urls:
            self._next_poll[url] = 0.0
        self._wakeup.set()

    async def fetch(self, app: Application) -> None:
        """Fetch the app's repository. Its apps are reconciled when a ref moved, or when
        fetching starts or stops failing (their SourceError condition)."""
        url = app.spec.source.repo_url
        credentials = await self.engine.repo_credentials(app, url)
        try:
            await self.engine.repos.fetch(url, credentials)
            digest = await self.engine.repos.refs_digest(url, credentials=credentials)
        except TetherError as exc:
            if url not in self._fetch_errors:
                self.enqueue_repository(url)
            self._fetch_errors[url] = exc.message.splitlines()[0] if exc.message else str(exc)
            raise
        finally:
            self._next_poll[url] = time.monotonic() + _jittered(self.interval_of(url))
        recovered = self._fetch_errors.pop(url, None) is not None
        previous = self._refs.get(url)
        self._refs[url] = digest
        if recovered or (previous is not None and previous != digest):
            self.enqueue_repository(url)

    def enqueue_repository(self, url: str) -> None:
        for other in self._apps():
            if other.spec.source.repo_url == url:
                self._enqueue((other.namespace, other.name))

    def interval_of(self, url: str) -> float:
        intervals = [a.spec.interval_seconds for a in self._apps() if a.spec.source.repo_url == url]
        return max(min(intervals, default=180.0), 1.0)

    async def run(self) -> None:
        """Fetch each repository when its interval is up (or a push asked); never returns."""
        while True:
            now = time.monotonic()
            by_repo: dict[str, list[Application]] = {}
            for app in self._apps():
                if self._owns((app.namespace, app.name)):
                    by_repo.setdefault(app.spec.source.repo_url, []).append(app)
            # A repository never fetched is fetched by its first reconcile, not here.
            due = [url for url in by_repo if url in self._next_poll and self._next_poll[url] <= now]
            if due:
                await asyncio.gather(*(self._poll(url, by_repo[url]) for url in due))
            upcoming = [self._next_poll.get(url, now) for url in by_repo]
            wait = min([t - time.monotonic() for t in upcoming], default=5.0)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), max(min(wait, 5.0), 0.05))

    async def _poll(self, url: str, apps: Iterable[Application]) -> None:
        # Apps are re-compared only when a ref moved, or when a fetch starts or stops
        # failing (their SourceError condition); see _fetch.
        apps = list(apps)
        try:
            await self.fetch(apps[0])
        except TetherError as exc:
            log.warning("fetch %s: %s", url, exc)


def _jittered(interval: float) -> float:
    return interval * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)


CACHE_MAINTENANCE = 60.0  # seconds between tree evictions / cache measurements


async def maintain_caches(
    repos: GitRepos,
    apps: Callable[[], list[Application]],
    measured: Callable[[dict[str, int]], None],
) -> None:
    """Every CACHE_MAINTENANCE seconds: evict extracted trees no app references (LRU
    past the size cap) and measure the caches for `tether_cache_bytes`."""
    while True:
        keep = {
            revision
            for app in apps()
            for revision in (
                app.status.sync.revision if app.status else None,
                *((e.revision for e in app.status.history) if app.status else ()),
            )
            if revision
        }
        try:
            await repos.prune_trees(keep=keep)
            measured(await asyncio.to_thread(repos.cache_bytes))
        except (OSError, TetherError) as exc:
            log.warning("cache maintenance: %s", exc)
        await asyncio.sleep(CACHE_MAINTENANCE)
