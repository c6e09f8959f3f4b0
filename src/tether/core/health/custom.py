"""Custom health rules: jq programs or CEL expressions per group/kind, from the
`tether-health-rules` ConfigMap of an app namespace or the Application's
`spec.healthChecks`.

One list format for both places (docs/health.md):

    - group: argoproj.io          # glob; "" (the default) is the core group
      kind: Rollout               # glob, required
      jq: '{status: "Healthy"}'   # a jq program printing {status, message} or a status
    - group: example.com
      kind: Widget
      cel:                        # Flux healthCheckExprs: current required
        current: "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')"
        inProgress: "..."
        failed: "..."
    - apiVersion: example.com/v1  # Flux's own spelling also works: apiVersion for the
      kind: Widget                # group, and the expressions at the top level
      current: "..."
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jq as jq_lang  # aliased: CustomHealthRule has a field named `jq`
import orjson

from tether.core.paths import ObjView
from tether.errors import InputError
from tether.model.fields import show
from tether.model.keys import split_api_version

from .cel import CEL_FIELDS, CelHealthExpressions
from .status import HealthStatus, ResourceHealth, unknown


@dataclass(frozen=True)
class CustomHealthRule:
    """An operator-supplied health rule for objects whose group and kind match the globs.

    `jq` is a jq program run on the object; it must output `{"status": ..., "message":
    ...}` or a bare status string. `cel` holds Flux-style CEL expressions. Exactly one of
    them is set. `group` defaults to the core group (""), as in ignoreDifferences.
    Constructing a rule validates and compiles it.
    """

    kind: str
    group: str = ""
    jq: str | None = None
    cel: CelHealthExpressions | None = None
    _program: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Messages start with the field name so parse_health_rules can prefix a path.
        if not self.kind:
            raise InputError("kind: required (a glob such as 'Rollout' or '*')")
        if (self.jq is None) == (self.cel is None):
            raise InputError(
                "jq: exactly one of 'jq' or 'cel' must be set",
                hint="a jq program under 'jq', or CEL expressions under 'cel' "
                "(current, inProgress, failed)",
            )
        if self.jq is not None:
            try:
                program = jq_lang.compile(self.jq)
            except ValueError as err:
                raise InputError(f"jq: invalid program: {_first_line(err)}") from None
            object.__setattr__(self, "_program", program)

    @property
    def language(self) -> str:
        return "jq" if self.jq is not None else "cel"

    def matches(self, group: str, kind: str) -> bool:
        return fnmatch.fnmatchcase(group, self.group) and fnmatch.fnmatchcase(kind, self.kind)

    def evaluate(self, obj: ObjView) -> ResourceHealth:
        """Run the rule; any failure of the rule itself is Unknown, never an exception."""
        if self.cel is not None:
            return self.cel.evaluate(obj, self.describe())
        try:
            output = self._program.input_text(orjson.dumps(obj).decode()).first()
        except StopIteration:
            return _rule_failed(self, "produced no output")
        except (ValueError, TypeError) as err:
            return _rule_failed(self, f"failed: {_first_line(err)}")
        return _health_from_rule_output(self, output)

    def describe(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def to_spec(self) -> dict[str, Any]:
        """The rule as `parse_health_rules` reads it (to rebuild it in another process)."""
        spec: dict[str, Any] = {"kind": self.kind, "group": self.group}
        if self.jq is not None:
            spec["jq"] = self.jq
        if self.cel is not None:
            spec["cel"] = self.cel.to_dict()
        return spec


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _rule_failed(rule: CustomHealthRule, problem: str) -> ResourceHealth:
    return unknown(f"custom health rule for {rule.describe()} {problem}")


def _health_from_rule_output(rule: CustomHealthRule, output: object) -> ResourceHealth:
    if isinstance(output, str):
        status_text, message = output, ""
    elif isinstance(output, Mapping) and isinstance(output.get("status"), str):
        status_text = output["status"]
        raw_message = output.get("message")
        message = "" if raw_message is None else str(raw_message)
    else:
        shown = orjson.dumps(output).decode()[:200]
        return _rule_failed(
            rule, f'must output {{"status": ..., "message": ...}} or a status string, got {shown}'
        )
    try:
        return ResourceHealth(HealthStatus.parse(status_text), message)
    except ValueError as err:
        return _rule_failed(rule, f"returned an invalid status: {err}")


# Tuples: error messages list the fields in a stable order.
_RULE_FIELDS = ("group", "apiVersion", "kind", "jq", "cel", *CEL_FIELDS)
_STRING_FIELDS = ("group", "apiVersion", "kind", "jq", *CEL_FIELDS)


def _cel_expressions(item: Mapping[str, Any], path: str) -> CelHealthExpressions | None:
    """The CEL expressions of a rule, from `cel: {...}` or from Flux's top-level keys."""
    flat = {name: item[name] for name in CEL_FIELDS if name in item}
    nested = item.get("cel")
    if nested is None and not flat:
        return None
    if nested is not None and flat:
        raise InputError(
            f"{path}: set the CEL expressions under 'cel' or at the top level, not both"
        )
    where = f"{path}.cel" if nested is not None else path
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise InputError(
                f"{where}: must be a mapping with 'current' (and optional 'inProgress', "
                f"'failed'), got {show(nested)}"
            )
        unknown_keys = sorted(str(key) for key in nested if key not in CEL_FIELDS)
        if unknown_keys:
            raise InputError(
                f"{where}: unknown field(s) {', '.join(unknown_keys)} "
                "(allowed: current, inProgress, failed)"
            )
        flat = dict(nested)
    for name, value in flat.items():
        if not isinstance(value, str):
            raise InputError(f"{where}.{name}: must be a string, got {show(value)}")
    if "current" not in flat:
        raise InputError(f"{where}.current: required (the expression that means Healthy)")
    try:
        return CelHealthExpressions(
            current=flat["current"], in_progress=flat.get("inProgress"), failed=flat.get("failed")
        )
    except InputError as err:
        # The expressions report themselves as `cel.<name>`: put them at their real path.
        field_part = err.message.removeprefix("cel.")
        raise InputError(f"{where}.{field_part}", hint=err.hint) from None


