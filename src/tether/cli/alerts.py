"""`tether alerts [--grafana]`."""

from __future__ import annotations

import click

from tether.core.alerts import grafana_dashboard, prometheus_rule

from .context import CliContext, output_option, pass_cli
from .output import emit_data


@click.command("alerts")
@click.option("--grafana", is_flag=True, help="Print a Grafana dashboard (JSON) instead.")
@output_option
@pass_cli
def alerts_command(cli: CliContext, grafana: bool, fmt: str | None) -> None:
    """Print a PrometheusRule for tether's metrics (or --grafana, a dashboard)."""
    if grafana:
        emit_data(grafana_dashboard(), "json")
    else:
        emit_data(prometheus_rule(cli.app_namespace), cli.fmt(fmt, "yaml"))
