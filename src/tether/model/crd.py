"""tether's CRDs as data, read from the package (so an installed tether can install them).

`deploy/crds/*.yaml` are the copies people `kubectl apply`; the packaged copies under
`tether/model/crds/` must stay byte-identical to them (a unit test checks).
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

CRD_FILES = ("application.yaml", "project.yaml", "provider.yaml", "alert.yaml")  # install order

# PyYAML's C loader when it is built, as everywhere else in tether (DESIGN §1).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crd_text(file_name: str) -> str:
    return resources.files("tether.model").joinpath("crds", file_name).read_text(encoding="utf-8")


def application_crd_text() -> str:
    """The Application CRD manifest as shipped, for printing or applying verbatim."""
    return crd_text("application.yaml")


@cache
def _parsed(file_name: str) -> dict[str, Any]:
    loaded = yaml.load(crd_text(file_name), Loader=_Loader)
    if not isinstance(loaded, dict):
        raise TypeError(f"crds/{file_name} does not hold a YAML mapping")
    return loaded


def application_crd() -> dict[str, Any]:
    """The `applications.tether.dev` CustomResourceDefinition as a plain dict.

    Each call returns a fresh copy: callers may add labels or strip fields before applying
    without changing what the next caller sees.
    """
    return copy.deepcopy(_parsed("application.yaml"))


def tether_crds() -> list[dict[str, Any]]:
    """Every CRD tether serves (Application, Project, Provider, Alert), fresh copies, in
    install order."""
    return [copy.deepcopy(_parsed(name)) for name in CRD_FILES]
