"""Repository URLs as people may see them: credentials never shown (pure).

A repoURL may carry `user:password@` or a token as the user name; everything tether
prints, logs, exports as a metric label, records in an event or a condition, or answers
over HTTP goes through `display_url` (one URL) or `scrub_userinfo` (free text), which
replace the userinfo of every URL with `***`. An ssh user without a password (`git@`,
`ssh://git@host/...`) names an account, not a secret, and is kept.
"""

from __future__ import annotations

import re

# `scheme://userinfo@` — userinfo is everything up to the last "@" before the host part.
_SCHEME_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
_SSH_SCHEMES = ("ssh://", "git+ssh://", "ssh+git://")
MASK = "***"


def _replace(match: re.Match[str]) -> str:
    scheme, userinfo = match.group("scheme"), match.group("userinfo")
    if scheme.lower() in _SSH_SCHEMES and ":" not in userinfo:
        return match.group(0)  # ssh://git@host: the account, not a secret
    return f"{scheme}{MASK}@"


def scrub_userinfo(text: str) -> str:
    """`text` with the userinfo of every `scheme://userinfo@` URL in it masked."""
    if "@" not in text:
        return text
    return _SCHEME_USERINFO.sub(_replace, text)


def display_url(url: str) -> str:
    """A repository URL safe to show: `https://user:token@host/r` -> `https://***@host/r`."""
    return scrub_userinfo(url)


def strip_userinfo(url: str) -> str:
    """The URL with every `userinfo@` removed (for matching, e.g. a Project's sourceRepos)."""
    return _SCHEME_USERINFO.sub(lambda m: m.group("scheme"), url) if "@" in url else url


_GIT_URL_SCHEMES = ("file://", "https://", "http://", "ssh://", "git://", "git+ssh://")
_SCP_LIKE_GIT_URL = re.compile(r"^[\w.-]+@[\w.-]+:.+$")  # git@github.com:org/repo.git


def is_repository_url(text: str) -> bool:
    """Whether `text` is a git remote tether fetches (`https://…`, `ssh://…`,
    `file://…`, `git@host:org/repo`, …) rather than a local directory."""
    has_scheme = any(text.startswith(s) and len(text) > len(s) for s in _GIT_URL_SCHEMES)
    return has_scheme or bool(_SCP_LIKE_GIT_URL.match(text))


def has_userinfo(url: str) -> bool:
    """Whether the URL carries credentials that `display_url` would mask."""
    return scrub_userinfo(url) != url


__all__ = [
    "MASK",
    "display_url",
    "has_userinfo",
    "is_repository_url",
    "scrub_userinfo",
    "strip_userinfo",
]
