"""The Secrets that hold deployment history: their names (shortened to fit), the
manifests encoded and split into chunks with their digest, the body of each Secret
(owned by the Application, labelled with its id), and whether a Secret is ours."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from tether.errors import InputError
from tether.model.application import (
    API_VERSION,
    KIND,
    Application,
)
from tether.model.names import (
    APP_LABEL,
    CHUNK_INDEX_ANNOTATION,
    CHUNKS_ANNOTATION,
    HISTORY_ID_LABEL,
    HISTORY_SECRET_TYPE,
    SHA256_ANNOTATION,
)

DATA_KEY = "manifests.json.gz"


# The API server rejects a Secret whose data exceeds 1 MiB; stay well below it so that
# metadata and the base64 form of the request fit as well.
CHUNK_BYTES = 900 * 1024


_LABEL_VALUE_MAX = 63


_NAME_PREFIX_MAX = 200  # app-name part of a Secret name; ids and chunk suffixes follow


_DIGEST_CHARS = 10


def _shortened(name: str, limit: int) -> str:
    """`name`, or a prefix of it plus a digest when it is longer than `limit`, so that
    long names stay unique and valid (alphanumeric at both ends)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_DIGEST_CHARS]
    return f"{name[: limit - _DIGEST_CHARS - 1].rstrip('.-')}-{digest}"


def app_label_value(app_name: str) -> str:
    """The `tether.dev/application` label value: the app name (label values are capped
    at 63 characters, app names are not, hence the digest for long ones)."""
    return _shortened(app_name, _LABEL_VALUE_MAX)


def history_secret_name(app_name: str, history_id: int) -> str:
    """Name of the (first) Secret holding the manifests of one history entry."""
    return f"{_shortened(app_name, _NAME_PREFIX_MAX)}-history-{history_id}"


def chunk_name(ref: str, index: int) -> str:
    return ref if index == 0 else f"{ref}-{index}"


def encode_manifests(manifests: Sequence[Mapping[str, Any]]) -> bytes:
    """The gzip blob stored for an entry. mtime=0 keeps it reproducible."""
    return gzip.compress(orjson.dumps(list(manifests)), mtime=0)


def split_blob(blob: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    return [blob[start : start + size] for start in range(0, len(blob), size)] or [b""]


def sha256_hex(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _owner_reference(app: Application) -> dict[str, Any]:
    uid = app.extra_metadata.get("uid")
    if not uid:
        raise InputError(
            f"Application {app.namespace}/{app.name} has no uid: read it from the cluster"
        )
    # blockOwnerDeletion needs delete permission on the owner; history must never hold
    # up the deletion of its Application anyway.
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": app.name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


def secret_body(
    app: Application, ref: str, history_id: int, index: int, chunk: bytes, chunks: int, sha: str
) -> dict[str, Any]:
    annotations = {CHUNK_INDEX_ANNOTATION: str(index)}
    if index == 0:
        annotations |= {SHA256_ANNOTATION: sha, CHUNKS_ANNOTATION: str(chunks)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": HISTORY_SECRET_TYPE,
        "metadata": {
            "name": chunk_name(ref, index),
            "namespace": app.namespace,
            "labels": {APP_LABEL: app_label_value(app.name), HISTORY_ID_LABEL: str(history_id)},
            "annotations": annotations,
            "ownerReferences": [_owner_reference(app)],
        },
        "data": {DATA_KEY: base64.b64encode(chunk).decode("ascii")},
    }


def is_ours(secret: Mapping[str, Any], app: Application, history_id: int | None = None) -> bool:
    """A history Secret of this very Application (same uid), optionally of one entry."""
    meta = secret.get("metadata") or {}
    labels = meta.get("labels") or {}
    owners = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
    return (
        secret.get("type") == HISTORY_SECRET_TYPE
        and labels.get(APP_LABEL) == app_label_value(app.name)
        and app.extra_metadata.get("uid") in owners
        and (history_id is None or labels.get(HISTORY_ID_LABEL) == str(history_id))
    )


def history_id_of(secret: Mapping[str, Any]) -> int | None:
    value = ((secret.get("metadata") or {}).get("labels") or {}).get(HISTORY_ID_LABEL, "")
    return int(value) if value.isdigit() else None
