"""`tether controller`: the reconcile loop plus its HTTP endpoints and Lease election."""

from __future__ import annotations

import dataclasses
import logging
import os

import click

from tether.controller.liveness import LivenessLimits
from tether.controller.logscrub import install_log_scrubbing
from tether.controller.main import (
    DEFAULT_GRACE_PERIOD,
    DashboardServing,
    Shutdown,
    run_controller,
    run_until_stopped,
)
from tether.controller.reconciler import (
    DEFAULT_KUBE_BURST,
    DEFAULT_KUBE_QPS,
    DEFAULT_MAX_SYNCS,
    DEFAULT_WORKERS,
    ControllerOptions,
)
from tether.errors import InputError
from tether.git import DEFAULT_MAX_TREE_CACHE_BYTES
from tether.model.cluster import ClusterPolicy
from tether.render import RenderLimits
from tether.sandbox import EvaluationLimits
from tether.server.http import parse_address

from .context import CliContext, pass_cli
from .engines import open_engine

WEBHOOK_SECRET_ENV = "TETHER_WEBHOOK_SECRET"


@click.command("controller")
@click.option("--metrics-addr", default=":8082", show_default=True, help="Metrics and probes.")
@click.option("--webhook-addr", default=":8083", show_default=True, help="Git push webhooks.")
@click.option(
    "--ui-addr",
    default=None,
    help="Serve the dashboard (read-only) at /ui on this address, e.g. :8090. Off by default.",
)
@click.option(
    "--ui-auth",
    type=click.Choice(["none", "kubernetes"]),
    default="none",
    show_default=True,
    help="kubernetes: the /ui's actions for callers signed in with a Kubernetes token"
    " (TokenReview) whom RBAC allows them (SubjectAccessReview); none: read-only.",
)
@click.option(
    "--dashboard-url",
    default="",
    help="The dashboard's public address (e.g. https://tether.example.com): notifications"
    " link to each app's page there.",
)
@click.option("--shards", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--shard", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--lease-duration",
    type=click.FloatRange(min=1.0),
    default=15.0,
    show_default=True,
    help="Seconds a Lease stays valid without renewal (takeover time of a dead replica).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Applications compared at once.",
)
@click.option(
    "--max-syncs",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_SYNCS,
    show_default=True,
    help="Syncs running at once (Argo CD's operation processors).",
)
@click.option(
    "--kube-qps",
    type=click.FloatRange(min=0),
    default=DEFAULT_KUBE_QPS,
    show_default=True,
    help="Kubernetes API requests per second, on average, per cluster (0: no limit).",
)
@click.option(
    "--kube-burst",
    type=click.IntRange(min=1),
    default=DEFAULT_KUBE_BURST,
    show_default=True,
    help="Kubernetes API requests at once above --kube-qps.",
)
@click.option(
    "--grace-period",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_GRACE_PERIOD,
    show_default=True,
    help="Seconds from SIGTERM to exit: cancel, release Leases, then exit hard.",
)
@click.option(
    "--reconcile-stuck-after",
    type=click.FloatRange(min=0.1),
    default=LivenessLimits.reconcile_stuck_after,
    show_default=True,
    help="Seconds one reconcile may run; /healthz fails when every worker is past it.",
)
@click.option("--all-namespaces", is_flag=True, help="Reconcile Applications in every namespace.")
@click.option(
    "--project-namespace",
    default=None,
    help="Namespace whose Projects count (default $TETHER_PROJECT_NAMESPACE or tether-system).",
)
@click.option(
    "--default-service-account",
    default=None,
    help="ServiceAccount (in each app's namespace) impersonated by apps that set no"
    " spec.serviceAccountName.",
)
@click.option(
    "--allow-remote-bases",
    is_flag=True,
    help="Let kustomize fetch remote resources and bases (off: Flux's --no-remote-bases).",
)
@click.option(
    "--max-manifest-bytes",
    type=click.IntRange(min=1),
    default=RenderLimits.max_manifest_bytes,
    show_default=True,
    help="Bytes of YAML/JSON one render may read.",
)
@click.option(
    "--max-objects",
    type=click.IntRange(min=1),
    default=RenderLimits.max_objects,
    show_default=True,
    help="Objects one render may yield.",
)
@click.option(
    "--jq-timeout",
    type=click.FloatRange(min=0.1),
    default=EvaluationLimits.timeout,
    show_default=True,
    help="Seconds a jq ignore or health rule evaluation may run before it is stopped.",
)
@click.option(
    "--tree-cache-bytes",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_TREE_CACHE_BYTES,
    show_default=True,
    help="Size cap of the extracted git trees (least recently used evicted).",
)
@click.option(
    "--allow-cluster-exec",
    is_flag=True,
    help="Let cluster registrations and kubeConfig Secrets run exec credential plugins"
    " (off: refused, as a repository's writer could run a program here).",
)
@click.option(
    "--allow-insecure-clusters",
    is_flag=True,
    help="Let cluster registrations turn off TLS verification (insecure-skip-tls-verify).",
)
@click.option(
    "--shadow",
    is_flag=True,
    help="Every app detect-only: compare and explain drift, never write to an app's objects"
    " (to run next to Argo CD or Flux).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every reconcile decision.")
