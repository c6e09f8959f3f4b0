"""The Application store: install the CRD, create, get, list, delete, and the one
writer of the Application status (`update_status`).

Every status write in tether (a compare's result, the sync claim and its outcome, a
history entry, a controller condition) goes through `update_status`: it applies a
change to the copy at hand with that copy's resourceVersion as a precondition and, when
someone wrote in between (409), reads again and re-applies the change to the newer copy.
The store behind it is a small interface so that the conflict paths can be unit-tested
with an in-memory fake; the cluster store is the only one tether itself uses.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tether.core.fleet import (
    STORED_MESSAGE_WIDTH,
    ListLine,
    clip,
    list_line_from_cells,
    status_message,
)
from tether.core.status import merge_status
from tether.errors import ClusterError, ConditionNotMet, InputError
from tether.kube import MERGE_PATCH, KubeClient
from tether.kube.tables import list_table
from tether.model.application import (
    API_VERSION,
    CONDITION_INVALID_SPEC,
    FIELD_MANAGER,
    KIND,
    Application,
    ApplicationStatus,
)
from tether.model.crd import tether_crds
from tether.model.names import MODE_DETECT_ONLY

CRD_API = "apiextensions.k8s.io/v1"
SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


async def crd_installed(kube: KubeClient) -> bool:
    """Whether every tether CRD (Application, Project, Provider, Alert) is installed and
    Established."""
    for crd in tether_crds():
        live = await kube.get(CRD_API, "CustomResourceDefinition", crd["metadata"]["name"])
        if live is None or not _established(live):
            return False
    return True


def _established(crd: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in (crd.get("status") or {}).get("conditions") or []
    )


async def install_crd(kube: KubeClient, timeout: float = 30.0) -> None:
    """Apply tether's CRDs (Application, Project, Provider, Alert) and wait until they are
    Established."""
    crds = tether_crds()
    for crd in crds:
        await kube.apply(crd, field_manager=FIELD_MANAGER)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for crd in crds:
        while True:
            live = await kube.get(CRD_API, "CustomResourceDefinition", crd["metadata"]["name"])
            if live is not None and _established(live):
                break
            if loop.time() > deadline:
                raise ConditionNotMet(
                    f"CRD {crd['metadata']['name']} not Established in {timeout}s"
                )
            await asyncio.sleep(0.2)


async def ensure_namespace(kube: KubeClient, name: str) -> None:
    if await kube.get("v1", "Namespace", name) is None:
        await kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            field_manager=FIELD_MANAGER,
        )


async def create_app(kube: KubeClient, app: Application, *, upsert: bool = False) -> Application:
    """Create an Application (installing the CRD when missing); refuse to change one silently."""
    if not await crd_installed(kube):
        await install_crd(kube)
    await ensure_namespace(kube, app.namespace)
    existing = await get_app_or_none(kube, app.namespace, app.name)
    if existing is not None and existing.spec != app.spec and not upsert:
        raise InputError(
            f"Application {app.namespace}/{app.name} already exists with a different spec",
            hint="pass --upsert to replace its spec",
        )
    body = app.to_dict()
    body.pop("status", None)
    # A manifest saved from `app get -o yaml` carries what the server owns; an apply of
    # it would be refused (managedFields) or pinned to an old version (resourceVersion).
    for server_field in SERVER_METADATA:
        body["metadata"].pop(server_field, None)
    stored = await kube.apply(body, field_manager=FIELD_MANAGER)
    return Application.from_dict(stored)


async def get_app_or_none(kube: KubeClient, namespace: str, name: str) -> Application | None:
    try:
        obj = await kube.get(API_VERSION, KIND, name, namespace)
    except ClusterError as exc:
        if exc.status == 404:  # the CRD itself is not installed
            return None
        raise
    return Application.from_dict(obj) if obj is not None else None


async def get_app(kube: KubeClient, namespace: str, name: str) -> Application:
    app = await get_app_or_none(kube, namespace, name)
    if app is None:
        raise InputError(
            f"Application {namespace}/{name} not found",
            hint="tether app list (or -n NAMESPACE for another app namespace)",
        )
    return app


@dataclass(frozen=True)
class InvalidApplication:
    """An Application in the cluster that tether cannot read, and why."""

    namespace: str
    name: str
    problem: str


async def list_apps(
    kube: KubeClient,
    namespace: str | None,
    label_selector: str | None = None,
    *,
    invalid: list[InvalidApplication] | None = None,
    summary: bool = False,
) -> list[Application]:
    """The Applications, sorted; one that does not parse raises, unless `invalid` is
    given: then it is recorded there and the others are still listed.

    `summary`: without the bulk a one-line-per-app view never shows (status.resources,
    status.history, metadata.managedFields), parsed several times faster: `app list` of 5,000
    apps. The spec is parsed and validated in full either way."""
    try:
        items = await kube.list(API_VERSION, KIND, namespace, label_selector=label_selector)
    except ClusterError as exc:
        if exc.status == 404:
            return []
        raise
    apps = []
    for item in items:
        try:
            apps.append(Application.from_dict(_summary(item) if summary else item))
        except InputError as exc:
            if invalid is None:
                raise
            meta = item.get("metadata") or {}
            invalid.append(
                InvalidApplication(str(meta.get("namespace")), str(meta.get("name")), exc.message)
            )
    return sorted(apps, key=lambda a: (a.namespace, a.name))


async def list_app_lines(
    kube: KubeClient, namespace: str | None, label_selector: str | None = None
) -> list[ListLine] | None:
    """The Applications as `app list` shows them, read from the server's table of the
    CRD's printer columns (~10x faster than whole objects at 5,000 apps); None when the
    table cannot say what the objects would (an app without a status yet, an older CRD
    or status writer), and the caller reads the objects. Specs are not read: an app
    whose spec turned invalid shows the InvalidSpec condition the controller wrote."""
    try:
        table = await list_table(
            kube, API_VERSION, KIND, namespace,
            label_selector=label_selector, with_metadata=namespace is None,
        )  # fmt: skip
    except ClusterError as exc:
        if exc.status == 404:
            return []
        raise
    lines = []
    for row in table.rows:
        name = str(row.cells.get("Name") or row.metadata.get("name") or "")
        line = list_line_from_cells(
            str(row.metadata.get("namespace") or namespace), name, row.cells
        )
        if line is None:
            return None
        lines.append(line)
    return sorted(lines, key=lambda line: (line.namespace, line.name))


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in (item.get("metadata") or {}).items() if k != "managedFields"}
    trimmed = {**item, "metadata": metadata}
    status = item.get("status")
    if isinstance(status, dict):
        trimmed["status"] = {k: v for k, v in status.items() if k not in ("resources", "history")}
    return trimmed


def shadowed(app: Application, shadow: bool) -> Application:
    """`app` as a controller run with --shadow sees it: detect-only, whatever its spec."""
    if not shadow or app.spec.detect_only:
        return app
    return dataclasses.replace(app, spec=dataclasses.replace(app.spec, mode=MODE_DETECT_ONLY))


class ParsedApplications:
    """Applications as a watch delivers them, parsed once per resourceVersion (parsing
    validates every field, and a reader sees the same copy many times). `shadow`: every
    one detect-only (`tether controller --shadow`)."""

    def __init__(self, shadow: bool = False) -> None:
        self.shadow = shadow
        self._parsed: dict[tuple[str, str], tuple[str, Application | None]] = {}

    def parse(
        self,
        key: tuple[str, str],
        raw: dict[str, Any],
        on_invalid: Callable[[InputError], None] | None = None,
    ) -> Application | None:
        """The Application, None when tether cannot read it (`on_invalid` is told why,
        once per version)."""
        version = str((raw.get("metadata") or {}).get("resourceVersion", ""))
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            app: Application | None = shadowed(Application.from_dict(raw), self.shadow)
        except InputError as exc:
            app = None
            if on_invalid is not None:
                on_invalid(exc)
        self._parsed[key] = (version, app)
        return app

    def forget(self, key: tuple[str, str]) -> None:
        self._parsed.pop(key, None)


async def delete_app(kube: KubeClient, namespace: str, name: str) -> None:
    await get_app(kube, namespace, name)
    await kube.delete(API_VERSION, KIND, name, namespace)


async def apply_status(
    kube: KubeClient, app: Application, status: ApplicationStatus, resource_version: str | None
) -> dict[str, Any]:
    """Server-side apply of an Application's whole status by tether, with the
    resourceVersion (when given) as a precondition: a write in between gets a 409."""
    metadata: dict[str, Any] = {"name": app.name, "namespace": app.namespace}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    body = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "status": stored_status(status),
    }
    return await kube.apply(body, field_manager=FIELD_MANAGER, subresource="status")


def stored_status(status: ApplicationStatus) -> dict[str, Any]:
    """The status as written: with status.message, what `app list` and `kubectl get`
    show of it, kept with every write so that a list can read it from the server's
    table (kube/tables.py) rather than every whole object."""
    return {**status.to_dict(), "message": status_message(status, STORED_MESSAGE_WIDTH)}


# --------------------------------------------------------------------- status writer


class ApplicationStore(Protocol):
    """What the status writer needs from wherever Applications are kept."""

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored Application, None when there is none."""

    async def write_status(
        self, app: Application, status: ApplicationStatus, resource_version: str | None
    ) -> dict[str, Any]:
        """Store `status` as the whole status of `app`; ClusterError 409 when the stored
        resourceVersion is no longer `resource_version`. Returns the stored object."""


