"""`tether cluster up|down|status|kubeconfig [--name N]`: local control planes;
`tether cluster add|list`: clusters registered for tether to deploy to."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import click

from tether.engine.apps import list_apps
from tether.engine.clusters import ClusterRow, add_cluster, cluster_rows
from tether.errors import ConditionNotMet, InputError
from tether.kube import KubeClient
from tether.localcluster import LocalCluster
from tether.model.cluster import ClusterPolicy

from .context import CliContext, output_option, pass_cli
from .output import emit_data, emit_table, message


def default_state_dir() -> Path:
    env = os.environ.get("TETHER_CLUSTER_DIR")
    if env:
        return Path(env)
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "tether" / "cluster"


def named_state_dir(name: str | None) -> Path:
    """The state directory of the local cluster called `name` (None: the default one):
    named clusters live beside the default, each with its own ports and kubeconfig, so a
    hub and a spoke run side by side."""
    base = default_state_dir()
    return base if not name else base.parent / f"{base.name}-{name}"


def _cluster_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (
        not value or len(value) > 40 or not all(c.isalnum() or c == "-" for c in value)
    ):
        raise click.BadParameter("letters, digits and '-', at most 40")
    return value


def state_dir_option(command: Any) -> Any:
    """`--state-dir DIR` or `--name N` (a named cluster beside the default one)."""
    command = click.option(
        "--name",
        "cluster_name",
        default=None,
        callback=_cluster_name,
        help="A named local cluster (own ports, state dir, kubeconfig), e.g. hub, spoke.",
    )(command)
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        show_default="$TETHER_CLUSTER_DIR or $XDG_STATE_HOME/tether/cluster[-NAME]",
        help="Where the cluster keeps its data, certificates, logs and kubeconfig.",
    )(command)


def _where(state_dir: Path | None, cluster_name: str | None) -> Path:
    if state_dir is not None and cluster_name is not None:
        raise InputError("give --state-dir or --name, not both")
    return state_dir if state_dir is not None else named_state_dir(cluster_name)


@click.group("cluster")
def cluster_group() -> None:
    """A real local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)."""


@cluster_group.command("up")
@state_dir_option
@click.option("--timeout", type=float, default=180.0, show_default=True, help="Seconds to wait.")
def cluster_up(state_dir: Path | None, cluster_name: str | None, timeout: float) -> None:
    """Start the local control plane (idempotent) and print the kubeconfig path."""
    cluster = LocalCluster(_where(state_dir, cluster_name))
    message(f"starting local control plane in {cluster.state_dir} ...")
    status = asyncio.run(cluster.up(timeout=timeout))
    message(f"ready: API {status.server}, node Ready; export KUBECONFIG={status.kubeconfig}")
    click.echo(status.kubeconfig)


@cluster_group.command("down")
@state_dir_option
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete the cluster's data: the next `up` is an empty cluster at the same"
    " address (a disaster to recover from).",
)
def cluster_down(state_dir: Path | None, cluster_name: str | None, purge: bool) -> None:
    """Stop the processes that `cluster up` started (data is kept unless --purge)."""
    cluster = LocalCluster(_where(state_dir, cluster_name))
    stopped = asyncio.run(cluster.destroy() if purge else cluster.down())
    message(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if purge:
        message(f"deleted the cluster's data in {cluster.state_dir / 'etcd'}")


@cluster_group.command("status")
@state_dir_option
@output_option
@pass_cli
def cluster_status(
    cli: CliContext, state_dir: Path | None, cluster_name: str | None, fmt: str | None
) -> None:
    """Show each component; exit 1 when the cluster is not running."""
    fmt = cli.fmt(fmt)
    status = asyncio.run(LocalCluster(_where(state_dir, cluster_name)).status())
    if fmt in ("json", "yaml"):
        emit_data(dataclasses.asdict(status) | {"running": status.running}, fmt)
    elif fmt == "name":
        click.echo("\n".join(c.name for c in status.components if c.running))
    else:
        rows = [
            (
                c.name,
                "running" if c.running else "stopped",
                c.pid or "-",
                ",".join(map(str, c.ports)) or "-",
            )
            for c in status.components
        ]
        emit_table(["COMPONENT", "STATE", "PID", "PORTS"], rows)
        message(
            f"API {status.server or '-'} ready={status.api_ready} node-ready={status.node_ready}"
            f" kubeconfig={status.kubeconfig}"
        )
    if not status.running:
        raise ConditionNotMet("local cluster is not running", hint="tether cluster up")


@cluster_group.command("kubeconfig")
@state_dir_option
def cluster_kubeconfig(state_dir: Path | None, cluster_name: str | None) -> None:
    """Print the path of the local cluster's kubeconfig."""
    cluster = LocalCluster(_where(state_dir, cluster_name))
    if not cluster.kubeconfig.exists():
        raise InputError(f"no kubeconfig in {cluster.state_dir}", hint="tether cluster up")
    click.echo(str(cluster.kubeconfig))


@cluster_group.command("add")
@click.argument("name", callback=_cluster_name)
@click.option(
    "--kubeconfig",
    "target_kubeconfig",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The kubeconfig of the cluster to register.",
)
@click.option("--context", "target_context", default=None, help="Its context (default: current).")
@pass_cli
def cluster_add(
    cli: CliContext, name: str, target_kubeconfig: str, target_context: str | None
) -> None:
    """Register a cluster: a ServiceAccount `tether-manager` and its token made on it, kept
    in the cluster Secret `cluster-NAME` of the namespace (-n) tether runs in."""

    async def run() -> str:
        hub, target = cli.kube(), KubeClient.from_kubeconfig(target_kubeconfig, target_context)
        try:
            return await add_cluster(hub, cli.app_namespace, name, target)
        finally:
            hub.close()
            target.close()

    secret = asyncio.run(run())
    message(f"cluster {name} registered: Secret {cli.app_namespace}/{secret}")


@cluster_group.command("list")
@output_option
@pass_cli
def cluster_list(cli: CliContext, fmt: str | None) -> None:
    """Each registered cluster (tether's and Argo CD's cluster Secrets): reachable, its
    version, the apps that deploy to it and the objects they track there."""
    fmt = cli.fmt(fmt)

    async def run() -> list[ClusterRow]:
        hub = cli.kube()
        try:
            apps = await list_apps(hub, cli.app_namespace, invalid=[])
            return await cluster_rows(hub, cli.app_namespace, apps, ClusterPolicy())
        finally:
            hub.close()

    rows = asyncio.run(run())
    if fmt in ("json", "yaml"):
        emit_data([dataclasses.asdict(r) for r in rows], fmt)
        return
    emit_table(
        ["NAME", "SERVER", "REACHABLE", "VERSION", "APPS", "OBJECTS", "SECRET", "PROBLEM"],
        [
            (
                r.name or "-",
                r.server or "-",
                "yes" if r.reachable else "no",
                r.version or "-",
                r.apps,
                r.objects,
                r.secret,
                r.problem,
            )
            for r in rows
        ],
    )