@pass_cli
def controller_command(
    cli: CliContext,
    metrics_addr: str,
    webhook_addr: str,
    ui_addr: str | None,
    ui_auth: str,
    dashboard_url: str,
    shards: int,
    shard: int,
    lease_duration: float,
    workers: int,
    max_syncs: int,
    kube_qps: float,
    kube_burst: int,
    grace_period: float,
    reconcile_stuck_after: float,
    all_namespaces: bool,
    project_namespace: str | None,
    default_service_account: str | None,
    allow_remote_bases: bool,
    max_manifest_bytes: int,
    max_objects: int,
    jq_timeout: float,
    tree_cache_bytes: int,
    allow_cluster_exec: bool,
    allow_insecure_clusters: bool,
    shadow: bool,
    verbose: bool,
) -> None:
    """Run the controller: watch, compare, auto-sync and self-heal Applications.

    Addresses given as `:PORT` bind 127.0.0.1; pass `0.0.0.0:PORT` to listen on every
    interface (in a Pod). The webhook secret comes from $TETHER_WEBHOOK_SECRET.
    """
    if shard >= shards:
        raise InputError(f"--shard {shard} must be below --shards {shards}")
    settings = cli.settings
    if project_namespace:
        settings.project_namespace = project_namespace
    settings.default_service_account = default_service_account or None
    settings.allow_remote_bases = allow_remote_bases
    settings.render_limits = dataclasses.replace(
        settings.render_limits, max_manifest_bytes=max_manifest_bytes, max_objects=max_objects
    )
    settings.evaluation = dataclasses.replace(settings.evaluation, timeout=jq_timeout)
    settings.tree_cache_bytes = tree_cache_bytes
    settings.shadow = shadow
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_scrubbing()  # no repoURL credentials in the log, whoever logs them
    for noisy in ("kubernetes", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # urllib3 warns of every retried connection; tether's own line names the failure.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    options = ControllerOptions(
        app_namespace=None if all_namespaces else cli.app_namespace,
        shards=shards,
        shard=shard,
        workers=workers,
        max_syncs=max_syncs,
        kube_qps=kube_qps,
        kube_burst=kube_burst,
        cluster_policy=ClusterPolicy(
            allow_exec=allow_cluster_exec, allow_insecure=allow_insecure_clusters
        ),
    )
    metrics_at = parse_address(metrics_addr, 8082)
    webhook_at = parse_address(webhook_addr, 8083)
    if ui_auth != "none" and not ui_addr:
        raise InputError("--ui-auth needs --ui-addr (the dashboard is off without it)")
    ui = (
        DashboardServing(parse_address(ui_addr, 8090), ui_auth == "kubernetes") if ui_addr else None
    )
    shutdown = Shutdown(grace_period)
    limits = LivenessLimits(reconcile_stuck_after=reconcile_stuck_after)
    run_until_stopped(
        _run(
            cli,
            options,
            metrics_at,
            webhook_at,
            ui,
            dashboard_url,
            lease_duration,
            shutdown,
            limits,
        ),
        shutdown,
    )


async def _run(
    cli: CliContext,
    options: ControllerOptions,
    metrics_at: tuple[str, int],
    webhook_at: tuple[str, int],
    ui: DashboardServing | None,
    dashboard_url: str,
    lease_duration: float,
    shutdown: Shutdown,
    limits: LivenessLimits,
) -> None:
    async with open_engine(cli) as engine:
        engine.kube.limit_rate(options.kube_qps, options.kube_burst)
        await run_controller(
            engine,
            options,
            lease_namespace=options.app_namespace or cli.app_namespace,
            metrics_at=metrics_at,
            webhook_at=webhook_at,
            ui=ui,
            dashboard_url=dashboard_url,
            lease_duration=lease_duration,
            webhook_secret=lambda: os.environ.get(WEBHOOK_SECRET_ENV, ""),
            shutdown=shutdown,
            liveness_limits=limits,
        )
