"""The pure parts of a hostile-proof webhook: replay memory, nesting limit, signatures on
any header bytes, and the server limits' own validation."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tether.core.deliveries import SeenDeliveries, delivery_keys
from tether.core.webhook import (
    MAX_JSON_DEPTH,
    WebhookRejected,
    nested_deeper_than,
    parse_json_object,
    parse_push,
    verify,
)
from tether.server.limits import ServerLimits

SECRET = "topsecret"
BODY = json.dumps(
    {"ref": "refs/heads/main", "repository": {"clone_url": "https://h/org/app.git"}}
).encode()


def nested(depth: int) -> bytes:
    """A JSON object `depth` containers deep: {"a": [{"a": [ ... ]}]}."""
    text = "1"
    for level in range(depth, 0, -1):
        text = f'{{"a": {text}}}' if level % 2 else f"[{text}]"
    return text.encode()


def test_delivery_keys_are_the_body_digest_and_the_provider_id() -> None:
    digest = "body:sha256:" + hashlib.sha256(BODY).hexdigest()
    assert delivery_keys("github", {"X-GitHub-Delivery": "d-1"}, BODY) == (
        digest,
        "github:id:d-1",
    )
    assert delivery_keys("gitea", {"x-gitea-delivery": "d-1"}, BODY)[1] == "gitea:id:d-1"
    gitlab = delivery_keys("gitlab", {"X-Gitlab-Event-UUID": " u-9 "}, BODY)
    assert gitlab[1] == "gitlab:id:u-9"
    # No id sent (or the other provider's header): the body digest alone.
    assert delivery_keys("github", {}, BODY) == (digest,)
    assert delivery_keys("gitlab", {"X-GitHub-Delivery": "d-1"}, BODY) == (digest,)
    # The body key names no provider: a GitHub body re-signed as Gitea is the same body.
    assert delivery_keys("gitea", {}, BODY) == delivery_keys("github", {}, BODY)
    assert len(delivery_keys("github", {"X-GitHub-Delivery": "x" * 5000}, BODY)[1]) < 300


def test_a_delivery_is_new_once_within_the_window() -> None:
    seen = SeenDeliveries(window=3600, capacity=100)
    first = delivery_keys("github", {"X-GitHub-Delivery": "d-1"}, BODY)
    assert seen.first_sight(first, now=1000.0)
    assert not seen.first_sight(first, now=1001.0)  # the provider's redelivery
    # A replay under a fresh id still carries the signed body.
    assert not seen.first_sight(delivery_keys("github", {"X-GitHub-Delivery": "d-2"}, BODY), 1002)
    # Another body under a reused id is a copy of that delivery too.
    other = BODY.replace(b"main", b"dev")
    assert not seen.first_sight(delivery_keys("github", {"X-GitHub-Delivery": "d-1"}, other), 1003)
    assert seen.first_sight(delivery_keys("github", {}, other), 1004)
    # The window counts from the first sight; duplicates do not extend it.
    assert not seen.first_sight(first, now=1000.0 + 3599)
    assert seen.first_sight(first, now=1000.0 + 3600)
    assert not seen.first_sight(first, now=1000.0 + 3601)


def test_replay_memory_is_bounded_and_forgets_on_request() -> None:
    seen = SeenDeliveries(window=3600, capacity=10)
    keys = [(f"k{i}",) for i in range(25)]
    for i, key in enumerate(keys):
        assert seen.first_sight(key, now=float(i))
    assert len(seen) == 10
    assert seen.first_sight(keys[0], now=30.0)  # evicted: the oldest go first
    assert not seen.first_sight(keys[24], now=30.0)
    seen.forget(keys[24])
    assert seen.first_sight(keys[24], now=31.0)  # a delivery not acted on may come again
    # Expiry empties the memory without any new key.
    seen.first_sight(("late",), now=10_000.0)
    assert len(seen) == 1
    with pytest.raises(ValueError):
        SeenDeliveries(window=0)


def test_nesting_deeper_than_the_limit_is_a_400() -> None:
    assert parse_json_object("github", nested(MAX_JSON_DEPTH)) is not None
    assert not nested_deeper_than(json.loads(nested(MAX_JSON_DEPTH)), MAX_JSON_DEPTH)
    assert nested_deeper_than(json.loads(nested(MAX_JSON_DEPTH + 1)), MAX_JSON_DEPTH)
    assert not nested_deeper_than("scalar", 0)
    # 2,000 levels: the stdlib parser raised RecursionError here (a 500); orjson stops at
    # 1,024 levels, which is named as the nesting limit too.
    for depth in (MAX_JSON_DEPTH + 1, 1000, 2000, 100_000):
        with pytest.raises(WebhookRejected, match="deeper than 64 levels") as caught:
            parse_push("github", nested(depth))
        assert caught.value.status == 400


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (b"", "not JSON"),
        (b"not json", "not JSON"),
        (b'{"a": 1', "not JSON"),
        (b'{"a": "\xff\xfe"}', "not JSON"),  # not UTF-8
        (b'{"a": NaN}', "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"repository": [1], "project": "x"}', "names no repository URL"),
        (b'{"repository": {"clone_url": 5}}', "names no repository URL"),
    ],
)
def test_malformed_bodies_are_one_line_400s(body: bytes, cause: str) -> None:
    with pytest.raises(WebhookRejected, match=cause) as caught:
        parse_push("gitea", body)
    assert caught.value.status == 400
    assert "\n" not in caught.value.message


def test_signature_headers_with_any_bytes_are_401_not_a_crash() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    # Headers arrive decoded as latin-1: any byte is possible. compare_digest raised
    # TypeError on non-ASCII str, which escaped as a 500.
    for headers in (
        {"X-Hub-Signature-256": "sha256=\xe9" + digest[1:]},
        {"X-Gitea-Signature": "\xff" * 64},
        {"X-Gitlab-Token": "s\xe9cret"},
    ):
        with pytest.raises(WebhookRejected) as caught:
            verify(headers, BODY, SECRET)
        assert caught.value.status == 401
    assert verify({"X-Hub-Signature-256": f"SHA256={digest.upper()}"}, BODY, SECRET) == "github"
    assert verify({"X-Gitlab-Token": "s\xe9cret"}, BODY, "s\xe9cret") == "gitlab"


def test_server_limits_refuse_nonsense() -> None:
    assert ServerLimits().body_timeout == 10.0
    for bad in ({"body_timeout": 0}, {"max_connections": 0}, {"header_timeout": -1}):
        with pytest.raises(ValueError):
            ServerLimits(**bad)  # type: ignore[arg-type]
