"""Deployment history against the real control plane: ids, trimming, Secrets holding the
manifests (chunked when large), ownership, concurrent writers and broken storage."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import os
from typing import Any

import pytest

from tests.support import manifests
from tests.support.apps import application
from tests.support.waiting import eventually
from tether.engine.apps import ClusterApplicationStore, create_app, get_app, write_status
from tether.engine.history import (
    APP_LABEL,
    CHUNK_BYTES,
    DATA_KEY,
    HISTORY_ID_LABEL,
    HISTORY_SECRET_TYPE,
    encode_manifests,
    history_secret_name,
    load_manifests,
    record_history,
)
from tether.errors import InputError
from tether.kube import KubeClient
from tether.model.application import (
    API_VERSION,
    KIND,
    Application,
    ApplicationStatus,
    HealthStatusCode,
    OperationPhase,
    OperationState,
    SyncStatus,
    SyncStatusCode,
)
from tether.model.names import SHA256_ANNOTATION

T0 = "2024-05-01T12:00:00Z"


def config_map(name: str, **data: str) -> dict[str, Any]:
    return manifests.configmap(name, data)


async def make_app(kube: KubeClient, namespace: str, name: str = "web", **spec: Any) -> Application:
    return await create_app(
        kube, application(name, namespace, "file:///srv/gitops.git", "apps/web", **spec)
    )


async def record(
    kube: KubeClient, app: Application, n: int, manifests: list[dict[str, Any]] | None = None
) -> Any:
    return await record_history(
        kube,
        app,
        revision=f"{n:040x}",
        manifests=manifests if manifests is not None else [config_map(f"cm-{n}", n=str(n))],
        deployed_at=f"2024-05-01T12:{n:02d}:00Z",
        deploy_started_at=T0,
        initiated_by="test",
        health="Healthy",
    )


async def history_secrets(kube: KubeClient, namespace: str, app: str) -> list[dict[str, Any]]:
    return await kube.list("v1", "Secret", namespace, label_selector=f"{APP_LABEL}={app}")


def ids_of(secrets: list[dict[str, Any]]) -> set[int]:
    return {int(s["metadata"]["labels"][HISTORY_ID_LABEL]) for s in secrets}


async def test_keeps_the_newest_entries_and_deletes_the_secrets_of_dropped_ones(
    kube: KubeClient, namespace: str
) -> None:
    app = await make_app(kube, namespace)
    # Status fields written by the same field manager must survive the history write.
    await write_status(
        ClusterApplicationStore(kube),
        app,
        ApplicationStatus(
            sync=SyncStatus(SyncStatusCode.SYNCED, "a" * 40, T0),
            operation_state=OperationState(OperationPhase.SUCCEEDED, "a" * 40, T0, T0, "ok"),
        ),
    )
    for n in range(1, 13):
        entry = await record(kube, app, n)
        assert entry.id == n
        assert entry.manifests_ref == f"web-history-{n}"

    app = await get_app(kube, namespace, "web")
    assert app.status is not None
    assert [e.id for e in app.status.history] == list(range(3, 13))
    last = app.status.history[-1]
    assert (last.revision, last.deployed_at, last.deploy_started_at) == (
        f"{12:040x}",
        "2024-05-01T12:12:00Z",
        T0,
    )
    assert (last.initiated_by, last.health) == ("test", HealthStatusCode.HEALTHY)
    assert app.status.sync.status is SyncStatusCode.SYNCED
    assert app.status.operation_state is not None
    assert app.status.operation_state.message == "ok"

    assert ids_of(await history_secrets(kube, namespace, "web")) == set(range(3, 13))
    for gone in (1, 2):
        assert await kube.get("v1", "Secret", f"web-history-{gone}", namespace) is None

    # Ids keep growing after trimming; the oldest kept entry goes next.
    entry = await record(kube, app, 13)
    assert entry.id == 13
    app = await get_app(kube, namespace, "web")
    assert app.status is not None
    assert [e.id for e in app.status.history] == list(range(4, 14))
    assert ids_of(await history_secrets(kube, namespace, "web")) == set(range(4, 14))
    assert await load_manifests(kube, app, 13) == [config_map("cm-13", n="13")]


async def test_a_lower_limit_trims_on_the_next_record(kube: KubeClient, namespace: str) -> None:
    app = await make_app(kube, namespace, revisionHistoryLimit=2)
    for n in range(1, 5):
        await record(kube, app, n)
    app = await get_app(kube, namespace, "web")
    assert app.status is not None
    assert [e.id for e in app.status.history] == [3, 4]
    assert ids_of(await history_secrets(kube, namespace, "web")) == {3, 4}


async def test_manifests_round_trip_exactly_and_large_ones_are_chunked(
    kube: KubeClient, namespace: str
) -> None:
    app = await make_app(kube, namespace)
    small = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "annotations": {"tether.dev/sync-wave": "-1"}},
            "type": "Opaque",
            "data": {"password": base64.b64encode(b"hunter2").decode()},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "labels": {"app": "api"}},
            "spec": {"replicas": 3, "paused": False, "progressDeadlineSeconds": None},
            "x": {"float": 0.5, "unicode": "größe ✓", "empty": {}, "list": []},
        },
    ]
    # ~3 MB of base64 noise does not compress below 2 MB: it needs several Secrets.
    noise = [
        config_map(f"blob-{i}", payload=base64.b64encode(os.urandom(600_000)).decode())
        for i in range(5)
    ]
    large = small + noise

    first = await record(kube, app, 1, small)
    second = await record(kube, app, 2, large)
    app = await get_app(kube, namespace, "web")
    assert await load_manifests(kube, app, first.id) == small
    assert await load_manifests(kube, app, second.id) == large

    secrets = [
        s
        for s in await history_secrets(kube, namespace, "web")
        if s["metadata"]["labels"][HISTORY_ID_LABEL] == str(second.id)
    ]
    names = sorted(s["metadata"]["name"] for s in secrets)
    assert len(names) >= 3
    assert names == sorted(["web-history-2"] + [f"web-history-2-{i}" for i in range(1, len(names))])
    for secret in secrets:
        assert secret["type"] == HISTORY_SECRET_TYPE
        size = sum(len(base64.b64decode(v)) for v in secret["data"].values())
        assert size <= CHUNK_BYTES < 1024 * 1024


async def test_history_secrets_are_owned_by_the_app_and_go_with_it(
    kube: KubeClient, namespace: str
) -> None:
    app = await make_app(kube, namespace)
    entry = await record(kube, app, 1)
    assert entry.manifests_ref is not None
    secret = await kube.get("v1", "Secret", entry.manifests_ref, namespace)
    assert secret is not None
    assert secret["metadata"]["labels"] == {APP_LABEL: "web", HISTORY_ID_LABEL: "1"}
    assert secret["metadata"]["ownerReferences"] == [
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": "web",
            "uid": app.extra_metadata["uid"],
            "controller": True,
            "blockOwnerDeletion": False,
        }
    ]

    await kube.delete(API_VERSION, KIND, "web", namespace)

    async def collected() -> bool:
        return await kube.get("v1", "Secret", entry.manifests_ref or "", namespace) is None

    await eventually(collected, timeout=60, what="the garbage collector to delete the history")


async def test_concurrent_records_get_distinct_ids_and_both_land(
    kube: KubeClient, namespace: str
) -> None:
    app = await make_app(kube, namespace)
    entries = await asyncio.gather(*(record(kube, app, n) for n in range(1, 6)))
    assert sorted(e.id for e in entries) == [1, 2, 3, 4, 5]
    app = await get_app(kube, namespace, "web")
    assert app.status is not None
    assert [e.id for e in app.status.history] == [1, 2, 3, 4, 5]
    for entry in entries:
        # Each id's Secret holds the manifests of the call that got that id.
        number = int(entry.revision, 16)
        assert await load_manifests(kube, app, entry.id) == [
            config_map(f"cm-{number}", n=str(number))
        ]


async def test_a_taken_secret_name_is_skipped_never_overwritten(
    kube: KubeClient, namespace: str
) -> None:
    app = await make_app(kube, namespace)
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": history_secret_name("web", 1), "namespace": namespace},
            "stringData": {"mine": "keep"},
        }
    )
    entry = await record(kube, app, 1)
    assert entry.id == 2
    theirs = await kube.get("v1", "Secret", "web-history-1", namespace)
    assert theirs is not None and set(theirs["data"]) == {"mine"}


async def test_leftovers_of_a_crashed_record_are_skipped_then_swept(
    kube: KubeClient, namespace: str
) -> None:
    app = await make_app(kube, namespace, revisionHistoryLimit=2)
    await record(kube, app, 1)
    # As if the sync died between storing the manifests and writing the status.
    app = await get_app(kube, namespace, "web")
    assert app.status is not None
    await write_status(
        ClusterApplicationStore(kube), app, dataclasses.replace(app.status, history=())
    )

    entry = await record(kube, app, 2)
    assert entry.id == 2
    assert ids_of(await history_secrets(kube, namespace, "web")) == {1, 2}
    await record(kube, app, 3)
    await record(kube, app, 4)
    app = await get_app(kube, namespace, "web")
    assert app.status is not None
    assert [e.id for e in app.status.history] == [3, 4]
    assert ids_of(await history_secrets(kube, namespace, "web")) == {3, 4}


async def test_long_app_names_get_valid_labels_and_secret_names(
    kube: KubeClient, namespace: str
) -> None:
    name = "long-" + "x" * 235  # valid object name, far over the 63 of a label value
    app = await make_app(kube, namespace, name)
    entry = await record(kube, app, 1)
    assert entry.manifests_ref is not None and len(entry.manifests_ref) <= 253 - 8
    secret = await kube.get("v1", "Secret", entry.manifests_ref, namespace)
    assert secret is not None
    label = secret["metadata"]["labels"][APP_LABEL]
    assert len(label) <= 63 and label.startswith("long-x")
    app = await get_app(kube, namespace, name)
    assert await load_manifests(kube, app, 1) == [config_map("cm-1", n="1")]


async def test_missing_or_corrupt_storage_is_a_clear_error(
    kube: KubeClient, namespace: str
) -> None:
    app = await make_app(kube, namespace)
    await record(kube, app, 1)
    await record(kube, app, 2)
    app = await get_app(kube, namespace, "web")

    with pytest.raises(InputError, match="has no history entry 7"):
        await load_manifests(kube, app, 7)

    await kube.delete("v1", "Secret", "web-history-1", namespace)
    with pytest.raises(InputError) as missing:
        await load_manifests(kube, app, 1)
    assert missing.value.message == (
        f"Application {namespace}/web: history entry 1 has no stored manifests "
        f"(Secret {namespace}/web-history-1 not found)"
    )

    await kube.patch(
        "v1",
        "Secret",
        "web-history-2",
        {"metadata": {"annotations": {SHA256_ANNOTATION: "0" * 64}}},
        namespace=namespace,
        field_manager="test",
    )
    with pytest.raises(InputError, match="corrupt"):
        await load_manifests(kube, app, 2)


async def test_bad_input_is_refused_before_anything_is_written(
    kube: KubeClient, namespace: str
) -> None:
    app = await make_app(kube, namespace)
    with pytest.raises(InputError, match="deployedAt"):
        await record_history(
            kube,
            app,
            revision="a" * 40,
            manifests=[],
            deployed_at="yesterday",
            deploy_started_at=None,
            initiated_by=None,
        )
    with pytest.raises(InputError, match="health must be one of"):
        await record_history(
            kube,
            app,
            revision="a" * 40,
            manifests=[],
            deployed_at=T0,
            deploy_started_at=None,
            initiated_by=None,
            health="Fine",
        )
    assert await history_secrets(kube, namespace, "web") == []
    # An empty manifest list is a valid (if unusual) deployment.
    entry = await record(kube, app, 1, [])
    assert await load_manifests(kube, await get_app(kube, namespace, "web"), entry.id) == []


async def test_a_rewritten_history_secret_is_refused_even_when_it_agrees_with_itself(
    kube: KubeClient, namespace: str
) -> None:
    # Whoever can write the history Secret may also fix up its own sha256 annotation; the
    # digest in the Application's status is what a rollback trusts (CVE-2024-31989 class).
    app = await make_app(kube, namespace)
    entry = await record(kube, app, 1)
    app = await get_app(kube, namespace, "web")
    assert app.status is not None
    assert app.status.history[-1].manifests_digest == entry.manifests_digest
    assert (await load_manifests(kube, app, 1)) == [config_map("cm-1", n="1")]
    poisoned = encode_manifests([config_map("cm-1", n="1"), config_map("backdoor", x="1")])
    await kube.patch(
        "v1",
        "Secret",
        "web-history-1",
        {
            "metadata": {"annotations": {SHA256_ANNOTATION: hashlib.sha256(poisoned).hexdigest()}},
            "data": {DATA_KEY: base64.b64encode(poisoned).decode()},
        },
        namespace=namespace,
        field_manager="attacker",
    )
    with pytest.raises(InputError, match="do not match the digest recorded in the Application"):
        await load_manifests(kube, app, 1)
