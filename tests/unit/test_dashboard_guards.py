"""The dashboard's guards that need no cluster: the read rate limit's buckets, sessions,
what a form may ask for (revert targets, rollback confirmation), and which RBAC verb each
action needs. The e2e tests drive the same code through real processes."""

from __future__ import annotations

import pytest

from tests.support.apps import application
from tether.engine.dashboard_access import ACTION_VERBS
from tether.engine.dashboard_actions import ACTIONS, PREVIEWS
from tether.engine.revert import RevertSelection
from tether.kube.reviews import ReviewedUser
from tether.server.dashboard_auth import Sessions
from tether.server.dashboard_forms import asked_in, confirmation_missing, request_as
from tether.server.ratelimit import MAX_CLIENTS, ReadLimit, _Buckets

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"
APP = application("web", "apps", "https://git.example/r.git", "web")


def test_a_client_gets_its_burst_then_waits_for_the_refill() -> None:
    buckets = _Buckets(ReadLimit(rate=10.0, burst=3))
    assert [buckets.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 0.0) == pytest.approx(0.1)  # one token in a tenth of a second
    assert buckets.take("b", 0.0) == 0.0  # another client has its own bucket
    assert buckets.take("a", 0.2) == 0.0  # refilled


def test_the_buckets_forget_the_oldest_clients_past_the_cap() -> None:
    buckets = _Buckets(ReadLimit(rate=1.0, burst=1))
    buckets.take("first", 0.0)
    for n in range(MAX_CLIENTS):
        buckets.take(f"c{n}", 0.0)
    assert buckets.take("first", 0.0) == 0.0  # forgotten: a fresh, full bucket
    assert buckets.take("c1", 0.0) > 0.0  # still known: empty


def test_the_read_limit_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        ReadLimit(rate=0)
    with pytest.raises(ValueError):
        ReadLimit(burst=0)


def test_a_session_names_its_user_until_it_expires_or_is_closed() -> None:
    alice = ReviewedUser("alice", groups=("ops",))
    sessions = Sessions()
    session = sessions.open(alice)
    assert sessions.user(session) == alice
    assert sessions.user("guessed") is None
    sessions.close(session)
    assert sessions.user(session) is None
    expired = Sessions(ttl=0.0)
    assert expired.user(expired.open(alice)) is None


def test_sessions_past_the_limit_drop_the_oldest() -> None:
    sessions = Sessions(limit=2)
    first = sessions.open(ReviewedUser("a"))
    second = sessions.open(ReviewedUser("b"))
    third = sessions.open(ReviewedUser("c"))
    assert sessions.user(first) is None
    assert sessions.user(second) is not None and sessions.user(third) is not None


@pytest.mark.parametrize(
    ("target", "selection"),
    [
        ("", RevertSelection(to_last_healthy=True)),
        (SHA[:8], RevertSelection(commit=SHA[:8])),
        (SHA.upper(), RevertSelection(commit=SHA)),
        (f"{SHA}..{OTHER}", RevertSelection(range=f"{SHA}..{OTHER}")),
    ],
)
def test_a_revert_target_is_a_commit_id_a_range_or_nothing(
    target: str, selection: RevertSelection
) -> None:
    form = {"action": "revert-preview", "target": target}
    asked = asked_in(form)
    assert asked.revert == selection
    assert confirmation_missing(APP, asked, form) is None


@pytest.mark.parametrize("target", ["--upload-pack=touch /tmp/x", "main", "HEAD~1", "abc", "a..b"])
def test_anything_else_as_a_revert_target_is_refused_not_guessed(target: str) -> None:
    form = {"action": "revert", "target": target}
    problem = confirmation_missing(APP, asked_in(form), form)
    assert problem is not None and "is not a commit id" in problem
    # Without a target the same form is a revert to the last Healthy revision.
    plain = {"action": "revert"}
    assert confirmation_missing(APP, asked_in(plain), plain) is None


def test_a_rollback_needs_the_name_typed_a_reason_and_an_entry() -> None:
    good = {"action": "rollback", "confirm": "web", "reason": "bad release", "entry": "3"}
    assert confirmation_missing(APP, asked_in(good), good) is None
    request = request_as(asked_in(good), "alice")
    assert (request.entry_id, request.user, request.reason) == (3, "alice", "bad release")
    for slip in ({"confirm": "wbe"}, {"reason": " "}, {"entry": "latest"}):
        form = good | slip
        assert confirmation_missing(APP, asked_in(form), form) is not None
    # Only a rollback reads the entry.
    sync = {"action": "sync", "entry": "3"}
    assert request_as(asked_in(sync), "alice").entry_id is None


def test_every_action_needs_a_verb_and_only_previews_and_compares_need_just_get() -> None:
    assert set(ACTION_VERBS) == set(ACTIONS)
    reads = {a for a, verb in ACTION_VERBS.items() if verb == "get"}
    assert reads == {"preview", "refresh", "hard-refresh", "revert-preview"}
    assert reads >= PREVIEWS
    assert {ACTION_VERBS[a] for a in ("sync", "suspend", "resume", "rollback", "revert")} == {
        "patch"
    }
