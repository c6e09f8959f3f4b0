"""Git adapter: mirrors, fetch, resolve, read tree, revert, push (the git CLI only).

Owns: one bare mirror per repository, trees checked out by git after a checked listing
(no symlink or `.git` escape), hooks off on every call, credentials kept out of argv,
logs and errors. Must not: know about Applications, or run anything a repository
contains.
"""

from tether.git.credentials import GitCredentials, credentials_from_env
from tether.git.objects import CommitInfo
from tether.git.remote import redact_url
from tether.git.repos import (
    DEFAULT_MAX_TREE_BYTES,
    DEFAULT_MAX_TREE_CACHE_BYTES,
    DEFAULT_MAX_TREE_ENTRIES,
    GitRepos,
)
from tether.git.secrets import (
    RepositorySecret,
    credentials_from_secret,
    select_credentials,
)
from tether.git.trees import PrunedTrees

__all__ = [
    "DEFAULT_MAX_TREE_BYTES",
    "DEFAULT_MAX_TREE_CACHE_BYTES",
    "DEFAULT_MAX_TREE_ENTRIES",
    "CommitInfo",
    "GitCredentials",
    "GitRepos",
    "PrunedTrees",
    "RepositorySecret",
    "credentials_from_env",
    "credentials_from_secret",
    "redact_url",
    "select_credentials",
]
