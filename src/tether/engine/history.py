"""Deployment history (DESIGN §3 "History"): one entry per successful full sync.

Each entry lives in two places:

- `status.history` of the Application: id, revision, times, initiator, health and
  `manifestsRef`, the name of the Secret that holds the entry's manifests;
- Secrets of type `tether.dev/history` in the Application's namespace: the rendered
  manifests exactly as they were applied (a JSON list, gzip-compressed), so that a
  break-glass rollback works while Git is unreachable. The Secrets are owned by the
  Application, so deleting the Application deletes its history.

A gzip blob larger than `CHUNK_BYTES` is split over `<ref>`, `<ref>-1`, `<ref>-2`, ...
because the API server refuses Secrets over 1 MiB. The first Secret carries the sha256 of
the whole blob and the number of Secrets, and every read checks both.

The manifests include Secrets: their payload is never printed, logged or put into an
error message here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import gzip
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from tether.errors import ClusterError, InputError, TetherError
from tether.kube import KubeClient
from tether.model.application import (
    FIELD_MANAGER,
    Application,
    ApplicationStatus,
    HealthStatusCode,
    HistoryEntry,
)
from tether.model.names import (
    APP_LABEL,
    CHUNKS_ANNOTATION,
    HISTORY_ID_LABEL,
    HISTORY_SECRET_TYPE,
    SHA256_ANNOTATION,
)

from .apps import (
    ApplicationStore,
    ClusterApplicationStore,
    StatusChange,
    get_app,
    update_status,
)
from .history_secrets import (
    CHUNK_BYTES,
    DATA_KEY,
    app_label_value,
    chunk_name,
    encode_manifests,
    history_id_of,
    history_secret_name,
    is_ours,
    secret_body,
    sha256_hex,
    split_blob,
)

# Ids are reserved by creating the entry's first Secret (create fails when the name is
# taken), so a leftover Secret from a crashed sync makes us skip an id, never reuse it.
_MAX_ID_ATTEMPTS = 100
# Read-modify-write of the status with a resourceVersion precondition: retried when
# another writer (the controller, another CLI) changed the Application in between.
_MAX_STATUS_ATTEMPTS = 10


# ------------------------------------------------------------------------------ names


# --------------------------------------------------------------------------- encoding


# ------------------------------------------------------------------------------ write


async def record_history(
    kube: KubeClient,
    app: Application,
    *,
    revision: str,
    manifests: list[dict[str, Any]],
    deployed_at: str,
    deploy_started_at: str | None,
    initiated_by: str | None,
    health: str | None = None,
) -> HistoryEntry:
    """Store `manifests` (the objects applied) and append a history entry to the status.

    The entry gets the next id (ids only grow), the status keeps the newest
    `spec.revisionHistoryLimit` entries and the Secrets of dropped entries are deleted.
    Returns the new entry (not in the status when the limit is 0).
    """
    current = await get_app(kube, app.namespace, app.name)
    entry, _ = await append_history(
        kube,
        ClusterApplicationStore(kube),
        current,
        revision=revision,
        manifests=manifests,
        deployed_at=deployed_at,
        deploy_started_at=deploy_started_at,
        initiated_by=initiated_by,
        health=health,
    )
    return entry


async def append_history(
    kube: KubeClient,
    store: ApplicationStore,
    current: Application,
    *,
    revision: str,
    manifests: list[dict[str, Any]],
    deployed_at: str,
    deploy_started_at: str | None,
    initiated_by: str | None,
    health: str | None = None,
    along: StatusChange | None = None,
) -> tuple[HistoryEntry, Application | None]:
    """`record_history` for an Application as stored right now (what the caller's own
    status write returned: the next id is taken from its history without another read).
    `along` computes the rest of the status written with the entry (a sync's outcome:
    one status write for both). Returns the entry and the Application as stored after."""
    template = _validated_entry(
        current, revision, deployed_at, deploy_started_at, initiated_by, health
    )
    blob = encode_manifests(manifests)
    entry = await _store_manifests(kube, current, template, blob)
    kept: list[HistoryEntry] = []
    trimmed: list[HistoryEntry] = []

    def append(latest: Application) -> ApplicationStatus:
        nonlocal kept, trimmed
        status = (along(latest) if along is not None else None) or latest.status
        status = status or ApplicationStatus()
        kept, trimmed = trim_history(
            [*(e for e in status.history if e.id != entry.id), entry],
            latest.spec.revision_history_limit,
        )
        return dataclasses.replace(status, history=tuple(kept))

    try:
        written = await update_status(store, current, append, what=f"history entry {entry.id}")
    except ClusterError as exc:
        # Refused for sure (4xx): the entry is not in the status and its Secrets are
        # garbage. After anything else the write may have landed, so they stay; if they
        # are orphans, a later trim sweeps them (see _delete_trimmed).
        if 400 <= exc.status < 500:
            await _delete_quietly(kube, current, entry.id)
        raise
    if trimmed:
        await _delete_trimmed(kube, current, kept, trimmed)
    return entry, written.app


def _validated_entry(
    app: Application,
    revision: str,
    deployed_at: str,
    deploy_started_at: str | None,
    initiated_by: str | None,
    health: str | None,
) -> HistoryEntry:
    """The entry with id 0, checked the way a reader will parse it: a bad timestamp
    written into the status would make the whole Application unreadable."""
    if health is not None and health not in {code.value for code in HealthStatusCode}:
        names = ", ".join(code.value for code in HealthStatusCode)
        raise InputError(f"history health must be one of {names}, got {health!r}")
    entry = HistoryEntry(
        id=0,
        revision=revision,
        deployed_at=deployed_at,
        deploy_started_at=deploy_started_at,
        initiated_by=initiated_by,
        health=HealthStatusCode(health) if health is not None else None,
    )
    try:
        return HistoryEntry.from_dict(entry.to_dict())
    except InputError as exc:
        raise InputError(f"Application {app.namespace}/{app.name}: {exc.message}") from exc


async def _store_manifests(
    kube: KubeClient, app: Application, template: HistoryEntry, blob: bytes
) -> HistoryEntry:
    """Write the entry's Secrets under the next free id; return the entry with id and ref."""
    chunks = split_blob(blob)
    sha = sha256_hex(blob)
    history_id = max((e.id for e in (app.status.history if app.status else ())), default=0) + 1
    for _ in range(_MAX_ID_ATTEMPTS):
        ref = history_secret_name(app.name, history_id)
        first = secret_body(app, ref, history_id, 0, chunks[0], len(chunks), sha)
        if await _create_unless_exists(kube, first):
            break
        history_id += 1
    else:
        raise ClusterError(
            f"Application {app.namespace}/{app.name}: no free history id after "
            f"{_MAX_ID_ATTEMPTS} attempts (Secrets {app.name}-history-* are in the way)",
            hint=f"delete stale Secrets of type {HISTORY_SECRET_TYPE} in {app.namespace}",
        )
    try:
        await asyncio.gather(
            *(
                _write_chunk(
                    kube, app, secret_body(app, ref, history_id, i, chunk, len(chunks), sha)
                )
                for i, chunk in enumerate(chunks)
                if i > 0
            )
        )
    except TetherError:
        await _delete_quietly(kube, app, history_id)
        raise
    return dataclasses.replace(
        template, id=history_id, manifests_ref=ref, manifests_digest=f"sha256:{sha}"
    )


