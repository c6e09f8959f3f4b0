"""Liveness verdicts of the controller and the log scrubbing of credentials (pure parts
of tether.controller.liveness and tether.controller.logscrub)."""

from __future__ import annotations

import io
import logging

from tether.controller.liveness import LivenessLimits, liveness_problem
from tether.controller.logscrub import ScrubUserinfo, install_log_scrubbing

LIMITS = LivenessLimits(reconcile_stuck_after=300.0, loop_lag_limit=30.0)


def problem(
    now: float, started: list[float | None], last_beat: float = -1, lag: float = 0
) -> str | None:
    return liveness_problem(
        now,
        reconcile_started=started,
        last_beat=now - 1 if last_beat < 0 else last_beat,
        worst_recent_lag=lag,
        limits=LIMITS,
    )


def test_alive_while_any_worker_is_idle_or_recent() -> None:
    assert problem(1000.0, []) is None
    assert problem(1000.0, [None, None]) is None
    assert problem(1000.0, [100.0, None]) is None  # one stuck, one free
    assert problem(1000.0, [100.0, 900.0]) is None  # one stuck, one busy for 100 s


def test_not_alive_when_every_worker_is_stuck() -> None:
    found = problem(1000.0, [100.0, 650.0])
    assert found is not None
    assert "every reconcile worker (2) stuck" in found and "900s" in found


def test_not_alive_when_the_loop_lags() -> None:
    assert problem(1000.0, [None], last_beat=1000.0 - 40) is not None  # no beat for 40 s
    lagging = problem(1000.0, [None], lag=45.0)  # a stall in the recent past
    assert lagging is not None and "event loop lagging 45.0s" in lagging
    assert problem(1000.0, [None], lag=5.0) is None


def test_log_records_lose_url_credentials() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.scrub")
    logger.addHandler(handler)
    logger.propagate = False
    logger.addFilter(ScrubUserinfo())
    try:
        logger.warning("fetch %s: %s", "https://bob:hunter2@git.example/r.git", "timeout")
        try:
            raise RuntimeError("git clone https://tok3n@git.example/r.git failed")
        except RuntimeError:
            logger.exception("fetch failed")
        logger.warning("ssh://git@git.example/r.git keeps its account name")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "hunter2" not in text and "tok3n" not in text, text
    assert "fetch https://***@git.example/r.git: timeout" in text
    assert "git clone https://***@git.example/r.git failed" in text  # inside the traceback
    assert "ssh://git@git.example/r.git" in text


def test_installed_scrubbing_covers_every_logger() -> None:
    previous = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.scrub.factory")  # no filter of its own
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_scrubbing()
        install_log_scrubbing()  # idempotent: one wrapper, not two
        logger.warning("repo %s", "https://u:p4ss@h/r")
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(previous)
    assert stream.getvalue().strip() == "repo https://***@h/r"
