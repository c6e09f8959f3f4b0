"""Typed, path-aware parsing helpers shared by tether's resources (pure).

`Fields` reads one JSON object field by field, recording every missing or mistyped
value as a problem (with its path) instead of stopping, so a user fixes a manifest in
one round trip; `Problems.raise_if_any` turns them into one InputError. Also Go-style
durations and the DNS-1123 name rules the API server applies.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from tether.errors import InputError

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

# --------------------------------------------------------------------------- durations

# One `<number><unit>` term of a Go duration; "ms" is listed before "m" and "s" so that
# the alternation does not stop at the shorter unit.
_DURATION_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_SECONDS_PER_UNIT = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,  # Go accepts both the micro sign and the Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """A Go-style duration (`90s`, `5m`, `1h30m`, `500ms`) in seconds.

    Like Go's `time.ParseDuration`, a bare `0` is allowed and every other number needs
    a unit. Negative durations are rejected: no tether setting can use one.
    """
    if text == "0":
        return 0.0
    total = 0.0
    position = 0
    while position < len(text):
        term = _DURATION_TERM.match(text, position)
        if term is None:
            break
        total += float(term.group(1)) * _SECONDS_PER_UNIT[term.group(2)]
        position = term.end()
    if not text or position != len(text):
        raise InputError(
            f"invalid duration {json.dumps(text)}: "
            "use numbers with units ns, us, ms, s, m or h, e.g. 90s, 5m or 1h30m"
        )
    return total


# ---------------------------------------------------------------- validation plumbing

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_DNS_LABEL}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_MAX_SHOWN = 60


def is_dns1123_subdomain(value: str) -> bool:
    """The rule for most object names (`metadata.name` of an Application among them)."""
    return len(value) <= 253 and _DNS1123_SUBDOMAIN.match(value) is not None


def is_dns1123_label(value: str) -> bool:
    """The rule for namespace names."""
    return len(value) <= 63 and _DNS1123_LABEL.match(value) is not None


def show(value: object) -> str:
    """A value as it appears in an error: JSON-quoted, one line, not too long.

    Bounded work whatever the value: a mapping or list is summarized, never serialized
    whole (a hostile one can be huge, or a YAML alias bomb of shared references)."""
    if isinstance(value, Mapping):
        return f"a mapping of {len(value)} keys"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, str) and len(value) > _MAX_SHOWN:
        value = value[:_MAX_SHOWN]
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        shown = type(value).__name__
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Problems:
    """Validation problems, collected so that one error can report all of them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.messages.append(f"{path} {message}" if path else message)

    def raise_if_any(self, subject: str) -> None:
        if self.messages:
            raise InputError(f"{subject}: " + "; ".join(self.messages))


