"""`spec.postBuild.substitute` (Flux's name and semantics): variables substituted in
every rendered object, after the render, as Flux's kustomize-controller does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.model.fields import Fields

# Flux's variable names: letters, digits and underscores, not starting with a digit.
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An object with this annotation or label is left as rendered (Flux's opt-out).
SUBSTITUTE_OPT_OUT = "kustomize.toolkit.fluxcd.io/substitute"


@dataclass(frozen=True)
class PostBuild:
    substitute: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"substitute": dict(self.substitute)}


def parse_post_build(fields: Fields) -> PostBuild:
    fields.only(("substitute",))
    variables = fields.string_map("substitute")
    for name in variables:
        if not VARIABLE_NAME.match(name):
            fields.problem(
                "substitute",
                f"variable names are letters, digits and _ (not first), got {name!r}",
            )
    return PostBuild(substitute=dict(variables))
