"""A live progress display for syncs (rich): each step as a line, and on a terminal a
spinner naming what the sync is waiting for (a wave's health, a hook, a CRD)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.status import Status

from .output import terminal_safe


class SyncProgress:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self._status: Status | None = None

    def __enter__(self) -> SyncProgress:
        if self.console.is_terminal:
            self._status = self.console.status("syncing: comparing with Git")
            self._status.start()
        return self

    def __call__(self, text: str) -> None:
        style = None
        if text.endswith(": healthy") or text.startswith("preflight:"):
            style = "green"
        elif "failed" in text or "Degraded" in text:
            style = "red"
        self.console.print(
            terminal_safe(text), style=style, soft_wrap=True, markup=False, highlight=False
        )
        if self._status is not None:
            waiting = "waiting for health" if ": applied" in text else "working"
            self._status.update(f"syncing: {waiting} ({text.split(':', 1)[0]})")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
