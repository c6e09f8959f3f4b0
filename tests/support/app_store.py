"""An in-memory Application store (engine/apps.ApplicationStore) for unit tests of the
status writer's conflict paths, and a counting wrapper around any store.

The fake keeps one stored copy per app with a resourceVersion that grows on every write
and refuses a write whose precondition is older (409), as the API server does.
`before_write` lets a test play another writer that gets in between a read and a write.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tether.engine.apps import ApplicationStore
from tether.errors import ClusterError
from tether.model.application import Application, ApplicationStatus

AppKey = tuple[str, str]


@dataclass
class InMemoryApplicationStore:
    objects: dict[AppKey, dict[str, Any]] = field(default_factory=dict)
    version: int = 1
    reads: int = 0
    writes: int = 0
    conflicts: int = 0
    # Called with the app key before each write is judged (another writer's turn).
    before_write: Callable[[AppKey], Awaitable[None]] | None = None

    def put(self, app: Application) -> Application:
        """Store `app` as it is (a create or someone else's write); returns the stored copy."""
        raw = app.to_dict()
        self.version += 1
        raw["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(app.namespace, app.name)] = raw
        return Application.from_dict(copy.deepcopy(raw))

    def stored(self, namespace: str, name: str) -> Application:
        return Application.from_dict(copy.deepcopy(self.objects[(namespace, name)]))

    def delete(self, namespace: str, name: str) -> None:
        del self.objects[(namespace, name)]

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        raw = self.objects.get((namespace, name))
        return copy.deepcopy(raw) if raw is not None else None

    async def write_status(
        self, app: Application, status: ApplicationStatus, resource_version: str | None
    ) -> dict[str, Any]:
        key = (app.namespace, app.name)
        if self.before_write is not None:
            await self.before_write(key)
        raw = self.objects.get(key)
        if raw is None:
            raise ClusterError(f"Application {app.name} not found", status=404)
        if resource_version is not None and raw["metadata"]["resourceVersion"] != resource_version:
            self.conflicts += 1
            raise ClusterError("the object has been modified", status=409, reason="Conflict")
        self.writes += 1
        self.version += 1
        raw["metadata"]["resourceVersion"] = str(self.version)
        raw["status"] = status.to_dict()
        return copy.deepcopy(raw)


@dataclass
class CountingApplicationStore:
    """Counts what goes through to `inner` (reads and status writes)."""

    inner: ApplicationStore
    reads: int = 0
    writes: int = 0

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return await self.inner.read(namespace, name)

    async def write_status(
        self, app: Application, status: ApplicationStatus, resource_version: str | None
    ) -> dict[str, Any]:
        self.writes += 1
        return await self.inner.write_status(app, status, resource_version)
