"""`tether notify test ALERT`: a sample message through the Alert's Provider, to check
the address, the token and the receiver before an incident does."""

from __future__ import annotations

import asyncio

import click

from tether.core.metrics import ControllerCounters
from tether.engine.notifier import Notifier
from tether.errors import ConditionNotMet, UnreachableError

from .context import CliContext, pass_cli
from .engines import open_engine
from .output import message


@click.group("notify")
def notify_group() -> None:
    """Notifications (Alerts and Providers, docs/notifications.md)."""


@notify_group.command("test")
@click.argument("alert")
@pass_cli
def notify_test_command(cli: CliContext, alert: str) -> None:
    """Send a sample message through ALERT's Provider (Alerts live in the namespace -n)."""

    async def run() -> None:
        async with open_engine(cli) as engine:
            notifier = Notifier(engine.kube, cli.app_namespace, ControllerCounters())
            try:
                delivery = await notifier.send_test(alert)
            finally:
                notifier.close()
        if delivery.ok:
            message(f"Alert {alert}: test message delivered ({delivery.attempts} attempt(s))")
            return
        text = f"Alert {alert}: test message not delivered: {delivery.detail}"
        if delivery.detail.startswith(("timed out", "not reachable")):
            raise UnreachableError(text, hint="check the Provider's address (in its Secret)")
        raise ConditionNotMet(text, hint="kubectl describe alert " + alert)

    asyncio.run(run())
