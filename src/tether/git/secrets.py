"""Repository Secrets (`tether.dev/secret-type: repository`): credentials for every
repository under a URL prefix, the most specific prefix winning."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.errors import InputError
from tether.model.names import SECRET_TYPE_LABEL, SECRET_TYPE_REPOSITORY

from .credentials import GitCredentials
from .remote import redact_url, url_key


@dataclass(frozen=True)
class RepositorySecret:
    """Credentials from a repository Secret, for every repository under its `url` prefix."""

    name: str  # <namespace>/<name>, for messages
    url: str  # the prefix, without credentials
    credentials: GitCredentials = field(repr=False)

    def applies_to(self, repo_url: str) -> bool:
        repo, prefix = url_key(repo_url), url_key(self.url)
        if repo == prefix:
            return True
        if not repo.startswith(prefix):
            return False
        # "https://host/org" covers "https://host/org/app" but not "https://host/organization".
        return prefix.endswith(("/", ":")) or repo[len(prefix)] in "/:"


def credentials_from_secret(secret: Mapping[str, Any]) -> RepositorySecret:
    """Read a Secret labelled `tether.dev/secret-type: repository` (data: url, username,
    password, sshPrivateKey; base64 as the API returns them, or plain in stringData)."""
    meta = secret.get("metadata") or {}
    name = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    labels = meta.get("labels") or {}
    if labels.get(SECRET_TYPE_LABEL) != SECRET_TYPE_REPOSITORY:
        raise InputError(
            f"secret {name} is not a repository secret",
            hint=f"label it {SECRET_TYPE_LABEL}={SECRET_TYPE_REPOSITORY}",
        )
    values = _secret_values(name, secret)
    url = values.get("url")
    if not url:
        raise InputError(f"secret {name} has no 'url' key", hint="set the repository URL prefix")
    credentials = GitCredentials(
        username=values.get("username") or None,
        password=values.get("password") or None,
        ssh_private_key=values.get("sshPrivateKey") or None,
    )
    return RepositorySecret(name=name, url=redact_url(url), credentials=credentials)


def select_credentials(repo_url: str, secrets: Iterable[RepositorySecret]) -> GitCredentials | None:
    """The credentials of the most specific (longest) secret prefix matching `repo_url`."""
    matching = [s for s in secrets if s.applies_to(repo_url)]
    if not matching:
        return None
    return max(matching, key=lambda s: len(url_key(s.url))).credentials


def _secret_values(name: str, secret: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, encoded in (secret.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            # Never echo the value: it is a secret even when malformed.
            raise InputError(f"secret {name}: key '{key}' is not valid base64 UTF-8") from None
    # stringData wins over data, as the API server merges them.
    values.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return values
