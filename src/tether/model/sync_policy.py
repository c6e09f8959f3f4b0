"""spec.syncPolicy (pure parsing): automated sync with prune and self-heal, retry with
backoff, and the sync options (`Name=value` strings, as Argo CD's syncOptions)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.errors import InputError
from tether.model.fields import (
    Fields,
    drop_none,
    list_or_none,
    parse_alone,
    parse_duration,
    show,
)
from tether.model.names import (
    DEFAULT_BACKOFF_DURATION,
    DEFAULT_BACKOFF_FACTOR,
    DEFAULT_BACKOFF_MAX_DURATION,
    DEFAULT_RETRY_LIMIT,
)


def parse_sync_options(options: Iterable[str]) -> dict[str, str]:
    """`["CreateNamespace=true", "Prune=false"]` -> `{"CreateNamespace": "true", ...}`.

    Unknown options are kept: tether ignores what it does not know instead of refusing a
    manifest written for a newer version. The last of repeated options wins. Also fits
    the comma-split value of the `…/sync-options` annotation.
    """
    parsed: dict[str, str] = {}
    for option in options:
        name, equals, value = option.partition("=")
        if not equals or not name.strip():
            raise InputError(f"sync option {show(option)} must look like Name=value")
        parsed[name.strip()] = value.strip()
    return parsed


# The sync options an Application's syncOptions may set (Argo CD's names where Argo CD
# has the option), with the values each accepts (None: any value). An unknown option is a
# typo far more often than an option of a newer tether: it is refused, with a suggestion.
APP_SYNC_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "CreateNamespace": ("true", "false"),
    "PruneLast": ("true", "false"),
    "ServerSideApply": ("true", "false"),
    "RespectIgnoreDifferences": ("true", "false"),
    "Replace": ("true", "false"),
    "Prune": ("true", "false", "confirm"),
    "Adopt": ("true", "false"),
}


def _parse_sync_option_list(fields: Fields, key: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for index, option in enumerate(fields.strings(key)):
        where = f"{fields.path_of(key)}[{index}]"
        try:
            one = parse_sync_options([option])
        except InputError:
            fields.problems.add(
                where, f"must look like Name=value (e.g. CreateNamespace=true), got {show(option)}"
            )
            continue
        for name, value in one.items():
            if name not in APP_SYNC_OPTIONS:
                close = difflib.get_close_matches(name, list(APP_SYNC_OPTIONS), n=1)
                known = (
                    f"did you mean {close[0]}?"
                    if close
                    else "known: " + ", ".join(APP_SYNC_OPTIONS)
                )
                fields.problems.add(where, f"{show(name)} is not a known sync option ({known})")
                continue
            allowed = APP_SYNC_OPTIONS[name]
            if allowed is not None and value.lower() not in allowed:
                fields.problems.add(
                    where, f"{name} must be {' or '.join(allowed)}, got {show(value)}"
                )
                continue
            parsed[name] = value
    return parsed


@dataclass(frozen=True)
class AutomatedSync:
    """Presence turns auto-sync on: sync once per new revision."""

    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False  # let an empty render prune everything

    def to_dict(self) -> dict[str, Any]:
        return {"prune": self.prune, "selfHeal": self.self_heal, "allowEmpty": self.allow_empty}


def _parse_automated(fields: Fields) -> AutomatedSync:
    fields.only(("prune", "selfHeal", "allowEmpty"))
    return AutomatedSync(
        prune=fields.boolean("prune"),
        self_heal=fields.boolean("selfHeal"),
        allow_empty=fields.boolean("allowEmpty"),
    )


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (0-based): duration x factor^n, capped at maxDuration."""

    duration: str = DEFAULT_BACKOFF_DURATION
    factor: float = DEFAULT_BACKOFF_FACTOR
    max_duration: str = DEFAULT_BACKOFF_MAX_DURATION

    @property
    def duration_seconds(self) -> float:
        return parse_duration(self.duration)

    @property
    def max_duration_seconds(self) -> float:
        return parse_duration(self.max_duration)

    def delay_seconds(self, attempt: int) -> float:
        # Cap the exponent first: factor**attempt overflows long before it matters.
        exponent = min(max(attempt, 0), 64)
        return min(self.duration_seconds * self.factor**exponent, self.max_duration_seconds)

    def to_dict(self) -> dict[str, Any]:
        # Write `2`, not `2.0`: the form people write and the CRD's default.
        factor = float(self.factor)
        wire_factor: float | int = int(factor) if factor.is_integer() else factor
        return {"duration": self.duration, "factor": wire_factor, "maxDuration": self.max_duration}


def _parse_backoff(fields: Fields) -> Backoff:
    fields.only(("duration", "factor", "maxDuration"))
    backoff = Backoff(
        duration=fields.duration("duration", DEFAULT_BACKOFF_DURATION),
        factor=fields.number("factor", DEFAULT_BACKOFF_FACTOR, minimum=1),
        max_duration=fields.duration("maxDuration", DEFAULT_BACKOFF_MAX_DURATION),
    )
    if backoff.max_duration_seconds < backoff.duration_seconds:
        fields.problem(
            "maxDuration",
            f"must not be shorter than duration ({backoff.duration}), "
            f"got {show(backoff.max_duration)}",
        )
    return backoff


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a failed sync: `limit` attempts after the first (0: none)."""

    limit: int = DEFAULT_RETRY_LIMIT
    backoff: Backoff = field(default_factory=Backoff)

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "backoff": self.backoff.to_dict()}


def _parse_retry(fields: Fields) -> RetryPolicy:
    fields.only(("limit", "backoff"))
    backoff = fields.child("backoff")
    return RetryPolicy(
        limit=fields.integer("limit", DEFAULT_RETRY_LIMIT, minimum=0),
        backoff=_parse_backoff(backoff) if backoff is not None else Backoff(),
    )


@dataclass(frozen=True)
class SyncPolicy:
    """`syncOptions` are held parsed, e.g. {"CreateNamespace": "true"}, in written order."""

    automated: AutomatedSync | None = None
    sync_options: Mapping[str, str] = field(default_factory=dict)
    retry: RetryPolicy | None = None

    def option(self, name: str) -> str | None:
        return self.sync_options.get(name)

    def option_enabled(self, name: str) -> bool:
        """True when the option is set to `true` (any case), as in `PruneLast=true`."""
        return (self.option(name) or "").lower() == "true"

    def to_dict(self) -> dict[str, Any]:
        options = [f"{name}={value}" for name, value in self.sync_options.items()]
        return drop_none(
            {
                "automated": self.automated.to_dict() if self.automated is not None else None,
                "syncOptions": list_or_none(options),
                "retry": self.retry.to_dict() if self.retry is not None else None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncPolicy:
        return parse_alone(parse_sync_policy, data, "syncPolicy")


def parse_sync_policy(fields: Fields) -> SyncPolicy:
    fields.only(("automated", "syncOptions", "retry"))
    # `automated: {}` turns auto-sync on with every option off; `automated: null` is
    # absent, as the API server would store it.
    automated, retry = fields.child("automated"), fields.child("retry")
    return SyncPolicy(
        automated=_parse_automated(automated) if automated is not None else None,
        sync_options=_parse_sync_option_list(fields, "syncOptions"),
        retry=_parse_retry(retry) if retry is not None else None,
    )
