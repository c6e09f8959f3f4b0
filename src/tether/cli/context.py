"""What every command gets from the global flags: how to reach the cluster, where apps live."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from tether.kube import KubeClient

from .output import FORMATS

if TYPE_CHECKING:
    from .engines import EngineSettings


@dataclass
class CliContext:
    kubeconfig: str | None
    kube_context: str | None
    app_namespace: str
    output: str | None
    _settings: EngineSettings | None = field(default=None, repr=False)

    @property
    def settings(self) -> EngineSettings:
        """Made when first asked for: the engine's modules load with it (cli/engines.py)."""
        if self._settings is None:
            from .engines import EngineSettings

            self._settings = EngineSettings()
        return self._settings

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


def initiator() -> str:
    """Who runs this command, for operationState.initiatedBy and history."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"
