"""Table tests over tests/unit/data/normalize: one object per file, normalized as a
compare does before diffing, with the values it must have (`expect.at`: pointer ->
value) and the fields it must not have (`expect.absent`: pointers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.core.normalize import normalize
from tether.core.paths import ABSENT, value_at

DATA = Path(__file__).parent / "data" / "normalize"
CASES = sorted(DATA.glob("*.yaml"))


def test_there_are_cases() -> None:
    assert len(CASES) >= 7


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_normalized_object(path: Path) -> None:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    assert isinstance(case.get("about"), str) and "expect" in case, f"{path}: about + expect"
    result = normalize(case["normalize"])
    expect = case["expect"]
    for pointer, value in (expect.get("at") or {}).items():
        assert value_at(result, pointer) == value, (pointer, value_at(result, pointer))
    for pointer in expect.get("absent") or ():
        assert value_at(result, pointer) is ABSENT, (pointer, value_at(result, pointer))
    # Without normalization the same object differs at a listed pointer (the case shows
    # something normalization does, not what the input already was).
    raw = case["normalize"]
    assert any(value_at(raw, p) != v for p, v in (expect.get("at") or {}).items()) or any(
        value_at(raw, p) is not ABSENT for p in expect.get("absent") or ()
    )
