"""`spec.source.helm.valuesFrom`: the values texts of an app's ConfigMaps and Secrets,
read for each render, each only when labelled `tether.dev/helm-values: "true"` (the app
namespace holds tether's own Secrets too: model/helm_values.py)."""

from __future__ import annotations

import base64
import binascii

from tether.errors import InputError
from tether.kube import KubeClient
from tether.model.application import Application
from tether.model.names import HELM_VALUES_LABEL


async def values_from(kube: KubeClient, app: Application) -> tuple[str, ...]:
    helm = app.spec.source.helm
    if helm is None or not helm.values_from:
        return ()
    texts = []
    for ref in helm.values_from:
        where = f"Application {app.name}: helm.valuesFrom {ref.kind} {app.namespace}/{ref.name}"
        obj = await kube.get("v1", ref.kind, ref.name, app.namespace)
        if obj is None:
            if ref.optional:
                continue
            raise InputError(f"{where} not found", hint="create it, or set optional: true")
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if labels.get(HELM_VALUES_LABEL) != "true":
            raise InputError(
                f"{where} is not labelled {HELM_VALUES_LABEL}=true: tether reads only"
                " ConfigMaps and Secrets made for Helm values",
                hint=f"kubectl label {ref.kind.lower()} {ref.name} {HELM_VALUES_LABEL}=true",
            )
        data = obj.get("data") or {}
        if ref.values_key not in data:
            if ref.optional:
                continue
            raise InputError(f"{where} has no key {ref.values_key}")
        value = str(data[ref.values_key])
        if ref.kind == "Secret":
            try:
                value = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise InputError(f"{where}: {ref.values_key} is not base64 UTF-8 text") from None
        texts.append(value)
    return tuple(texts)
