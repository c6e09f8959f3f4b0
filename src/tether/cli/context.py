"""What every command gets from the global flags: how to reach the cluster, where apps live."""

from __future__ import annotations

from dataclasses import dataclass

import click

from tether.kube import KubeClient

from .output import FORMATS


@dataclass
class CliContext:
    kubeconfig: str | None
    kube_context: str | None
    app_namespace: str
    output: str | None

    def kube(self) -> KubeClient:
        return KubeClient.from_kubeconfig(self.kubeconfig, self.kube_context)

    def fmt(self, local: str | None, default: str = "table") -> str:
        """The -o given to the command, else the global -o, else the default."""
        return local or self.output or default


pass_cli = click.make_pass_decorator(CliContext)

output_option = click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format: table|wide|json|yaml|name.",
)
