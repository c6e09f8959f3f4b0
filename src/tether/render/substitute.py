"""Flux's post-build variable substitution (`spec.postBuild.substitute`).

As Flux's kustomize-controller: on the YAML of each rendered object, `${var}` becomes the
variable's value, `${var:=default}` / `${var:-default}` (and without the colon) the
default when the variable is not set, an unset variable without a default the empty
string, and `$${var}` stays a literal `${var}`. `$var` without braces is left alone. An
object annotated or labelled `kustomize.toolkit.fluxcd.io/substitute: disabled` is not
touched. The result is read back as YAML under the render limits: a value may turn a
string into a number (`replicas: ${count}`), as it does with Flux.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from tether.model.post_build import SUBSTITUTE_OPT_OUT

from .limits import RenderLimits
from .loading import LoadBudget, load_yaml
from .request import RenderProblem

_VARIABLE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[=-])([^}]*))?\}")
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _disabled(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    for where in ("annotations", "labels"):
        if str((meta.get(where) or {}).get(SUBSTITUTE_OPT_OUT, "")).lower() == "disabled":
            return True
    return False


def substitute_text(text: str, variables: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        escaped, name, operator, default = match.groups()
        if escaped:
            return match.group(0)[1:]  # $${var} -> ${var}
        value = variables.get(name)
        if operator is None:
            return value or ""
        if operator.startswith(":"):  # also when set but empty
            return value if value else default
        return value if value is not None else default

    return _VARIABLE.sub(replace, text)


def substitute_objects(
    objects: list[dict[str, Any]], variables: Mapping[str, str], limits: RenderLimits
) -> list[dict[str, Any]]:
    budget = LoadBudget(limits)
    result = []
    for obj in objects:
        if _disabled(obj):
            result.append(obj)
            continue
        text = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        replaced = substitute_text(text, variables)
        if replaced == text:
            result.append(obj)
            continue
        name = f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"
        if len(replaced.encode()) > limits.max_file_bytes:
            raise RenderProblem(f"postBuild substitution: {name} grows past the size limit")
        documents = load_yaml(replaced, f"{name} after postBuild substitution", budget)
        if len(documents) != 1 or not isinstance(documents[0], dict):
            raise RenderProblem(f"postBuild substitution: {name} is no longer one object")
        result.append(documents[0])
    return result
