"""The engine's entry to comparisons and health checks that may run user-supplied jq."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from tether.core.diff import AppDiff, compare_app
from tether.core.health import CustomHealthRule, ResourceHealth, assess_health, matching_rule
from tether.core.ignore import parse_ignore_rules
from tether.core.managers import Takeover, takeover_for
from tether.model.keys import ResourceKey

from .pool import EvaluationLimits, WorkerPool


class Evaluator:
    """Compares and assesses health in-process, or in a killable worker when jq is involved."""

    def __init__(self, limits: EvaluationLimits | None = None) -> None:
        self.pool = WorkerPool(limits)

    @property
    def limits(self) -> EvaluationLimits:
        return self.pool.limits

    async def compare_app(
        self,
        desired: Sequence[dict[str, Any]],
        live: Mapping[ResourceKey, dict[str, Any]],
        predicted: Mapping[ResourceKey, dict[str, Any]],
        ignore_specs: Sequence[Mapping[str, Any]],
        *,
        what: str,
        strict_manual_edits: bool = False,
    ) -> AppDiff:
        rules = parse_ignore_rules(ignore_specs)  # syntax errors are reported here, at once
        if not any(rule.jq_path_expressions for rule in rules):
            return await asyncio.to_thread(
                functools.partial(compare_app, strict_manual_edits=strict_manual_edits),
                desired,
                live,
                predicted,
                rules,
            )
        specs = [dict(spec) for spec in ignore_specs]
        job = ("compare", list(desired), dict(live), dict(predicted), specs, strict_manual_edits)
        result: AppDiff = await self.pool.run(job, what=f"{what}: comparing (jq ignore rules)")
        return result

    async def assess_health(
        self,
        objects: Sequence[dict[str, Any]],
        rules: Sequence[CustomHealthRule],
        *,
        what: str,
    ) -> list[ResourceHealth | None]:
        """Health of each object, in order; objects a jq rule matches go to a worker."""
        ruled = [i for i, obj in enumerate(objects) if matching_rule(obj, rules) is not None]
        with_rule = set(ruled)
        results: list[ResourceHealth | None] = [
            None if i in with_rule else assess_health(obj) for i, obj in enumerate(objects)
        ]
        if not ruled:
            return results
        specs = [rule.to_spec() for rule in rules]
        job = ("health", [objects[i] for i in ruled], specs)
        healths: list[ResourceHealth | None] = await self.pool.run(
            job, what=f"{what}: custom health rules"
        )
        for index, health in zip(ruled, healths, strict=True):
            results[index] = health
        return results

    async def plan_takeover(
        self,
        live: dict[str, Any],
        desired: dict[str, Any] | None,
        drifted: Sequence[str],
        ignore_specs: Sequence[Mapping[str, Any]],
        *,
        what: str,
    ) -> Takeover | None:
        """Which fields of a person's tools become tether's (core.managers.takeover_for);
        in a worker when a jq ignore rule decides which fields are protected."""
        rules = parse_ignore_rules(ignore_specs)
        if not any(rule.jq_path_expressions for rule in rules):
            return takeover_for(live, desired, drifted, ignore_specs)
        job = ("takeover", live, desired, list(drifted), [dict(spec) for spec in ignore_specs])
        result: Takeover | None = await self.pool.run(job, what=f"{what}: jq ignore rules")
        return result

    async def close(self) -> None:
        await self.pool.close()


__all__ = ["Evaluator"]
