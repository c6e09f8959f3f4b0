"""`tether install [--image IMAGE] [--namespace NS] [--dry-run]`."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click
import orjson
import yaml

from tether.core.install import (
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    controller_image,
    validate_image,
    validate_namespace,
)
from tether.engine.install import install, install_manifests
from tether.model.keys import ResourceKey

from .context import CliContext, pass_cli
from .output import message


@click.command("install")
@click.option(
    "--image",
    default=DEFAULT_IMAGE,
    show_default=True,
    help="Container image of the controller.",
)
@click.option(
    "--namespace",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Namespace of the controller (its Deployment, ServiceAccount, Secrets and Lease).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the manifests (YAML; -o json for a List) instead of applying them.",
)
@pass_cli
def install_command(cli: CliContext, image: str, namespace: str, dry_run: bool) -> None:
    """Install the Application CRD and the tether controller into the cluster.

    Server-side apply (field manager `tether`) of the CRD (waiting until it is
    Established), the namespace, the RBAC and the controller Deployment and Service.
    Rerun it to upgrade (for example with a new --image).
    """
    validate_namespace(namespace)  # bad flags: exit 2 before the cluster is contacted
    validate_image(image)
    if dry_run:
        objects = install_manifests(namespace=namespace, image=image)
        _print_manifests(objects, cli.fmt(None, "yaml"))
        message(f"dry run: {len(objects)} objects would be applied; nothing was changed")
        return

    def applied(obj: dict[str, Any]) -> None:
        click.echo(f"{ResourceKey.of(obj)} applied")

    async def run() -> list[dict[str, Any]]:
        kube = cli.kube()
        try:
            return await install(kube, namespace=namespace, image=image, applied=applied)
        finally:
            kube.close()

    stored = asyncio.run(run())
    message(
        f"installed tether in namespace {namespace} (image {controller_image(stored) or image}); "
        f"watch it with: kubectl -n {namespace} rollout status deployment/tether-controller"
    )


def _print_manifests(objects: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":  # a kubectl-applicable List
        doc = {"apiVersion": "v1", "kind": "List", "items": objects}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