def _group_of(item: Mapping[str, Any], path: str) -> str:
    if "apiVersion" in item:
        if "group" in item:
            raise InputError(f"{path}: set 'group' or 'apiVersion', not both")
        group, _ = split_api_version(str(item["apiVersion"]))
        return group
    return str(item.get("group", ""))


def _parse_rule(item: object, path: str) -> CustomHealthRule:
    if not isinstance(item, Mapping):
        raise InputError(
            f"{path}: must be a mapping with 'kind' and 'jq' or 'cel', got {show(item)}"
        )
    unknown_fields = sorted(str(key) for key in item if key not in _RULE_FIELDS)
    if unknown_fields:
        raise InputError(
            f"{path}: unknown field(s) {', '.join(unknown_fields)} "
            f"(allowed: {', '.join(_RULE_FIELDS)})"
        )
    for name in _STRING_FIELDS:
        if name in item and not isinstance(item[name], str):
            raise InputError(f"{path}.{name}: must be a string, got {show(item[name])}")
    if "jq" in item and ("cel" in item or any(name in item for name in CEL_FIELDS)):
        raise InputError(f"{path}.jq: exactly one of 'jq' or 'cel' must be set")
    group = _group_of(item, path)
    cel = _cel_expressions(item, path)
    try:
        return CustomHealthRule(kind=item.get("kind", ""), group=group, jq=item.get("jq"), cel=cel)
    except InputError as err:
        raise InputError(f"{path}.{err.message}", hint=err.hint) from None


def parse_health_rules(raw: object, *, where: str = "healthChecks") -> list[CustomHealthRule]:
    """Rules from a list of `{group, kind, jq | cel}` mappings; `where` names the field."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError(f"{where}: must be a list of rules, got {type(raw).__name__}")
    return [_parse_rule(item, f"{where}[{index}]") for index, item in enumerate(raw)]
