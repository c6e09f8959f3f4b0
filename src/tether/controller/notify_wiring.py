"""The notifier as the controller runs it: Alerts and Providers of the controller's
namespace, the commit subject and author looked up in the app's own repository (off the
reconcile path, in the notifier's task), and a link to the dashboard when its public
address is known (`--dashboard-url`)."""

from __future__ import annotations

import urllib.parse
from dataclasses import replace

from tether.core.notify_event import NotificationEvent
from tether.engine.compare import Engine
from tether.engine.notifier import Notifier
from tether.errors import TetherError
from tether.model.application import Application

from .reconciler import Controller

COMMITS_KEPT = 1024


def connect_notifier(
    controller: Controller, engine: Engine, namespace: str, dashboard_url: str
) -> Notifier:
    repos: dict[tuple[str, str], Application] = {}  # the app of each event, for its repository
    # A commit's subject and author never change: one `git log` per commit, however many
    # apps deploy it (bounded: the oldest lookups are dropped first).
    known: dict[tuple[str, str], tuple[str, str]] = {}

    async def commit_of(event: NotificationEvent) -> tuple[str, str]:
        app = repos.get((event.namespace, event.app))
        if app is None or len(event.revision) != 40:
            return "", ""
        url = app.spec.source.repo_url
        if (url, event.revision) in known:
            return known[(url, event.revision)]
        found = await _lookup(app, url, event.revision)
        if found != ("", ""):
            if len(known) >= COMMITS_KEPT:
                del known[next(iter(known))]
            known[(url, event.revision)] = found
        return found

    async def _lookup(app: Application, url: str, revision: str) -> tuple[str, str]:
        for fetch_first in (False, True):  # a commit pushed by a CLI may not be fetched yet
            try:
                credentials = await engine.repo_credentials(app, url)
                if fetch_first:
                    await engine.repos.fetch(url, credentials)
                log = await engine.repos.log(url, revision, limit=1, credentials=credentials)
            except TetherError:
                continue
            if log:
                return log[0].subject, log[0].author_name
        return "", ""

    notifier = Notifier(engine.kube, namespace, controller.counters, commit_of=commit_of)
    base = dashboard_url.rstrip("/")

    def notify(event: NotificationEvent, app: Application) -> None:
        repos[(app.namespace, app.name)] = app
        if base:
            path = "/".join(urllib.parse.quote(p, safe="") for p in (app.namespace, app.name))
            event = replace(event, dashboard_url=f"{base}/ui/apps/{path}")
        notifier.publish(event, app.labels, app)

    controller.notify = notify
    return notifier


__all__ = ["connect_notifier"]