@dataclass(frozen=True)
class ClusterApplicationStore:
    """Applications in the cluster, read and written through `kube`."""

    kube: KubeClient

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.kube.get(API_VERSION, KIND, name, namespace)

    async def write_status(
        self, app: Application, status: ApplicationStatus, resource_version: str | None
    ) -> dict[str, Any]:
        return await apply_status(self.kube, app, status, resource_version)


class StatusConflict(ClusterError):
    """The status kept changing under every attempt to write it."""


# A change computes the status to write from the stored Application it is given (the copy
# at hand first, a fresh read after a conflict); None means there is nothing to write.
# It may raise to refuse (the sync claim does when another operation runs).
StatusChange = Callable[[Application], ApplicationStatus | None]

STATUS_WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class StatusWrite:
    """The outcome of `update_status`: the Application as stored afterwards (None when
    it was deleted meanwhile) and whether a write was made."""

    app: Application | None
    written: bool

    @property
    def resource_version(self) -> str | None:
        return self.app.resource_version if self.written and self.app is not None else None


async def update_status(
    store: ApplicationStore,
    app: Application,
    change: StatusChange,
    *,
    what: str = "status",
    attempts: int = STATUS_WRITE_ATTEMPTS,
) -> StatusWrite:
    """Apply `change` to the status of `app` without losing anybody's newer write.

    The first attempt trusts `app` (a watch-cache copy, or what the last write returned)
    and writes with its resourceVersion as the precondition: no read when nothing else
    wrote meanwhile. After a conflict the Application is read again and `change` is
    applied to the newer copy.
    """
    current: Application | None = app
    for attempt in range(attempts):
        if attempt or current is None or current.resource_version is None:
            raw = await store.read(app.namespace, app.name)
            if raw is None:
                return StatusWrite(None, False)  # deleted meanwhile: nothing to write to
            current = Application.from_dict(raw)
        status = change(current)
        if status is None or status == current.status:
            return StatusWrite(current, False)
        try:
            stored = await store.write_status(current, status, current.resource_version)
        except ClusterError as exc:
            # 409: written in between; 404: deleted in between (the read tells).
            if exc.status not in (404, 409):
                raise
            continue
        return StatusWrite(Application.from_dict(stored), True)
    raise StatusConflict(
        f"Application {app.namespace}/{app.name}: status kept changing; {what} not written"
        f" after {attempts} attempts",
        status=409,
        reason="Conflict",
    )