async def _create_unless_exists(kube: KubeClient, body: dict[str, Any]) -> bool:
    """Create; False when the name is taken (the id is used, or the name is someone else's)."""
    try:
        await kube.create(body, field_manager=FIELD_MANAGER)
    except ClusterError as exc:
        if exc.status == 409:
            return False
        raise
    return True


async def _write_chunk(kube: KubeClient, app: Application, body: dict[str, Any]) -> None:
    """Create one continuation Secret. A leftover of ours (a half-deleted old entry with
    the same id) is overwritten; a Secret that is not ours is never touched."""
    if await _create_unless_exists(kube, body):
        return
    meta = body["metadata"]
    existing = await kube.get("v1", "Secret", meta["name"], meta["namespace"])
    if existing is not None and not is_ours(existing, app, history_id_of(body)):
        raise ClusterError(
            f"Secret {meta['namespace']}/{meta['name']} exists and is not a history Secret "
            f"of Application {app.name}",
            hint="rename or delete that Secret",
        )
    await kube.apply(body, field_manager=FIELD_MANAGER)


def trim_history(
    entries: Sequence[HistoryEntry], limit: int
) -> tuple[list[HistoryEntry], list[HistoryEntry]]:
    """(kept, dropped): the newest `limit` entries by id, oldest first, and the rest."""
    ordered = sorted(entries, key=lambda e: e.id)
    cut = max(len(ordered) - limit, 0)
    return ordered[cut:], ordered[:cut]


async def _delete_trimmed(
    kube: KubeClient,
    app: Application,
    kept: Sequence[HistoryEntry],
    trimmed: Sequence[HistoryEntry],
) -> None:
    """Delete the Secrets of dropped entries, and of every id below the newest dropped one
    that the status does not list: leftovers of a sync that died before writing status.
    Ids above it may belong to a concurrent record that has not written its status yet."""
    newest_trimmed = max(e.id for e in trimmed)
    # Selecting by label keeps the kept entries' (possibly large) Secrets out of the list.
    kept_ids = ",".join(str(e.id) for e in kept)
    selector = f"{HISTORY_ID_LABEL} notin ({kept_ids})" if kept else None
    await _delete_secrets(kube, app, selector, lambda i: i <= newest_trimmed)


async def _delete_quietly(kube: KubeClient, app: Application, history_id: int) -> None:
    """Best-effort removal of one entry's Secrets while another error is on its way."""
    with contextlib.suppress(TetherError):
        await _delete_secrets(kube, app, f"{HISTORY_ID_LABEL}={history_id}", lambda _: True)


