"""`spec.postBuild.substitute` and `substituteFrom` (Flux's names and semantics):
variables substituted in every rendered object, after the render, as Flux's
kustomize-controller does. `substituteFrom` reads ConfigMaps/Secrets of the app
namespace labelled `tether.dev/post-build-variables: "true"` only (that namespace holds
tether's own Secrets), in order; `substitute` wins over them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.model.fields import Fields, check_name, drop_none

# Flux's variable names: letters, digits and underscores, not starting with a digit.
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An object with this annotation or label is left as rendered (Flux's opt-out).
SUBSTITUTE_OPT_OUT = "kustomize.toolkit.fluxcd.io/substitute"
# substituteFrom reads only ConfigMaps/Secrets labelled names.POST_BUILD_VARIABLES_LABEL.
VARIABLES_KINDS = ("ConfigMap", "Secret")


@dataclass(frozen=True)
class VariablesReference:
    kind: str
    name: str
    optional: bool = False

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {"kind": self.kind, "name": self.name, "optional": True if self.optional else None}
        )


@dataclass(frozen=True)
class PostBuild:
    substitute: Mapping[str, str] = field(default_factory=dict)
    substitute_from: tuple[VariablesReference, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "substitute": dict(self.substitute) or None,
                "substituteFrom": [r.to_dict() for r in self.substitute_from] or None,
            }
        )


def _parse_reference(fields: Fields) -> VariablesReference:
    fields.only(("kind", "name", "optional"))
    kind = fields.required_string("kind")
    if kind and kind not in VARIABLES_KINDS:
        fields.problem("kind", f"must be ConfigMap or Secret, got {kind!r}")
    name = fields.required_string("name")
    check_name(fields, "name", name)
    return VariablesReference(kind=kind, name=name, optional=fields.boolean("optional"))


def parse_post_build(fields: Fields) -> PostBuild:
    fields.only(("substitute", "substituteFrom"))
    variables = fields.string_map("substitute")
    for name in variables:
        if not VARIABLE_NAME.match(name):
            fields.problem(
                "substitute",
                f"variable names are letters, digits and _ (not first), got {name!r}",
            )
    return PostBuild(
        substitute=dict(variables),
        substitute_from=tuple(_parse_reference(r) for r in fields.children("substituteFrom")),
    )
