"""Built-in health rules for the custom resources platform teams run most, with the
behaviour Argo CD's bundled health scripts describe (tether's own implementation).

Each module maps (group, kind) to a checker in its `RULES`; `crossplane` also claims
whole API groups and the claims/composites of any group (by their spec shape). A custom
rule for the same group/kind replaces the built-in one (see `dispatch`).
"""

from __future__ import annotations

from . import (
    cert_manager,
    cnpg,
    external_secrets,
    flux,
    gateway_api,
    keda,
    knative,
    prometheus,
    rollouts,
    strimzi,
)
from .crossplane import RULES as CROSSPLANE_RULES
from .crossplane import crossplane_rule_for

RULES = {
    **cert_manager.RULES,
    **external_secrets.RULES,
    **rollouts.RULES,
    **keda.RULES,
    **flux.RULES,
    **CROSSPLANE_RULES,
    **gateway_api.RULES,
    **prometheus.RULES,
    **strimzi.RULES,
    **cnpg.RULES,
    **knative.RULES,
}

__all__ = ["RULES", "crossplane_rule_for"]