async def _delete_secrets(
    kube: KubeClient, app: Application, selector: str | None, which: Callable[[int], bool]
) -> None:
    """Delete this app's history Secrets matching `selector` whose id satisfies `which`.

    Found by label and checked by type and owner uid, so nothing but this Application's
    history is ever deleted.
    """
    app_selector = f"{APP_LABEL}={app_label_value(app.name)}"
    secrets = await kube.list(
        "v1",
        "Secret",
        app.namespace,
        label_selector=f"{app_selector},{selector}" if selector else app_selector,
    )
    doomed = [
        s["metadata"]["name"]
        for s in secrets
        if is_ours(s, app) and (hid := history_id_of(s)) is not None and which(hid)
    ]
    await asyncio.gather(*(kube.delete("v1", "Secret", name, app.namespace) for name in doomed))


# ------------------------------------------------------------------------------- read


async def app_history(kube: KubeClient, namespace: str, name: str) -> list[HistoryEntry]:
    """The history of one Application, oldest first (as Argo CD lists it)."""
    app = await get_app(kube, namespace, name)
    return sorted(app.status.history if app.status else (), key=lambda e: e.id)


def find_entry(app: Application, entry_id: int) -> HistoryEntry:
    for entry in app.status.history if app.status else ():
        if entry.id == entry_id:
            return entry
    ids = sorted(e.id for e in (app.status.history if app.status else ()))
    known = ", ".join(str(i) for i in ids) if ids else "none yet"
    raise InputError(
        f"Application {app.namespace}/{app.name} has no history entry {entry_id}",
        hint=f"history ids: {known} (tether app history {app.name})",
    )


async def load_manifests(kube: KubeClient, app: Application, entry_id: int) -> list[dict[str, Any]]:
    """The manifests stored for history entry `entry_id`, exactly as they were applied."""
    entry = find_entry(app, entry_id)
    subject = f"Application {app.namespace}/{app.name}: history entry {entry_id}"
    if not entry.manifests_ref:
        raise InputError(f"{subject} has no stored manifests (no manifestsRef)")
    blob = await _read_blob(kube, app, entry_id, entry.manifests_ref, subject)
    if (
        entry.manifests_digest is not None
        and entry.manifests_digest != f"sha256:{sha256_hex(blob)}"
    ):
        # The Secret agrees with itself but not with the status: it was rewritten.
        raise InputError(
            f"{subject}: stored manifests in Secret {app.namespace}/{entry.manifests_ref} do"
            " not match the digest recorded in the Application's status; refusing to apply"
            " them",
            hint="the history Secret was modified after the sync; roll back to another"
            " entry, or use tether revert",
        )
    return _decode(blob, subject)


async def _read_blob(
    kube: KubeClient, app: Application, entry_id: int, ref: str, subject: str
) -> bytes:
    first = await _get_secret(kube, app, ref, subject)
    annotations = first["metadata"].get("annotations") or {}
    if history_id_of(first) != entry_id or first.get("type") != HISTORY_SECRET_TYPE:
        raise InputError(f"{subject}: Secret {app.namespace}/{ref} belongs to another entry")
    count = str(annotations.get(CHUNKS_ANNOTATION, ""))
    if not count.isdigit() or int(count) < 1:
        raise InputError(f"{subject}: Secret {app.namespace}/{ref} lacks {CHUNKS_ANNOTATION}")
    rest = await asyncio.gather(
        *(_get_secret(kube, app, chunk_name(ref, i), subject) for i in range(1, int(count)))
    )
    blob = b"".join(_chunk_data(s, subject) for s in [first, *rest])
    if sha256_hex(blob) != annotations.get(SHA256_ANNOTATION):
        raise InputError(
            f"{subject}: stored manifests are corrupt (sha256 mismatch in Secret "
            f"{app.namespace}/{ref})"
        )
    return blob


async def _get_secret(
    kube: KubeClient, app: Application, name: str, subject: str
) -> dict[str, Any]:
    secret = await kube.get("v1", "Secret", name, app.namespace)
    if secret is None:
        raise InputError(
            f"{subject} has no stored manifests (Secret {app.namespace}/{name} not found)"
        )
    return secret


def _chunk_data(secret: Mapping[str, Any], subject: str) -> bytes:
    encoded = (secret.get("data") or {}).get(DATA_KEY)
    if not isinstance(encoded, str):
        name = secret["metadata"]["name"]
        raise InputError(f"{subject}: Secret {name} has no {DATA_KEY} key")
    return base64.b64decode(encoded)


def _decode(blob: bytes, subject: str) -> list[dict[str, Any]]:
    # Exception texts are left out on purpose: they may quote bytes of the payload.
    try:
        manifests = orjson.loads(gzip.decompress(blob))
    except (OSError, EOFError, zlib.error, orjson.JSONDecodeError):
        raise InputError(f"{subject}: stored manifests cannot be decoded") from None
    if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
        raise InputError(f"{subject}: stored manifests are not a list of objects")
    return manifests


__all__ = [
    "APP_LABEL",
    "CHUNK_BYTES",
    "DATA_KEY",
    "HISTORY_ID_LABEL",
    "HISTORY_SECRET_TYPE",
    "app_history",
    "app_label_value",
    "encode_manifests",
    "find_entry",
    "history_secret_name",
    "load_manifests",
    "record_history",
    "split_blob",
    "trim_history",
]
