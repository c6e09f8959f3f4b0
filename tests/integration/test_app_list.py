"""`tether app list` from the API server's table of the CRD's printer columns: the real
server evaluates the columns' JSONPaths, and the lines must say what the whole objects
say; where the table cannot (no status yet, a status without status.message) the list
reads the objects."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.apps import application, condition
from tests.support.cli import tether
from tether.core.fleet import list_line
from tether.engine.apps import apply_status, create_app, get_app, list_app_lines
from tether.kube import MERGE_PATCH, KubeClient
from tether.model.application import API_VERSION, KIND, ApplicationStatus

pytestmark = pytest.mark.cluster

REPO = "https://git.example/fleet.git"


STATUSES: dict[str, dict[str, Any]] = {
    "healthy": {
        "sync": {"status": "Synced", "revision": "b" * 40},
        "health": {"status": "Healthy"},
    },
    "failing": {
        "sync": {"status": "OutOfSync", "revision": "a" * 40},
        "health": {"status": "Degraded", "message": "rollout stuck"},
        "outOfSyncSince": "2026-12-03T10:00:00Z",
        "conditions": [condition("SyncError", "apply failed: quota exceeded " + "x" * 100)],
    },
    "empty": {
        "sync": {"status": "Synced", "revision": "c" * 40},
        "health": {"status": "Healthy"},
        "conditions": [condition("EmptyRender", "the path rendered nothing")],
    },
}


async def _fleet(kube: KubeClient, namespace: str) -> None:
    for name, status in STATUSES.items():
        app = await create_app(kube, application(name, namespace, REPO, f"apps/{name}"))
        await apply_status(kube, app, ApplicationStatus.from_dict(status), None)


async def test_the_table_lines_say_what_the_whole_objects_say(
    kube: KubeClient, namespace: str, kubeconfig: str
) -> None:
    await _fleet(kube, namespace)
    lines = await list_app_lines(kube, namespace)
    assert lines is not None
    whole = [list_line(await get_app(kube, namespace, name)) for name in sorted(STATUSES)]
    assert lines == whole
    by_name = {line.name: line for line in lines}
    assert by_name["empty"].empty_render and not by_name["healthy"].empty_render
    assert by_name["failing"].message.startswith("apply failed: quota exceeded")
    assert by_name["failing"].out_of_sync_since == "2026-12-03T10:00:00Z"

    # Every namespace: the rows carry their namespace (the table's metadata).
    everywhere = await list_app_lines(kube, None)
    assert everywhere is not None
    assert [line for line in everywhere if line.namespace == namespace] == whole

    # A label selector goes to the server with the table request.
    await kube.patch(
        API_VERSION, KIND, "failing", {"metadata": {"labels": {"team": "payments"}}},
        namespace=namespace, patch_type=MERGE_PATCH, field_manager="test",
    )  # fmt: skip
    chosen = await list_app_lines(kube, namespace, "team=payments")
    assert chosen is not None and [line.name for line in chosen] == ["failing"]

    listed = tether(kubeconfig, "-n", namespace, "app", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert "Synced (empty)" in rows["empty"]
    assert rows["failing"].split()[1:4] == ["OutOfSync", "Degraded", "aaaaaaaa"]
    assert re.fullmatch(r"\d+[dhms]", rows["failing"].split()[4])  # out of sync for so long
    assert "apply failed: quota exceeded xxx" in rows["failing"]
    assert rows["failing"].endswith("…")  # clipped to the table's width
    assert rows["healthy"].split() == ["healthy", "Synced", "Healthy", "bbbbbbbb"]


async def test_kubectl_shows_the_message(
    kube: KubeClient, namespace: str, kubectl: Callable[..., Any]
) -> None:
    await _fleet(kube, namespace)
    shown = kubectl("get", "applications.tether.dev", "-n", namespace).stdout
    assert shown.split("\n")[0].split() == ["NAME", "SYNC", "HEALTH", "REVISION", "AGE", "MESSAGE"]
    assert "apply failed: quota exceeded" in shown
    wide = kubectl("get", "applications.tether.dev", "-n", namespace, "-o", "wide").stdout
    assert "OUT-OF-SYNC-SINCE" in wide and "2026-12-03T10:00:00Z" in wide


async def test_without_what_the_table_needs_the_list_reads_the_objects(
    kube: KubeClient, namespace: str, kubeconfig: str
) -> None:
    await _fleet(kube, namespace)
    assert await list_app_lines(kube, namespace) is not None
    # A status written without status.message (a tether before it): the objects.
    patch = {"status": {"message": None}}
    await kube.patch(
        API_VERSION, KIND, "healthy", patch, namespace=namespace,
        patch_type=MERGE_PATCH, field_manager="older-tether", subresource="status",
    )  # fmt: skip
    assert await list_app_lines(kube, namespace) is None
    # An app without a status whose spec tether cannot read (created by kubectl, no
    # controller): only its spec tells, and the list still says so.
    bad = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {
            "source": {"repoURL": REPO, "path": "../../etc"},
            "destination": {"namespace": namespace},
        },
    }
    await kube.create(bad)
    listed = tether(kubeconfig, "-n", namespace, "app", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert "invalid spec" in rows["bad"] and "path" in rows["bad"]
    assert "Synced (empty)" in rows["empty"]  # the others still listed in full
    assert "Application " + namespace + "/bad is invalid" in listed.stderr


async def test_escape_sequences_in_a_message_never_reach_the_terminal(
    kube: KubeClient, namespace: str, kubeconfig: str
) -> None:
    """A render error quotes the repository's text; that text may carry escape
    sequences (set the terminal's title, clear the screen, reverse the line)."""
    hostile = "render failed: \x1b]0;owned\x07 \x1b[2J\x1b[31mfake OK\x1b[0m \u202eevil"
    status = {
        "sync": {"status": "Unknown"},
        "health": {"status": "Unknown"},
        "conditions": [condition("ComparisonError", hostile)],
    }
    app = await create_app(kube, application("web", namespace, REPO, "apps/web"))
    await apply_status(kube, app, ApplicationStatus.from_dict(status), None)
    for command in (("app", "list"), ("app", "list", "-o", "wide"), ("app", "get", "web")):
        shown = tether(kubeconfig, "-n", namespace, *command)
        assert shown.returncode == 0, shown.stderr
        assert "render failed:" in shown.stdout
        for control in ("\x1b", "\x07", "\u202e"):
            assert control not in shown.stdout + shown.stderr, (command, control)
        assert "\\x1b]0;owned\\x07" in shown.stdout  # shown escaped, not dropped
