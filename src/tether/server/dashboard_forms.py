"""What the dashboard's action forms ask for, as engine requests: the action with its
reason and options, a revert's commits (only hex ids ever reach git), and the
confirmation a break-glass rollback needs."""

from __future__ import annotations

import dataclasses
import re

from tether.engine.dashboard_actions import ActionRequest
from tether.engine.revert import RevertSelection
from tether.model.application import Application

COMMIT = re.compile(r"[0-9a-f]{7,40}")


def asked_in(form: dict[str, str]) -> ActionRequest:
    """The form as a request, before who asks is known (the page shows it back)."""
    action, entry = form.get("action", ""), form.get("entry", "")
    return ActionRequest(
        action=action,
        user="",
        reason=form.get("reason", "").strip()[:200],
        prune=form.get("prune") == "on",
        entry_id=int(entry) if action == "rollback" and entry.isdigit() else None,
        revert=_revert_selection(form),
    )


def _revert_selection(form: dict[str, str]) -> RevertSelection:
    """What a revert reverts: `--to-last-healthy` unless a commit or an A..B range of
    commit ids is given (only hex ids: nothing a form holds reaches git as an option)."""
    target = form.get("target", "").strip().lower()
    start, sep, end = target.partition("..")
    if sep and COMMIT.fullmatch(start) and COMMIT.fullmatch(end):
        return RevertSelection(range=target)
    if COMMIT.fullmatch(target):
        return RevertSelection(commit=target)
    return RevertSelection(to_last_healthy=True)


def confirmation_missing(
    app: Application, asked: ActionRequest, form: dict[str, str]
) -> str | None:
    """Why a break-glass rollback is not done: it asks for the app's name typed out and a
    reason, so nothing happens on a slip of the mouse. A revert target that is not a
    commit id is refused rather than read as `--to-last-healthy`."""
    confirmed = form.get("confirm", "") == app.name and asked.reason and asked.entry_id is not None
    if asked.action == "rollback" and not confirmed:
        return "rollback not done: type the app's name and give a reason"
    target = form.get("target", "").strip()
    chosen = asked.revert.commit or asked.revert.range
    if asked.action in ("revert", "revert-preview") and target and not chosen:
        return f"revert not done: {target[:80]!r} is not a commit id or an A..B range of them"
    return None


def request_as(asked: ActionRequest, user: str) -> ActionRequest:
    """The request as it is run: by `user`."""
    return dataclasses.replace(asked, user=user)


__all__ = ["asked_in", "confirmation_missing", "request_as"]
