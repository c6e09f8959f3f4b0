"""Git adapter: mirrors, fetch, resolve, read tree, revert, push."""

from tether.git.repos import (
    SECRET_TYPE_LABEL,
    SECRET_TYPE_REPOSITORY,
    CommitInfo,
    GitCredentials,
    GitRepos,
    RepositorySecret,
    credentials_from_env,
    credentials_from_secret,
    redact_url,
    select_credentials,
)

__all__ = [
    "SECRET_TYPE_LABEL",
    "SECRET_TYPE_REPOSITORY",
    "CommitInfo",
    "GitCredentials",
    "GitRepos",
    "RepositorySecret",
    "credentials_from_env",
    "credentials_from_secret",
    "redact_url",
    "select_credentials",
]
