"""`tether dashboard`: the web UI on this machine, with the caller's kubeconfig (it acts
with the user's own permissions), watch-driven like the controller."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import webbrowser

import click

from tether.controller.main import Shutdown, run_until_stopped
from tether.engine.dashboard_actions import run_action
from tether.engine.watched_apps import WatchedApplications
from tether.server.dashboard import dashboard_app
from tether.server.http import bind_listener, parse_address, serve

from .context import CliContext, initiator, pass_cli
from .engines import open_engine
from .output import message

DEFAULT_ADDR = "127.0.0.1:8090"


@click.command("dashboard")
@click.option(
    "--addr",
    default=DEFAULT_ADDR,
    show_default=True,
    help="Listen address (loopback unless told otherwise, e.g. 0.0.0.0:8090).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the fleet page in a browser.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Applications of every namespace.")
@pass_cli
def dashboard_command(cli: CliContext, addr: str, open_browser: bool, all_namespaces: bool) -> None:
    """Serve the dashboard: fleet page, app pages, diffs, live updates, actions (as you)."""
    address = parse_address(addr, 8090)
    listener = bind_listener(address, "dashboard")  # a taken port fails here, at once
    shutdown = Shutdown(grace_period=5.0)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        shutdown.install(lambda: loop.call_soon_threadsafe(stop.set))
        async with open_engine(cli) as engine:
            apps = WatchedApplications(engine, None if all_namespaces else cli.app_namespace)
            await apps.start()
            url = f"http://{address[0]}:{listener.getsockname()[1]}/ui/"
            message(f"dashboard at {url} (Ctrl-C stops it)")
            if open_browser:
                webbrowser.open(url)
            user = initiator().removeprefix("cli:")

            # The buttons run the engine's actions as this user (their kubeconfig).
            act = functools.partial(run_action, engine)
            hosts = _allowed_hosts(address[0])
            ui = dashboard_app(apps, actions=act, local_user=user, allowed_hosts=hosts)
            server = asyncio.create_task(serve(ui, address, "dashboard", listener=listener))
            waiting = asyncio.create_task(stop.wait())
            await asyncio.wait({server, waiting}, return_when=asyncio.FIRST_COMPLETED)
            for task in (server, waiting):
                task.cancel()
            for task in (server, waiting):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    run_until_stopped(main(), shutdown)


def _allowed_hosts(host: str) -> frozenset[str] | None:
    """The host names a browser sends for this address; None (any) when listening on
    every interface, where the names people use are not known."""
    if host in ("0.0.0.0", "::", ""):
        return None
    loopback = host in ("127.0.0.1", "localhost", "::1")
    return frozenset({host, "localhost", "127.0.0.1", "::1"} if loopback else {host})
