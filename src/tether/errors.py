"""Errors every layer may raise, each carrying the CLI exit code it maps to (DESIGN §4).

This module is a leaf: it imports nothing from tether, so any layer can use it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CONDITION = 1  # a difference found, a wait that timed out
EXIT_USAGE = 2  # bad flags, bad input files
EXIT_UNREACHABLE = 3  # cluster or git remote not reachable


class TetherError(Exception):
    """An error with a one-line message for people and an optional hint."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(TetherError):
    """Malformed input: YAML, manifests, flags, an Application spec."""

    exit_code = EXIT_USAGE


class ConditionNotMet(TetherError):
    """A wait that timed out, or a check that found a difference."""

    exit_code = EXIT_CONDITION


class UnreachableError(TetherError):
    """The cluster or a git remote did not answer."""

    exit_code = EXIT_UNREACHABLE


class ClusterError(TetherError):
    """The API server answered with an error that is not about reachability."""

    exit_code = EXIT_USAGE

    def __init__(
        self, message: str, hint: str | None = None, *, status: int = 0, reason: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.reason = reason


class LocalClusterError(TetherError):
    """The local control plane could not be built, started or stopped."""

    exit_code = EXIT_UNREACHABLE
