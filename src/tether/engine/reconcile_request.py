"""`tether app reconcile`: ask the controller for an immediate reconcile and wait for it.

Like Flux's `reconcile.fluxcd.io/requestedAt`: the CLI stamps a fresh token into an
annotation; the controller handles it (fetching Git first when `--with-source` put the
same token into the second annotation) and echoes the token in
`status.lastHandledReconcileAt`.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from tether.errors import ConditionNotMet
from tether.kube import MERGE_PATCH, KubeClient
from tether.model.application import (
    API_VERSION,
    FIELD_MANAGER,
    KIND,
    RECONCILE_REQUESTED_ANNOTATION,
    RECONCILE_WITH_SOURCE_ANNOTATION,
    Application,
)

from .apps import get_app


def new_token() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def request_reconcile(
    kube: KubeClient, namespace: str, name: str, *, with_source: bool
) -> str:
    await get_app(kube, namespace, name)
    token = new_token()
    annotations = {
        RECONCILE_REQUESTED_ANNOTATION: token,
        RECONCILE_WITH_SOURCE_ANNOTATION: token if with_source else None,
    }
    await kube.patch(
        API_VERSION,
        KIND,
        name,
        {"metadata": {"annotations": annotations}},
        namespace=namespace,
        patch_type=MERGE_PATCH,
        field_manager=FIELD_MANAGER,
    )
    return token


async def wait_handled(
    kube: KubeClient, namespace: str, name: str, token: str, timeout: float
) -> Application:
    """The app once the controller handled `token` (and any sync it started finished)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        app = await get_app(kube, namespace, name)
        status = app.status
        handled = status is not None and status.last_handled_reconcile_at == token
        running = (
            status is not None
            and status.operation_state is not None
            and status.operation_state.phase.value == "Running"
        )
        if handled and not running:
            return app
        if loop.time() > deadline:
            raise ConditionNotMet(
                f"Application {name}: the controller did not handle the reconcile request"
                f" within {timeout:.0f}s",
                hint="is `tether controller` running for this namespace? (tether app get "
                f"{name} shows the last handled request)",
            )
        await asyncio.sleep(0.2)
