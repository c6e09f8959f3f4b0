"""The evaluation workers: user-supplied jq is stopped when it runs past its limits,
and whatever the jq does, the caller gets one clear error and the next job works."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.support import manifests
from tether.core.health import HealthStatus, parse_health_rules
from tether.errors import InputError
from tether.model.keys import ResourceKey
from tether.sandbox import EvaluationLimits, EvaluationTimeout, Evaluator


def configmap(name: str = "settings", **data: str) -> dict[str, Any]:
    return manifests.configmap(name, data or {"mode": "blue"}, namespace="shop")


@pytest.fixture
async def evaluator() -> Any:
    ev = Evaluator(EvaluationLimits(timeout=2.0, memory_bytes=512 << 20, workers=1))
    try:
        yield ev
    finally:
        await ev.close()


async def _compare(ev: Evaluator, expressions: list[str], live_mode: str = "green") -> Any:
    desired, live = configmap(), configmap(mode=live_mode)
    key = ResourceKey.of(desired)
    rules = [{"kind": "ConfigMap", "jqPathExpressions": expressions}]
    return await ev.compare_app([desired], {key: live}, {key: desired}, rules, what="app shop")


async def test_a_jq_rule_runs_in_a_worker_and_ignores_its_path(evaluator: Evaluator) -> None:
    with_rule = await _compare(evaluator, [".data.mode"])
    assert with_rule.out_of_sync == []
    # Without the rule the same change is a difference: the rule is what hides it.
    key = ResourceKey.of(configmap())
    without = await evaluator.compare_app(
        [configmap()], {key: configmap(mode="green")}, {key: configmap()}, [], what="app shop"
    )
    assert [d.paths for d in without.out_of_sync] == [["/data/mode"]]
    assert evaluator.pool.started == 1


async def test_a_looping_jq_rule_is_stopped_at_its_deadline(evaluator: Evaluator) -> None:
    started = time.monotonic()
    with pytest.raises(EvaluationTimeout, match=r"app shop: comparing .* within 2s"):
        await _compare(evaluator, [".data | repeat(.)"])
    assert time.monotonic() - started < 4
    assert evaluator.pool.killed == 1
    # The killed worker is replaced: the next evaluation works.
    assert (await _compare(evaluator, [".data.mode"])).out_of_sync == []


async def test_a_jq_rule_that_allocates_without_end_is_stopped(evaluator: Evaluator) -> None:
    # Doubles a string until the worker's memory limit stops it (or the deadline does).
    expression = "[limit(100; .data.mode | recurse(. + .))] | .[] | path(..) | select(false)"
    with pytest.raises(InputError, match="app shop: comparing"):
        await _compare(evaluator, [expression])


async def test_a_looping_health_rule_is_stopped_and_builtins_still_answer(
    evaluator: Evaluator,
) -> None:
    looping = parse_health_rules([{"kind": "ConfigMap", "jq": "def f: f; f"}])
    with pytest.raises(EvaluationTimeout, match="custom health rules"):
        await evaluator.assess_health([configmap()], looping, what="app shop")
    healthy = parse_health_rules([{"kind": "ConfigMap", "jq": '"Healthy"'}])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": {}}
    results = await evaluator.assess_health([configmap(), pod], healthy, what="app shop")
    assert results[0] is not None and results[0].status is HealthStatus.HEALTHY
    assert results[1] is not None and results[1].status is not HealthStatus.HEALTHY


async def test_no_jq_means_no_worker(evaluator: Evaluator) -> None:
    await evaluator.compare_app([configmap()], {}, {}, [{"kind": "ConfigMap"}], what="app")
    await evaluator.assess_health([configmap()], [], what="app")
    assert evaluator.pool.started == 0


async def test_concurrent_jobs_share_the_bounded_pool(evaluator: Evaluator) -> None:
    results = await asyncio.gather(*(_compare(evaluator, [".data.mode"]) for _ in range(5)))
    assert all(r.out_of_sync == [] for r in results)
    assert evaluator.pool.started == 1  # one worker (the limit), reused
