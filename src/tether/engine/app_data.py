"""ConfigMaps and Secrets an Application may read at render time: `helm.valuesFrom`
(labelled `tether.dev/helm-values: "true"`) and `postBuild.substituteFrom` (labelled
`tether.dev/post-build-variables: "true"`). The app namespace holds tether's own Secrets
too (repository credentials, cluster kubeconfigs, age keys): an object without the
label is refused, so a reference by name cannot render one of them into a manifest."""

from __future__ import annotations

import base64
import binascii

from tether.errors import InputError
from tether.kube import KubeClient
from tether.model.application import Application
from tether.model.names import HELM_VALUES_LABEL, POST_BUILD_VARIABLES_LABEL


async def _labelled_data(
    kube: KubeClient, app: Application, kind: str, name: str, optional: bool, label: str, use: str
) -> dict[str, str] | None:
    """The object's data (a Secret's decoded), None when it is absent and optional."""
    where = f"Application {app.name}: {use} {kind} {app.namespace}/{name}"
    obj = await kube.get("v1", kind, name, app.namespace)
    if obj is None:
        if optional:
            return None
        raise InputError(f"{where} not found", hint="create it, or set optional: true")
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(label) != "true":
        raise InputError(
            f"{where} is not labelled {label}=true: tether reads only ConfigMaps and Secrets"
            " made for it",
            hint=f"kubectl label {kind.lower()} {name} {label}=true",
        )
    data = {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
    if kind != "Secret":
        return data
    try:
        return {k: base64.b64decode(v, validate=True).decode() for k, v in data.items()}
    except (binascii.Error, UnicodeDecodeError):
        raise InputError(f"{where}: a value is not base64 UTF-8 text") from None


async def values_from(kube: KubeClient, app: Application) -> tuple[str, ...]:
    """The values texts of helm.valuesFrom, in order."""
    helm = app.spec.source.helm
    if helm is None or not helm.values_from:
        return ()
    texts = []
    for ref in helm.values_from:
        use = "helm.valuesFrom"
        data = await _labelled_data(
            kube, app, ref.kind, ref.name, ref.optional, HELM_VALUES_LABEL, use
        )
        if data is None:
            continue
        if ref.values_key not in data:
            if ref.optional:
                continue
            raise InputError(
                f"Application {app.name}: {use} {ref.kind} {app.namespace}/{ref.name}"
                f" has no key {ref.values_key}"
            )
        texts.append(data[ref.values_key])
    return tuple(texts)


async def substitutions(kube: KubeClient, app: Application) -> dict[str, str]:
    """postBuild variables: substituteFrom in order (a later one wins), then substitute."""
    post_build = app.spec.post_build
    if post_build is None:
        return {}
    variables: dict[str, str] = {}
    for ref in post_build.substitute_from:
        use = "postBuild.substituteFrom"
        data = await _labelled_data(
            kube, app, ref.kind, ref.name, ref.optional, POST_BUILD_VARIABLES_LABEL, use
        )
        variables.update(data or {})
    variables.update(post_build.substitute)
    return variables
