"""`spec.source.helm.valuesFrom` (Flux's HelmRelease shape): Helm values from ConfigMaps
and Secrets of the Application's namespace, layered after valueFiles and before values.

Only objects labelled `tether.dev/helm-values: "true"` may be read: the app namespace
also holds tether's own Secrets (repository credentials, cluster kubeconfigs, age keys),
and a reference by name alone would let an app author render any of them into a
manifest (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.model.fields import Fields, check_name, drop_none, show

VALUES_KINDS = ("ConfigMap", "Secret")
DEFAULT_VALUES_KEY = "values.yaml"


@dataclass(frozen=True)
class ValuesReference:
    kind: str
    name: str
    values_key: str = DEFAULT_VALUES_KEY
    optional: bool = False

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "kind": self.kind,
                "name": self.name,
                "valuesKey": self.values_key if self.values_key != DEFAULT_VALUES_KEY else None,
                "optional": True if self.optional else None,
            }
        )


def parse_values_reference(fields: Fields) -> ValuesReference:
    fields.only(("kind", "name", "valuesKey", "optional", "targetPath"))
    if fields.has("targetPath"):
        fields.problem("targetPath", "is not supported: put the value under its path in the YAML")
    kind = fields.required_string("kind")
    if kind and kind not in VALUES_KINDS:
        fields.problem("kind", f"must be ConfigMap or Secret, got {show(kind)}")
    name = fields.required_string("name")
    check_name(fields, "name", name)
    return ValuesReference(
        kind=kind,
        name=name,
        values_key=fields.string("valuesKey", DEFAULT_VALUES_KEY) or DEFAULT_VALUES_KEY,
        optional=fields.boolean("optional"),
    )
