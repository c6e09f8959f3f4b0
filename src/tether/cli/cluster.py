"""`tether cluster up|down|status|kubeconfig`: the local control plane."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import click

from tether.errors import ConditionNotMet, InputError
from tether.localcluster import LocalCluster

from .context import CliContext, output_option, pass_cli
from .output import emit_data, emit_table, message


def default_state_dir() -> Path:
    env = os.environ.get("TETHER_CLUSTER_DIR")
    if env:
        return Path(env)
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "tether" / "cluster"


state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_state_dir,
    show_default="$TETHER_CLUSTER_DIR or $XDG_STATE_HOME/tether/cluster",
    help="Where the cluster keeps its data, certificates, logs and kubeconfig.",
)


@click.group("cluster")
def cluster_group() -> None:
    """A real local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)."""


@cluster_group.command("up")
@state_dir_option
@click.option("--timeout", type=float, default=180.0, show_default=True, help="Seconds to wait.")
def cluster_up(state_dir: Path, timeout: float) -> None:
    """Start the local control plane (idempotent) and print the kubeconfig path."""
    cluster = LocalCluster(state_dir)
    message(f"starting local control plane in {cluster.state_dir} ...")
    status = asyncio.run(cluster.up(timeout=timeout))
    message(f"ready: API {status.server}, node Ready; export KUBECONFIG={status.kubeconfig}")
    click.echo(status.kubeconfig)


@cluster_group.command("down")
@state_dir_option
def cluster_down(state_dir: Path) -> None:
    """Stop the processes that `cluster up` started (data is kept)."""
    stopped = asyncio.run(LocalCluster(state_dir).down())
    message(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@cluster_group.command("status")
@state_dir_option
@output_option
@pass_cli
def cluster_status(cli: CliContext, state_dir: Path, fmt: str | None) -> None:
    """Show each component; exit 1 when the cluster is not running."""
    fmt = cli.fmt(fmt)
    status = asyncio.run(LocalCluster(state_dir).status())
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
def cluster_kubeconfig(state_dir: Path) -> None:
    """Print the path of the local cluster's kubeconfig."""
    cluster = LocalCluster(state_dir)
    if not cluster.kubeconfig.exists():
        raise InputError(f"no kubeconfig in {cluster.state_dir}", hint="tether cluster up")
    click.echo(str(cluster.kubeconfig))
