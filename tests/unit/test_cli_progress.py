"""The sync progress display: plain lines when piped, a live spinner on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from tether.cli.progress import SyncProgress

LINES = [
    "preflight: 3 objects accepted by a server-side dry-run",
    "Sync wave 0: applied 2: ConfigMap ns/a, Deployment.apps ns/web " + "x" * 100,
    "Sync wave 0: healthy",
]


def test_piped_output_is_one_plain_line_per_step() -> None:
    out = io.StringIO()
    with SyncProgress(Console(file=out, force_terminal=False, width=40)) as progress:
        for line in LINES:
            progress(line)
    assert out.getvalue().splitlines() == LINES  # no wrapping, no escape codes


def test_a_terminal_gets_a_live_status_that_is_cleared_at_the_end() -> None:
    out = io.StringIO()
    with SyncProgress(Console(file=out, force_terminal=True, width=120)) as progress:
        for line in LINES:
            progress(line)
    text = out.getvalue()
    assert "Sync wave 0: healthy" in text and "\x1b[" in text
