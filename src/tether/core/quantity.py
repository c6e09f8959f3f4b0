"""Kubernetes resource quantities (`500m`, `1Gi`, `1e3`): parsing, exact values, canonical text.

The API server parses every quantity and stores it in a canonical form, so what comes back
from the cluster is rarely the text that was applied (`0.5` comes back as `500m`, `1000M`
as `1G`). Comparing the text therefore reports drift that is not there; comparing the exact
values (as `Fraction`s) does not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from tether.errors import InputError

_DECIMAL_SUFFIXES: dict[str, int] = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_DECIMAL_SUFFIX_OF_EXPONENT = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIXES: dict[str, int] = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_BINARY_SUFFIX_OF_POWER = {power: suffix for suffix, power in _BINARY_SUFFIXES.items()}

_QUANTITY_RE = re.compile(
    r"^(?P<sign>[+-]?)"
    r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>[eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]?)$"
)

# The API server keeps nine fractional digits and rounds anything finer up (away from zero).
_SMALLEST_UNIT = Fraction(1, 10**9)
# apimachinery caps a binary-suffixed amount at the largest int64 when it parses it
# (`9Ei` and `9223372036854775807Ki` both become 9223372036854775807).
_MAX_BINARY_AMOUNT = Fraction(2**63 - 1)


class QuantityFormat(StrEnum):
    """How a quantity was written; the server keeps the format when it canonicalizes."""

    DECIMAL_SI = "DecimalSI"  # 500m, 1G, 12
    BINARY_SI = "BinarySI"  # 1Gi, 512Mi
    DECIMAL_EXPONENT = "DecimalExponent"  # 1e3, 5E-3


@dataclass(frozen=True, eq=False)
class Quantity:
    """An exact quantity value and the format it was written in. Equality is by value."""

    value: Fraction
    format: QuantityFormat

    @classmethod
    def parse(cls, raw: str | int | float) -> Quantity:
        """Parse a quantity as written in a manifest: a string, or a YAML/JSON number."""
        text = _quantity_text(raw)
        match = _QUANTITY_RE.match(text)
        if match is None:
            raise InputError(f"invalid quantity {text!r}", hint="e.g. 500m, 0.5, 1Gi, 1e3")
        number = Fraction(match["number"])
        sign = -1 if match["sign"] == "-" else 1
        suffix = match["suffix"]
        if suffix in _BINARY_SUFFIXES:
            amount = min(number * 1024 ** _BINARY_SUFFIXES[suffix], _MAX_BINARY_AMOUNT)
            # Like apimachinery: a binary amount below one is kept in decimal form (0.5Ki
            # is 512, but 0.0001Ki is 102400u, not a fraction of a Ki).
            if 0 < amount < 1:
                return cls(sign * amount, QuantityFormat.DECIMAL_SI)
            return cls(sign * amount, QuantityFormat.BINARY_SI)
        number *= sign
        if suffix[:1] in ("e", "E") and len(suffix) > 1:
            return cls(number * Fraction(10) ** int(suffix[1:]), QuantityFormat.DECIMAL_EXPONENT)
        return cls(number * Fraction(10) ** _DECIMAL_SUFFIXES[suffix], QuantityFormat.DECIMAL_SI)

    def stored_value(self) -> Fraction:
        """The value the API server stores: rounded up to a whole nano-unit."""
        return _round_to_nano(self.value)

    def canonical(self) -> str:
        """The text the API server would store for this quantity (format preserved)."""
        value = self.stored_value()
        if self.format is QuantityFormat.BINARY_SI and _fits_binary(value):
            return _binary_text(value)
        if self.format is QuantityFormat.DECIMAL_EXPONENT:
            return _decimal_text(value, use_si_suffixes=False)
        return _decimal_text(value, use_si_suffixes=True)

    def normalized(self) -> str:
        """A text that depends only on the value, so equal values give equal texts.

        `1Gi` and `1073741824` both give `1Gi`; `1e3`, `1000` and `1k` all give `1k`.
        The shorter of the binary and decimal spellings wins (decimal on a tie).
        """
        value = self.stored_value()
        decimal = _decimal_text(value, use_si_suffixes=True)
        if not _fits_binary(value):
            return decimal
        binary = _binary_text(value)
        return binary if len(binary) < len(decimal) else decimal

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.stored_value() == other.stored_value()

    def __hash__(self) -> int:
        return hash(self.stored_value())

    def __str__(self) -> str:
        return self.canonical()


def parse_quantity(raw: str | int | float) -> Quantity:
    """Parse a quantity; raises `InputError` when it is not one."""
    return Quantity.parse(raw)


def quantities_equal(left: str | int | float, right: str | int | float) -> bool:
    """True when both quantities have the same stored value (`0.5` == `500m`)."""
    return Quantity.parse(left) == Quantity.parse(right)


def normalize_quantity(raw: object) -> object:
    """The value-only text of a quantity, or `raw` unchanged when it is not a quantity.

    Manifests may carry template placeholders or plain mistakes in quantity fields; those are
    left for the API server to reject rather than failing the comparison.
    """
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return raw
    try:
        return Quantity.parse(raw).normalized()
    except InputError:
        return raw


def _quantity_text(raw: str | int | float) -> str:
    if isinstance(raw, bool):
        raise InputError(f"invalid quantity {raw!r}", hint="a quantity is a number or a string")
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InputError(f"invalid quantity {raw!r}")
        # repr() is the shortest text that reads back as the same float: YAML `0.1` -> "0.1".
        return repr(raw)
    if isinstance(raw, int):
        return str(raw)
    return raw


def _round_to_nano(value: Fraction) -> Fraction:
    scaled = value / _SMALLEST_UNIT
    if scaled.denominator == 1:
        return value
    magnitude = math.ceil(abs(scaled))
    return Fraction(magnitude if value > 0 else -magnitude) * _SMALLEST_UNIT


def _fits_binary(value: Fraction) -> bool:
    # Like the server: binary suffixes only for whole numbers of at least 1024 in magnitude.
    return value.denominator == 1 and abs(value) >= 1024


def _binary_text(value: Fraction) -> str:
    mantissa, power = int(value), 0
    while mantissa % 1024 == 0 and power < max(_BINARY_SUFFIX_OF_POWER):
        mantissa //= 1024
        power += 1
    return f"{mantissa}{_BINARY_SUFFIX_OF_POWER.get(power, '')}"


def _decimal_text(value: Fraction, *, use_si_suffixes: bool) -> str:
    """Integer mantissa with the largest exponent that is a multiple of three."""
    mantissa, exponent = int(value / _SMALLEST_UNIT), -9
    if mantissa == 0:
        return "0"
    while mantissa % 1000 == 0:
        mantissa //= 1000
        exponent += 3
    if use_si_suffixes and exponent in _DECIMAL_SUFFIX_OF_EXPONENT:
        return f"{mantissa}{_DECIMAL_SUFFIX_OF_EXPONENT[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)
