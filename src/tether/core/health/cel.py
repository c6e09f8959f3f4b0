"""CEL health rules with Flux's `healthCheckExprs` semantics (Flux >= 2.5).

A rule has a required `current` expression and optional `inProgress` and `failed` ones,
evaluated on the object (its top-level fields are the variables: `metadata`, `spec`,
`status`, ...). First, an object whose `status.observedGeneration` differs from
`metadata.generation` is Progressing and no expression is evaluated. Then `inProgress`,
`failed`, `current` are evaluated in that order and the first that is true gives
Progressing, Degraded or Healthy; none true is Progressing. An expression that fails at
run time (a field the controller has not written yet) leaves the object Progressing, as
Flux keeps waiting; one that yields something other than a bool is a broken rule
(Unknown).

CEL is not Turing-complete, but comprehensions nest (a pure-Python evaluator takes
seconds for `l.all(a, l.all(b, l.all(c, ...)))`), so rules run where jq rules run: in a
killable tether.sandbox worker. The evaluator (cel-python) is imported only when a CEL
rule is compiled, so processes without CEL rules never pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.core.paths import ObjView
from tether.errors import InputError

from .readers import conditions_of, describe, generation, observed_generation
from .status import HealthStatus, ResourceHealth, progressing, unknown

# Longer expressions are refused: parsing happens in the caller's process, before any
# sandbox is involved, so its cost must stay bounded.
MAX_EXPRESSION_CHARS = 4096

# Flux's order of evaluation, with the status each expression stands for.
_ORDER: tuple[tuple[str, HealthStatus], ...] = (
    ("inProgress", HealthStatus.PROGRESSING),
    ("failed", HealthStatus.DEGRADED),
    ("current", HealthStatus.HEALTHY),
)
CEL_FIELDS = tuple(name for name, _ in _ORDER)
_MAX_PROBLEM_CHARS = 200
_MISSING_FIELD = re.compile(
    r"(undeclared reference to|no such member in mapping:|no such key:) \\?'[^'\\]{0,100}\\?'"
)


@dataclass(frozen=True)
class CelHealthExpressions:
    """The expressions of one CEL rule; `current` is required, as in Flux."""

    current: str
    in_progress: str | None = None
    failed: str | None = None
    _programs: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, text in self.expressions():
            self._programs[name] = _compile(name, text)

    def expressions(self) -> Iterator[tuple[str, str]]:
        """(field name, expression) of the expressions that are set, in evaluation order."""
        by_name = {"inProgress": self.in_progress, "failed": self.failed, "current": self.current}
        for name, _ in _ORDER:
            text = by_name[name]
            if text is not None:
                yield name, text

    def to_dict(self) -> dict[str, str]:
        return dict(self.expressions())

    def evaluate(self, obj: ObjView, rule: str) -> ResourceHealth:
        """Health of `obj` by these expressions; `rule` names the rule in messages."""
        observed = observed_generation(obj)
        if observed is not None and observed != generation(obj):
            return progressing(
                f"Waiting for the controller to observe generation {generation(obj)} "
                f"(observed {observed})"
            )
        activation = _activation(obj)
        statuses = dict(_ORDER)
        for name, _ in self.expressions():
            outcome = _run(self._programs[name], activation)
            if isinstance(outcome, _Failure):
                if outcome.broken:
                    return unknown(
                        f"custom health rule for {rule}: {name} expression {outcome.problem}"
                    )
                return progressing(
                    f"custom health rule for {rule}: {name} expression: {outcome.problem}"
                )
            if outcome:
                return _verdict(statuses[name], name, obj, rule)
        return progressing(f"custom health rule for {rule}: waiting for current to be true")


@dataclass(frozen=True)
class _Failure:
    problem: str
    broken: bool  # the rule is wrong (not a bool), rather than the object not ready yet


def _verdict(status: HealthStatus, name: str, obj: ObjView, rule: str) -> ResourceHealth:
    ready = describe(conditions_of(obj).get("Ready"))
    if status is HealthStatus.HEALTHY:
        return ResourceHealth(status, ready)
    detail = f" ({ready})" if ready else ""
    return ResourceHealth(
        status, f"custom health rule for {rule}: {name} expression is true{detail}"
    )


def _compile(name: str, text: str) -> Any:
    if not text.strip():
        raise InputError(f"cel.{name}: is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise InputError(
            f"cel.{name}: expression is {len(text)} characters long "
            f"(at most {MAX_EXPRESSION_CHARS})"
        )
    import celpy  # cel-python, imported on first use: it is slow to load
    from celpy.celparser import CELParseError

    environment = celpy.Environment()
    try:
        return environment.program(environment.compile(text))
    except CELParseError as err:
        raise InputError(f"cel.{name}: invalid expression: {_first_line(err)}") from None
    except (RecursionError, ValueError, TypeError) as err:
        raise InputError(f"cel.{name}: invalid expression: {_first_line(err)}") from None


def _activation(obj: ObjView) -> dict[str, Any]:
    from celpy.adapter import json_to_cel

    return {str(key): json_to_cel(value) for key, value in obj.items()}


def _run(program: Any, activation: Mapping[str, Any]) -> bool | _Failure:
    from celpy import celtypes
    from celpy.evaluation import CELEvalError

    try:
        result = program.evaluate(activation)
    except CELEvalError as err:
        return _Failure(_eval_error(err), broken=False)
    except RecursionError:
        return _Failure("nested too deeply", broken=True)
    except Exception as err:  # a bug of the expression, never of tether: say what failed
        return _Failure(f"failed: {type(err).__name__}", broken=True)
    if isinstance(result, CELEvalError):
        return _Failure(_eval_error(result), broken=False)
    if not isinstance(result, celtypes.BoolType):
        return _Failure(f"must evaluate to a bool, got {type(result).__name__}", broken=True)
    return bool(result)


def _eval_error(err: Exception) -> str:
    # cel-python keeps (message, exception type, ...) in args, nests the errors of both
    # sides of `&&` / `||` in an overload error, and may append a dump of the whole
    # activation. The innermost missing-field error is what a person needs.
    text = str(err.args)
    missing = _MISSING_FIELD.search(text)
    if missing is not None:
        return missing.group(0).replace("\\'", "'")
    first = str(err.args[0] if err.args else err)
    line = first.split(" (in activation", 1)[0].splitlines()[0] if first else ""
    return (line or type(err).__name__)[:_MAX_PROBLEM_CHARS]


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
