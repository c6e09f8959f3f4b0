"""Git push webhooks (GitHub, GitLab, Gitea): verify the sender, read which repository and
branch moved. Pure: headers and body come in, a verdict goes out.

GitHub and Gitea sign the body with HMAC-SHA256 of a shared secret
(`X-Hub-Signature-256: sha256=<hex>`, `X-Gitea-Signature: <hex>`); GitLab sends the
secret itself as `X-Gitlab-Token`. Comparisons are constant-time, on bytes (a header may
carry any latin-1 text; `hmac.compare_digest` refuses non-ASCII `str`).

A body is parsed only once its sender is verified, and even then it is client input: any
malformed, non-object or too deeply nested body is a 400, never an exception escaping.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

_SCHEME_URL = re.compile(
    r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?(?P<host>\[[^\]]*\]|[^:/]*)(?::\d+)?(?P<path>/.*)?$", re.I
)
MAX_BODY_BYTES = 1024 * 1024  # push payloads are a few KB; anything bigger is refused
# Push payloads nest 4-5 levels. orjson itself stops at 1024 levels (a JSONDecodeError);
# the stdlib parser raised RecursionError near 1000, which escaped as a 500.
MAX_JSON_DEPTH = 64


class WebhookRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class PushEvent:
    provider: str
    repo_urls: tuple[str, ...]  # every URL form the payload names (https, ssh, html)
    ref: str | None  # refs/heads/<branch>


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def provider_of(headers: Mapping[str, str]) -> str | None:
    h = _lower(headers)
    if "x-gitea-event" in h or "x-gitea-signature" in h:
        return "gitea"
    if "x-github-event" in h or "x-hub-signature-256" in h:
        return "github"
    if "x-gitlab-event" in h or "x-gitlab-token" in h:
        return "gitlab"
    return None


def _hmac_hex(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()


def _matches(sent: str, expected: bytes) -> bool:
    return bool(sent) and hmac.compare_digest(sent.lower().encode(), expected)


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> str:
    """The provider name if the request is authentic; `WebhookRejected` (401) if not."""
    if not secret:
        raise WebhookRejected(401, "webhook secret not configured: refusing unsigned pushes")
    h = _lower(headers)
    provider = provider_of(headers)
    if provider == "gitlab":
        token = h.get("x-gitlab-token", "")
        if not token or not hmac.compare_digest(token.encode(), secret.encode()):
            raise WebhookRejected(401, "gitlab webhook: X-Gitlab-Token does not match")
        return provider
    if provider == "gitea":
        sent = h.get("x-gitea-signature", "")
        if not _matches(sent, _hmac_hex(secret, body)):
            raise WebhookRejected(401, "gitea webhook: X-Gitea-Signature does not match")
        return provider
    if provider == "github":
        sent = h.get("x-hub-signature-256", "")
        if not _matches(sent, b"sha256=" + _hmac_hex(secret, body)):
            raise WebhookRejected(401, "github webhook: X-Hub-Signature-256 does not match")
        return provider
    raise WebhookRejected(401, "unknown webhook sender: expected GitHub, GitLab or Gitea headers")


def nested_deeper_than(value: object, limit: int) -> bool:
    """Whether `value` (parsed JSON) nests more than `limit` containers deep. Iterative:
    the check must not itself recurse on the input."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[dict[str, object] | list[object], int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def parse_json_object(provider: str, body: bytes) -> dict[str, object]:
    """The body as a JSON object, or `WebhookRejected` (400) naming why it is not one."""
    too_deep = f"{provider} webhook: body nests deeper than {MAX_JSON_DEPTH} levels"
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):  # orjson's own limit (1024 levels)
            raise WebhookRejected(400, too_deep) from None
        raise WebhookRejected(400, f"{provider} webhook: body is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, f"{provider} webhook: body is not a JSON object")
    if nested_deeper_than(payload, MAX_JSON_DEPTH):
        raise WebhookRejected(400, too_deep)
    return payload


def parse_push(provider: str, body: bytes) -> PushEvent:
    payload = parse_json_object(provider, body)
    urls: list[str] = []
    repo = payload.get("repository") or {}
    project = payload.get("project") or {}
    for source, keys in (
        (repo, ("clone_url", "ssh_url", "html_url", "git_http_url", "git_ssh_url", "url")),
        (project, ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url")),
    ):
        if isinstance(source, dict):
            urls.extend(str(source[k]) for k in keys if isinstance(source.get(k), str))
    if not urls:
        raise WebhookRejected(400, f"{provider} webhook: payload names no repository URL")
    ref = payload.get("ref")
    return PushEvent(provider, tuple(dict.fromkeys(urls)), ref if isinstance(ref, str) else None)


def repo_identity(url: str) -> str:
    """A form of a git URL under which https, ssh and scp-like spellings of one repository
    compare equal: `host/path` without credentials, port, `.git` or trailing slash."""
    text = url.strip()
    if "://" not in text and "@" in text and ":" in text:  # git@host:org/repo.git
        user_host, _, path = text.partition(":")
        host = user_host.split("@", 1)[-1]
    else:
        match = _SCHEME_URL.match(text)
        host = match.group("host") if match else ""
        path = (match.group("path") or "") if match else text
        if text.lower().startswith("file://"):
            host = ""
    path = path.strip("/")
    path = path.removesuffix(".git")
    return f"{host.lower()}/{path}"


def push_matches(event: PushEvent, repo_url: str) -> bool:
    wanted = repo_identity(repo_url)
    return any(repo_identity(u) == wanted for u in event.repo_urls)
