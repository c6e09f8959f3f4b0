"""Table tests over tests/unit/data/health: one object per file with the health (or the
comparison verdict, or the quantity value) it must get.

`traits/` holds one case per fidelity trait of issue 14 (each fails without its fix);
`kinds/` the per-CRD built-in rules. A file is YAML with `about` and `expect`, and one of:
- `object:` -> `expect: {status: <HealthStatus or null>, message-contains: <text>}`
- `compare: {desired, live}` (the fallback compare, no dry-run) -> `expect: {verdict, paths}`
- `quantity: <text>` -> `expect: {value: <exact decimal>, format: <QuantityFormat>}`
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.core.diff import compare_object
from tether.core.health import assess_health
from tether.core.quantity import Quantity

DATA = Path(__file__).parent / "data" / "health"
CASES = sorted(DATA.rglob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    assert isinstance(case.get("about"), str) and "expect" in case, f"{path}: about + expect"
    return case


def test_the_table_covers_every_trait_and_kind_family() -> None:
    names = {path.relative_to(DATA).as_posix() for path in CASES}
    for trait in range(1, 7):
        assert any(name.startswith(f"traits/{trait}-") for name in names), trait
    for family in (
        "cert-manager",
        "external-secret",
        "rollout",
        "keda",
        "flux",
        "crossplane",
        "gateway",
        "httproute",
        "prometheus",
        "alertmanager",
        "kafka",
        "cnpg",
    ):
        assert any(name.startswith(f"kinds/{family}") for name in names), family


@pytest.mark.parametrize(
    "path", CASES, ids=lambda p: p.relative_to(DATA).with_suffix("").as_posix()
)
def test_case(path: Path) -> None:
    case = _load(path)
    expect = case["expect"]
    if "object" in case:
        health = assess_health(case["object"])
        if expect["status"] is None:
            assert health is None, case["about"]
            return
        assert health is not None, case["about"]
        assert health.status.value == expect["status"], f"{case['about']}: {health}"
        assert str(expect.get("message-contains", "")).lower() in health.message.lower(), health
    elif "compare" in case:
        diff = compare_object(case["compare"]["desired"], case["compare"]["live"])
        assert diff.verdict.value == expect["verdict"], f"{case['about']}: {diff.paths}"
        assert diff.paths == expect.get("paths", [])
    else:
        quantity = Quantity.parse(case["quantity"])
        assert quantity.stored_value() == Fraction(expect["value"]), case["about"]
        assert quantity.format.value == expect["format"], case["about"]
