"""`spec.healthChecks` of an Application: custom health rules for its own objects.

The same rules as the `tether-health-rules` ConfigMap (tether.core.health.custom,
docs/health.md): per group/kind a jq program, or Flux-style CEL expressions (`current`,
`inProgress`, `failed`). Only their shape is checked here; the expressions are compiled
(and refused with their path) by tether.core.health when the app is compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.model.fields import Fields, drop_none
from tether.model.keys import split_api_version

CEL_KEYS = ("current", "inProgress", "failed")
_FIELDS = ("group", "apiVersion", "kind", "jq", "cel", *CEL_KEYS)


@dataclass(frozen=True)
class HealthCheck:
    """One custom health rule; exactly one of `jq` or `current` (with the optional
    `in_progress`/`failed`) is set. `group`/`kind` are globs; "" is the core group."""

    kind: str
    group: str = ""
    jq: str | None = None
    current: str | None = None
    in_progress: str | None = None
    failed: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The rule in the ConfigMap's list format (what tether.core.health parses)."""
        cel = drop_none(
            {"current": self.current, "inProgress": self.in_progress, "failed": self.failed}
        )
        return drop_none(
            {
                "group": self.group or None,
                "kind": self.kind,
                "jq": self.jq,
                "cel": cel or None,
            }
        )


def parse_health_check(fields: Fields) -> HealthCheck:
    fields.only(_FIELDS)
    kind = fields.required_string("kind")
    if fields.has("group") and fields.has("apiVersion"):
        fields.problems.add(fields.path, "set 'group' or 'apiVersion', not both")
    api_version = fields.optional_string("apiVersion")
    group = split_api_version(api_version)[0] if api_version else fields.string("group")
    nested = fields.child("cel")
    flat_keys = [key for key in CEL_KEYS if fields.has(key)]
    if nested is not None and flat_keys:
        fields.problems.add(
            fields.path, "set the CEL expressions under 'cel' or at the top level, not both"
        )
    source = nested if nested is not None else fields
    if nested is not None:
        nested.only(CEL_KEYS)
    current = source.optional_string("current")
    in_progress = source.optional_string("inProgress")
    failed = source.optional_string("failed")
    jq = fields.optional_string("jq")
    has_cel = nested is not None or bool(flat_keys)
    if (jq is None) == (not has_cel):
        fields.problems.add(
            fields.path, "must set exactly one of 'jq' or CEL expressions ('cel': {current, ...})"
        )
    elif has_cel and current is None:
        fields.problems.add(source.path_of("current"), "is required for a CEL rule")
    return HealthCheck(
        kind=kind,
        group=group,
        jq=jq,
        current=current,
        in_progress=in_progress,
        failed=failed,
    )
