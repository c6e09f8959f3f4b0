"""Credentials for private repositories, and how they reach git without leaking.

They never reach argv, logs, exceptions or a stored config: basic auth goes through an
environment-only credential helper, ssh keys through a 0600 temporary file, and every
message git prints is scrubbed of them.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .config import GitEnv

USERINFO = re.compile(r"(?<=://)[^/@\s]+@")

# The helper answers `get` from variables set for this one git process only; `store` and
# `erase` are ignored, so nothing is ever written to a credential store.
_HELPER_USERNAME = "TETHER_GIT_HELPER_USERNAME"
_HELPER_PASSWORD = "TETHER_GIT_HELPER_PASSWORD"
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || return 0; '
    f'printf "username=%s\\npassword=%s\\n" "${_HELPER_USERNAME}" "${_HELPER_PASSWORD}"; }}; f'
)
# Forges accept any user name with a token as the password; git needs a non-empty one.
_TOKEN_USERNAME = "x-access-token"


@dataclass(frozen=True, repr=False)
class GitCredentials:
    """What git needs to read a private repository. `password` also holds tokens."""

    username: str | None = None
    password: str | None = None
    ssh_private_key: str | None = None

    def __repr__(self) -> str:
        # A user name can be a token (https://TOKEN@host), so it is masked as well.
        def mask(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (
            f"GitCredentials(username={mask(self.username)}, password={mask(self.password)}, "
            f"ssh_private_key={mask(self.ssh_private_key)})"
        )

    @property
    def has_basic_auth(self) -> bool:
        return bool(self.username or self.password)


def credentials_from_env(environ: Mapping[str, str] | None = None) -> GitCredentials | None:
    """The CLI's credentials: TETHER_GIT_USERNAME / TETHER_GIT_PASSWORD.

    An ssh agent needs nothing here: SSH_AUTH_SOCK is inherited by git and ssh.
    """
    env = os.environ if environ is None else environ
    username = env.get("TETHER_GIT_USERNAME") or None
    password = env.get("TETHER_GIT_PASSWORD") or None
    if username is None and password is None:
        return None
    return GitCredentials(username=username, password=password)


def scrub(text: str, credentials: GitCredentials | None) -> str:
    """`text` without URL userinfo and without any form of the secrets in `credentials`."""
    text = USERINFO.sub("", text)
    for secret in _secret_strings(credentials):
        text = text.replace(secret, "***")
    return text


def _secret_strings(credentials: GitCredentials | None) -> list[str]:
    if credentials is None:
        return []
    found: list[str] = []
    user, password = credentials.username, credentials.password
    if password:
        found += [password, quote(password, safe=""), quote(password)]
        pair = f"{user or ''}:{password}"
        found += [pair, base64.b64encode(pair.encode()).decode()]
    elif user and len(user) >= 8:
        found += [user, quote(user, safe="")]  # a token given as the user name
    if credentials.ssh_private_key:
        found += [ln.strip() for ln in credentials.ssh_private_key.splitlines() if ln.strip()]
    # Longest first, so a pair is replaced whole before its parts.
    return sorted({s for s in found if s}, key=len, reverse=True)


def http_auth_env(credentials: GitCredentials) -> GitEnv:
    # The empty helper value drops helpers from the user's config, so none of them sees
    # (or stores) these credentials; ours then answers from two environment variables.
    return GitEnv(
        {
            _HELPER_USERNAME: credentials.username or _TOKEN_USERNAME,
            _HELPER_PASSWORD: credentials.password or "",
        },
        (("credential.helper", ""), ("credential.helper", _CREDENTIAL_HELPER)),
    )


@contextlib.contextmanager
def ssh_key_file(private_key: str) -> Iterator[Path]:
    """The key in a 0600 temp file (mkstemp's mode), removed however the fetch ends."""
    fd, name = tempfile.mkstemp(prefix="tether-ssh-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # OpenSSH rejects a key whose last line has no newline ("invalid format").
            handle.write(private_key if private_key.endswith("\n") else private_key + "\n")
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def ssh_command(key_file: Path, stall_seconds: int) -> str:
    options = [
        "IdentitiesOnly=yes",
        "StrictHostKeyChecking=accept-new",
        "BatchMode=yes",
        f"ConnectTimeout={stall_seconds}",
        # A silent server ends the session by itself (see remote.stall_env).
        f"ServerAliveInterval={max(1, stall_seconds // 3)}",
        "ServerAliveCountMax=3",
    ]
    return shlex.join(["ssh", "-i", str(key_file), *(f"-o{option}" for option in options)])
