"""`tether install`: the Application CRD, namespace, RBAC and controller, server-side applied."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from tether.core.install import MANIFEST_FILES, install_objects
from tether.errors import ClusterError
from tether.kube import KubeClient
from tether.model.application import FIELD_MANAGER
from tether.model.crd import tether_crds

from .apps import install_crd

MANIFESTS_PACKAGE = "tether.deploy_manifests"  # packaged copies of deploy/*.yaml


def packaged_manifest_texts() -> list[str]:
    """The shipped install manifests (MANIFEST_FILES, in order), as text."""
    root = resources.files(MANIFESTS_PACKAGE)
    return [root.joinpath(name).read_text(encoding="utf-8") for name in MANIFEST_FILES]


def install_manifests(*, namespace: str, image: str | None) -> list[dict[str, Any]]:
    """Every object `tether install` applies, in order: the CRD first."""
    objects = install_objects(packaged_manifest_texts(), namespace=namespace, image=image)
    return [*tether_crds(), *objects]


async def install(
    kube: KubeClient,
    *,
    namespace: str,
    image: str | None,
    applied: Callable[[dict[str, Any]], None] = lambda _: None,
    crd_timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Apply the CRD (waiting until it is Established), then the namespace, RBAC and controller.

    `applied` is called with each object once it is applied (as the server stored it, the
    CRD as shipped). Returns those objects.
    """
    objects = install_objects(packaged_manifest_texts(), namespace=namespace, image=image)
    stored: list[dict[str, Any]] = []
    try:
        await install_crd(kube, timeout=crd_timeout)  # applies them, then waits for Established
        for crd in tether_crds():
            stored.append(crd)
            applied(crd)
        for obj in objects:
            stored.append(await kube.apply(obj, field_manager=FIELD_MANAGER))
            applied(stored[-1])
    except ClusterError as exc:
        if exc.status == 403:
            raise ClusterError(
                f"not allowed to install tether: {exc.message}",
                hint="tether install creates a CRD, ClusterRoles and bindings: "
                "run it as a cluster administrator",
                status=exc.status,
                reason=exc.reason,
            ) from exc
        raise
    return stored
