"""The Application CRD as data, read from the package (so an installed tether can install it).

`deploy/crds/application.yaml` is the copy people `kubectl apply`; the packaged copy under
`tether/model/crds/` must stay byte-identical to it (a unit test checks).
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

_CRD_RESOURCE = "crds/application.yaml"

# PyYAML's C loader when it is built, as everywhere else in tether (DESIGN §1).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def application_crd_text() -> str:
    """The CRD manifest as shipped, for printing or applying verbatim."""
    return resources.files("tether.model").joinpath(_CRD_RESOURCE).read_text(encoding="utf-8")


@cache
def _parsed_crd() -> dict[str, Any]:
    loaded = yaml.load(application_crd_text(), Loader=_Loader)
    if not isinstance(loaded, dict):
        raise TypeError(f"{_CRD_RESOURCE} does not hold a YAML mapping")
    return loaded


def application_crd() -> dict[str, Any]:
    """The `applications.tether.dev` CustomResourceDefinition as a plain dict.

    Each call returns a fresh copy: callers may add labels or strip fields before applying
    without changing what the next caller sees.
    """
    return copy.deepcopy(_parsed_crd())