async def mark_invalid_spec(
    kube: KubeClient, namespace: str, name: str, raw: dict[str, Any], message: str, now: str
) -> None:
    """An Application tether cannot read says why in its own status (InvalidSpec), not
    only in the controller's log; the next valid spec's compare clears it. A merge patch,
    since the status of an unreadable Application cannot be parsed and merged."""
    conditions = ((raw.get("status") or {}).get("conditions")) or []
    if any(
        c.get("type") == CONDITION_INVALID_SPEC and c.get("message") == message
        for c in conditions
        if isinstance(c, dict)
    ):
        return  # said already (our own write comes back as an event)
    patch = {
        "status": {
            "sync": {"status": "Unknown"},
            "message": clip(" ".join(message.split()), STORED_MESSAGE_WIDTH),
            "conditions": [
                {
                    "type": CONDITION_INVALID_SPEC,
                    "status": "True",
                    "reason": CONDITION_INVALID_SPEC,
                    "message": message[:1024],
                    "lastTransitionTime": now,
                }
            ],
        }
    }
    await kube.patch(
        API_VERSION, KIND, name, patch, namespace=namespace,
        patch_type=MERGE_PATCH, field_manager=FIELD_MANAGER, subresource="status",
    )  # fmt: skip


async def write_status(
    store: ApplicationStore, app: Application, status: ApplicationStatus
) -> StatusWrite:
    """Write a status computed from `app` (an earlier read) without losing newer writes:
    the fields this computation changed are merged (three-way, core/status.merge_status)
    into whatever is stored, so history or an operation recorded meanwhile survive."""
    if app.status == status:
        return StatusWrite(app, False)
    return await update_status(
        store, app, lambda current: merge_status(app.status, status, current.status)
    )
