"""`tether controller`: the reconcile loop plus its HTTP endpoints and Lease election."""

from __future__ import annotations

import asyncio
import logging
import os

import click

from tether.controller.main import run_controller
from tether.controller.reconciler import ControllerOptions
from tether.errors import InputError
from tether.server.http import parse_address

from .context import CliContext, open_engine, pass_cli

WEBHOOK_SECRET_ENV = "TETHER_WEBHOOK_SECRET"


@click.command("controller")
@click.option("--metrics-addr", default=":8082", show_default=True, help="Metrics and probes.")
@click.option("--webhook-addr", default=":8083", show_default=True, help="Git push webhooks.")
@click.option("--shards", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--shard", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--lease-duration",
    type=click.FloatRange(min=1.0),
    default=15.0,
    show_default=True,
    help="Seconds a Lease stays valid without renewal (takeover time of a dead replica).",
)
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--all-namespaces", is_flag=True, help="Reconcile Applications in every namespace.")
@click.option("-v", "--verbose", is_flag=True, help="Log every reconcile decision.")
@pass_cli
def controller_command(
    cli: CliContext,
    metrics_addr: str,
    webhook_addr: str,
    shards: int,
    shard: int,
    lease_duration: float,
    workers: int,
    all_namespaces: bool,
    verbose: bool,
) -> None:
    """Run the controller: watch, compare, auto-sync and self-heal Applications.

    Addresses given as `:PORT` bind 127.0.0.1; pass `0.0.0.0:PORT` to listen on every
    interface (in a Pod). The webhook secret comes from $TETHER_WEBHOOK_SECRET.
    """
    if shard >= shards:
        raise InputError(f"--shard {shard} must be below --shards {shards}")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("kubernetes", "urllib3", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    options = ControllerOptions(
        app_namespace=None if all_namespaces else cli.app_namespace,
        shards=shards,
        shard=shard,
        workers=workers,
    )
    metrics_at = parse_address(metrics_addr, 8082)
    webhook_at = parse_address(webhook_addr, 8083)
    asyncio.run(_run(cli, options, metrics_at, webhook_at, lease_duration))


async def _run(
    cli: CliContext,
    options: ControllerOptions,
    metrics_at: tuple[str, int],
    webhook_at: tuple[str, int],
    lease_duration: float,
) -> None:
    async with open_engine(cli) as engine:
        await run_controller(
            engine,
            options,
            lease_namespace=options.app_namespace or cli.app_namespace,
            metrics_at=metrics_at,
            webhook_at=webhook_at,
            lease_duration=lease_duration,
            webhook_secret=lambda: os.environ.get(WEBHOOK_SECRET_ENV, ""),
        )
