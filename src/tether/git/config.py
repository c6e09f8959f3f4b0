"""What every git process tether starts sees besides argv: its environment and settings.

Repository content is hostile input, so every git process runs with hooks and the
file-system monitor off, and inherits no GIT_* variable that could turn them back on or
point git at another repository. Settings (`git -c`) travel as GIT_CONFIG_COUNT/KEY/VALUE
pairs, built from ONE list per process: two dicts that each set GIT_CONFIG_COUNT would
silently drop one another's settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ConfigPairs = tuple[tuple[str, str], ...]

# Transport settings an operator may set for git in tether's environment. Nothing else
# named GIT_* is inherited: GIT_CONFIG_PARAMETERS (what `git -c` exports to children) or
# GIT_CONFIG_GLOBAL could set core.hooksPath, GIT_DIR/GIT_INDEX_FILE would point git at
# another repository, GIT_TEMPLATE_DIR would plant hooks, GIT_TRACE* would log secrets.
_INHERITED_GIT_VARIABLES = frozenset(
    {
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_SSH_VARIANT",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
        "GIT_SSL_CERT",
        "GIT_SSL_KEY",
        "GIT_SSL_NO_VERIFY",
        "GIT_PROXY_COMMAND",
        "GIT_HTTP_USER_AGENT",
    }
)

_BASE_VARIABLES = {
    "GIT_TERMINAL_PROMPT": "0",
    # English messages, so failures can be classified (auth vs network vs not found).
    "LC_ALL": "C",
    "LANGUAGE": "",
    # Transports tether supports; `ext::` and friends stay off even if config enables them.
    "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",
}

# Last in every process's list, so no earlier pair (nor a config file) overrides them.
# core.hooksPath=/dev/null: git looks for /dev/null/<hook>, which cannot exist, so no
# hook runs, whoever planted it in the mirror's hooks/ directory or a template.
SAFETY_CONFIG: ConfigPairs = (
    ("core.hooksPath", os.devnull),
    ("core.fsmonitor", "false"),
)

# Every fetch checks what it receives (git fsck's rules, warnings as errors): duplicate
# tree entries, '.git' names and malformed paths are refused before they reach the
# mirror. The ignored ids are cosmetic flaws of commit headers and tree modes that old
# histories carry and that cannot change what a checkout writes.
FSCK_CONFIG: ConfigPairs = (
    ("fetch.fsckObjects", "true"),
    ("transfer.fsckObjects", "true"),
    ("fetch.fsck.zeroPaddedFilemode", "ignore"),
    ("fetch.fsck.badTimezone", "ignore"),
    ("fetch.fsck.missingSpaceBeforeDate", "ignore"),
)


def _is_config_pair_variable(name: str) -> bool:
    return name in ("GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS") or name.startswith(
        ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")
    )


@dataclass(frozen=True)
class GitEnv:
    """Environment variables and settings for one git process; `a | b` merges them (b's
    variables win, b's settings come after a's and so override single-valued keys)."""

    variables: Mapping[str, str] = field(default_factory=dict)
    config: ConfigPairs = ()

    def __post_init__(self) -> None:
        stray = [name for name in self.variables if _is_config_pair_variable(name)]
        if stray:
            raise ValueError(f"settings go in GitEnv.config, not variables: {stray}")

    def __or__(self, other: GitEnv) -> GitEnv:
        return GitEnv({**self.variables, **other.variables}, self.config + other.config)


# Reads of the mirror ignore the user's and the system's git config: nothing there may
# change what a tree contains (attributes, filters) or how output looks.
LOCAL = GitEnv(
    {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_LITERAL_PATHSPECS": "1",
        "GIT_OPTIONAL_LOCKS": "0",
    },
    (("core.attributesFile", os.devnull),),
)


def process_environment(git_env: GitEnv, inherited: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of one git process (it inherits nothing else)."""
    env = {
        name: value
        for name, value in inherited.items()
        if not name.startswith("GIT_") or name in _INHERITED_GIT_VARIABLES
    }
    env.update(_BASE_VARIABLES)
    env.update(git_env.variables)
    env.update(config_variables([*git_env.config, *SAFETY_CONFIG]))
    return env


def config_variables(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """`git -c` without argv: GIT_CONFIG_COUNT/KEY_n/VALUE_n, seen by this process only."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env
