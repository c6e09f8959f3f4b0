"""The error of a sync that failed after it started (shared by sync and hook execution)."""

from __future__ import annotations

from tether.errors import ConditionNotMet


class SyncFailed(ConditionNotMet):
    """A wave, hook or apply failed after the sync started; the status says which."""
