"""Credentials never reach the controller log: every record passes `scrub_userinfo`.

Messages are built from arguments by many hands (git errors quoting a remote, a
traceback naming a URL, a library's own warning), so the scrub happens once, on every
log record, rather than at each call site. It is installed as a record factory, which
covers records of every logger, including those with handlers of their own (uvicorn's)
that a filter on the root handlers would miss.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from tether.model.urls import scrub_userinfo


class ScrubUserinfo(logging.Filter):
    """Masks the userinfo of every URL in a record's message, exception and stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: logging reports it when emitting
            return True
        clean = scrub_userinfo(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = scrub_userinfo(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_userinfo(record.stack_info)
        return True


class _ScrubbingFactory:
    def __init__(self, make_record: Any) -> None:
        self.make_record = make_record
        self.scrubber = ScrubUserinfo()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.make_record(*args, **kwargs)
        self.scrubber.filter(record)
        return record


def install_log_scrubbing() -> None:
    """Scrub every log record created from now on, in this process (idempotent)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _ScrubbingFactory):
        logging.setLogRecordFactory(_ScrubbingFactory(current))