class Fields:
    """Typed, path-aware reads from one JSON object.

    A missing or mistyped value is recorded as a problem and replaced by the default, so
    parsing always runs to the end and finds every problem in one pass. `None` counts as
    absent, as it does for the API server.
    """

    def __init__(self, data: object, path: str, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        if isinstance(data, Mapping):
            self.data: Mapping[str, Any] = data
        else:
            self.data = {}
            if data is not None:
                problems.add(path, f"must be an object, got {show(data)}")

    def path_of(self, key: str) -> str:
        return join_path(self.path, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def problem(self, key: str, message: str) -> None:
        self.problems.add(self.path_of(key), message)

    def _wrong_type(self, key: str, expected: str, value: object) -> None:
        # YAML turns `1.0`, `yes` and `0755` into non-strings; say how to keep them text.
        quote_hint = " (quote it in YAML)" if expected == "a string" else ""
        self.problem(key, f"must be {expected}{quote_hint}, got {show(value)}")

    def only(self, known: Iterable[str]) -> None:
        """Unknown fields are typos more often than not: name them, suggest the field."""
        known_fields = list(known)
        for key in self.data:
            if key in known_fields:
                continue
            close = difflib.get_close_matches(str(key), known_fields, n=1)
            suggestion = f" (did you mean {close[0]}?)" if close else ""
            self.problem(str(key), f"is not a known field{suggestion}")

    def optional_string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self._wrong_type(key, "a string", value)
            return None
        return value

    def string(self, key: str, default: str = "") -> str:
        value = self.optional_string(key)
        return default if value is None else value

    def required_string(self, key: str) -> str:
        value = self.data.get(key)
        if value is None or value == "":
            self.problem(key, "is required")
            return ""
        return self.string(key)

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self._wrong_type(key, "true or false", value)
            return default
        return value

    def optional_integer(self, key: str, minimum: int = 0) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        # bool is an int in Python but `true` is never a count.
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self._wrong_type(key, f"an integer >= {minimum}", value)
            return None
        return value

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        value = self.optional_integer(key, minimum)
        return default if value is None else value

    def number(self, key: str, default: float, minimum: float) -> float:
        value = self.data.get(key)
        if value is None:
            return default
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or not math.isfinite(value) or value < minimum:
            self._wrong_type(key, f"a number >= {minimum:g}", value)
            return default
        return float(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self._wrong_type(key, "a list of strings", value)
            return ()
        items: list[str] = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                items.append(item)
            else:
                self.problems.add(
                    f"{self.path_of(key)}[{index}]",
                    f"must be a string (quote it in YAML), got {show(item)}",
                )
        return tuple(items)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self._wrong_type(key, "a map of strings", value)
            return {}
        result: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, str):
                result[str(name)] = item
            else:
                self.problem(
                    f"{key}.{name}", f"must be a string (quote it in YAML), got {show(item)}"
                )
        return result

    def duration(self, key: str, default: str) -> str:
        """A positive duration, kept in its wire form (`to_dict` gives back what was
        written); a zero interval or timeout would spin or never wait."""
        value = self.data.get(key)
        if value is None:
            return default
        try:
            seconds = parse_duration(value) if isinstance(value, str) else None
        except InputError:
            seconds = None
        if seconds is None:
            self._wrong_type(key, 'a duration like "90s", "5m" or "1h30m"', value)
            return default
        if seconds <= 0:
            self.problem(key, f"must be longer than zero, got {show(value)}")
            return default
        return str(value)

    def timestamp(self, key: str) -> str | None:
        value = self.optional_string(key)
        if value is not None and not is_rfc3339(value):
            self._wrong_type(key, "an RFC 3339 time like 2024-05-01T12:00:00Z", value)
            return None
        return value

    def choice(self, key: str, allowed: type[E], default: E) -> E:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            try:
                return allowed(value)  # the enum's own value lookup: a dict, not a scan
            except ValueError:
                pass
        names = ", ".join(member.value for member in allowed)
        self.problem(key, f"must be one of {names}, got {show(value)}")
        return default

    def child(self, key: str) -> Fields | None:
        """The nested object at `key`, or None when it is absent."""
        if not self.has(key):
            return None
        return Fields(self.data[key], self.path_of(key), self.problems)

    def children(self, key: str) -> list[Fields]:
        """The objects of the list at `key`, each with its indexed path."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self._wrong_type(key, "a list", value)
            return []
        return [
            Fields(item, f"{self.path_of(key)}[{index}]", self.problems)
            for index, item in enumerate(value)
        ]


def is_rfc3339(value: str) -> bool:
    """A date, a time and a zone: what metav1.Time writes, e.g. 2024-05-01T12:00:00Z."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None and len(value) > len("2024-05-01")


def parse_alone(parser: Callable[[Fields], T], data: object, subject: str) -> T:
    """Run one parser on its own: the public `from_dict` of every nested type."""
    problems = Problems()
    result = parser(Fields(data, "", problems))
    problems.raise_if_any(subject)
    return result


def drop_none(wire: dict[str, Any]) -> dict[str, Any]:
    """Unset optionals are omitted from the wire form rather than sent as null."""
    return {key: value for key, value in wire.items() if value is not None}


def list_or_none(items: Sequence[Any]) -> list[Any] | None:
    return list(items) if items else None


def dict_or_none(items: Mapping[str, str]) -> dict[str, str] | None:
    return dict(items) if items else None


def check_name(fields: Fields, key: str, value: str) -> None:
    if value and not is_dns1123_subdomain(value):
        fields.problem(
            key,
            "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', "
            f"starting and ending with a letter or digit, at most 253), got {show(value)}",
        )


def check_namespace(fields: Fields, key: str, value: str | None) -> None:
    if value and not is_dns1123_label(value):
        fields.problem(
            key,
            "must be a DNS-1123 label (lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit, at most 63), got {show(value)}",
        )
