"""A repository as git is told about it: its URL without secrets, how one network call
authenticates, and what git's failure messages mean (unreachable vs. hostile content)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from tether.errors import InputError, TetherError, UnreachableError
from tether.process import ProcessResult

from .config import GitEnv
from .credentials import USERINFO, GitCredentials, http_auth_env, scrub, ssh_command, ssh_key_file

_SCHEMES = frozenset({"file", "http", "https", "ssh", "git", "git+ssh", "ssh+git"})
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
_HTTP_SCHEMES = frozenset({"http", "https"})
# `[user@]host:path` with no scheme is ssh; a path containing a slash before the colon is not.
_SCP_LIKE = re.compile(r"^(?:[^@/:\s]+@)?[^/:\s]+:")
# `<transport>::<address>` runs an arbitrary remote helper (`ext::sh -c ...`): never allowed.
_TRANSPORT_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What index-pack / unpack-objects print for an object that fails fsck on fetch.
_FSCK_LINE = re.compile(r"object [0-9a-f]{40,64}: [A-Za-z]+: .*")

_AUTH_MARKERS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "returned error: 401",
    "returned error: 403",
    "permission denied",
    "access denied",
    "invalid username or password",
)
_NOT_FOUND_MARKERS = (
    "repository not found",
    "does not appear to be a git repository",
    "returned error: 404",
    "not found",
)
_HINT_AUTH = (
    "check the repository credentials (TETHER_GIT_USERNAME/TETHER_GIT_PASSWORD, an ssh key "
    "or agent, or a Secret labelled tether.dev/secret-type=repository)"
)
_HINT_NOT_FOUND = "check the repository URL, and that the credentials may read it"
HINT_NETWORK = "check the URL and that the git server is reachable from here"


@dataclass(frozen=True)
class Remote:
    """A repository as git is told about it: a URL without secrets, credentials aside."""

    url: str
    transport: str  # "http", "ssh", "local" (file://, paths) or "git"
    credentials: GitCredentials | None

    def scrub(self, text: str) -> str:
        return scrub(text, self.credentials)


def redact_url(repo_url: str) -> str:
    """`repo_url` without any password (and, for http(s), without the user name)."""
    return parse_remote(repo_url, None).url


def url_key(repo_url: str) -> str:
    """A URL reduced for prefix matching: no credentials, trailing slash or `.git`."""
    return redact_url(repo_url).rstrip("/").removesuffix(".git")


def parse_remote(repo_url: str, credentials: GitCredentials | None) -> Remote:
    url = repo_url.strip()
    _check_url_text(url)
    if "://" in url:
        return _parse_scheme_url(url, credentials)
    if _SCP_LIKE.match(url):
        return Remote(url, "ssh", credentials)
    return Remote(os.path.abspath(os.path.expanduser(url)), "local", credentials)


def _check_url_text(url: str) -> None:
    shown = USERINFO.sub("", url)
    if not url:
        raise InputError("repository URL is empty")
    if CONTROL.search(url) or url.startswith("-"):
        raise InputError(f"repository URL {shown!r} is not valid")
    if _TRANSPORT_PREFIX.match(url):
        raise InputError(
            f"repository URL {shown!r}: remote helpers (<transport>::) are not supported",
            hint="use https://, ssh://, file:// or a path",
        )


def _parse_scheme_url(url: str, credentials: GitCredentials | None) -> Remote:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise InputError(
            f"repository URL {USERINFO.sub('', url)!r}: unsupported scheme '{scheme}'",
            hint="use https://, ssh://, file:// or a path",
        )
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    username = unquote(user) if user else None
    secret = unquote(password) if has_password else None
    if scheme in _SSH_SCHEMES:
        # The ssh user (git@) is part of the address, not a secret; a password is.
        netloc = f"{user}@{hostport}" if user else hostport
        from_url = GitCredentials(password=secret) if secret else None
        transport = "ssh"
    else:
        netloc = hostport
        from_url = GitCredentials(username, secret) if (username or secret) else None
        transport = "http" if scheme in _HTTP_SCHEMES else "local" if scheme == "file" else "git"
    if transport != "local" and not hostport:
        raise InputError(f"repository URL {urlunsplit(parts._replace(netloc=''))!r} has no host")
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return Remote(clean, transport, _merge_credentials(credentials, from_url))


def _merge_credentials(
    given: GitCredentials | None, from_url: GitCredentials | None
) -> GitCredentials | None:
    """Explicit credentials win; user:password from the URL fills in when none are given."""
    if given is None or from_url is None:
        return given or from_url
    if given.has_basic_auth:
        return given
    return GitCredentials(from_url.username, from_url.password, given.ssh_private_key)


# --- one network call --------------------------------------------------------------------


@contextlib.contextmanager
def remote_env(remote: Remote, stall_seconds: int) -> Iterator[GitEnv]:
    """Environment that authenticates one network git call, and nothing beyond it."""
    credentials = remote.credentials
    stall = stall_env(stall_seconds)
    if credentials is None or remote.transport == "local":
        yield stall
    elif remote.transport == "http" and credentials.has_basic_auth:
        yield stall | http_auth_env(credentials)
    elif remote.transport == "ssh" and credentials.ssh_private_key:
        with ssh_key_file(credentials.ssh_private_key) as key_file:
            command = ssh_command(key_file, stall_seconds)
            yield stall | GitEnv({"GIT_SSH_COMMAND": command, "GIT_SSH_VARIANT": "ssh"})
    else:
        yield stall


def stall_env(stall_seconds: int) -> GitEnv:
    """Make git's http transport give up on a server that stops sending.

    On a timeout run_process kills git, but the transport helper it started
    (git-remote-http) keeps the output pipes open, and the kill is only complete once
    the helper is gone; this makes the helper go by itself soon after.
    """
    return GitEnv({"GIT_HTTP_LOW_SPEED_LIMIT": "1", "GIT_HTTP_LOW_SPEED_TIME": str(stall_seconds)})


# --- what git's failures mean ------------------------------------------------------------


def last_line(text: str, limit: int = 400) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""


def telling_line(text: str, limit: int = 400) -> str:
    """The line of git's stderr that says what went wrong: its first `fatal:` line (git
    follows it with boilerplate such as "Please make sure you have the correct access
    rights / and the repository exists."), else its first `error:` line, else the last."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for prefix in ("fatal:", "error:"):
        found = [ln for ln in lines if ln.startswith(prefix)]
        if found:
            return found[0][:limit]
    return lines[-1][:limit] if lines else ""


def unreachable(remote: Remote, result: ProcessResult) -> UnreachableError:
    # Scrub the whole of stderr before picking a line, so truncation cannot cut a secret
    # in half and let the other half through.
    text = remote.scrub(result.stderr.decode("utf-8", "replace"))
    line = telling_line(text).removeprefix("fatal: ") or f"git exited with code {result.returncode}"
    lowered = text.lower()
    if any(marker in lowered for marker in _AUTH_MARKERS):
        hint = _HINT_AUTH
    elif any(marker in lowered for marker in _NOT_FOUND_MARKERS):
        hint = _HINT_NOT_FOUND
    else:
        hint = HINT_NETWORK
    return UnreachableError(f"git remote {remote.url} unreachable: {line}", hint=hint)


def fsck_refusal(remote: Remote, result: ProcessResult) -> InputError | None:
    """The error for a fetch that received objects failing git's fsck, else None.

    Such a remote answered fine; what it serves is malformed or crafted (duplicate tree
    entries, '.git' names), so this is bad input (exit 2), never "unreachable".
    """
    text = remote.scrub(result.stderr.decode("utf-8", "replace"))
    if "fsck error" not in text:
        return None
    found = _FSCK_LINE.search(text)
    line = found.group(0) if found else last_line(text)
    return InputError(
        f"repository {remote.url}: fetched objects fail git's integrity check: {line[:300]}",
        hint="the repository holds malformed or crafted git objects (see `git fsck`); "
        "tether refuses to use them",
    )


def checked(remote: Remote, result: ProcessResult) -> ProcessResult:
    """`result`, or an error for a git failure that no caller expects."""
    if result.ok:
        return result
    line = last_line(remote.scrub(result.stderr.decode("utf-8", "replace")))
    raise TetherError(f"git {subcommand(result.argv[1:])} failed for {remote.url}: {line}")


def subcommand(args: Sequence[str]) -> str:
    """`fetch` of `--git-dir /x fetch ...`, for messages."""
    rest = list(args)
    while len(rest) > 1 and rest[0] in ("--git-dir", "--work-tree", "-C", "-c"):
        rest = rest[2:]
    return rest[0] if rest else "?"
