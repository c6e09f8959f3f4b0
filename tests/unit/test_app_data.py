"""`helm.valuesFrom` and `postBuild.substituteFrom`: ConfigMaps/Secrets of the app
namespace, read only when labelled for it (the namespace holds tether's own Secrets)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from tests.support.apps import application
from tether.engine.app_data import substitutions, values_from
from tether.errors import InputError
from tether.model.source import HelmSource

LABEL = {"tether.dev/helm-values": "true"}


class _Objects:
    """What values_from reads from a KubeClient: get by kind and name."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in objects}

    async def get(self, _version: str, kind: str, name: str, _ns: str) -> Any:
        return self.objects.get((kind, name))


def obj(kind: str, name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> Any:
    return {"kind": kind, "metadata": {"name": name, "labels": labels or {}}, "data": data}


def app_with(*refs: dict[str, Any]) -> Any:
    source = {"helm": {"valuesFrom": list(refs)}}
    return application("web", "tether-system", "https://git.example/r.git", "c", source=source)


def read(kube: _Objects, *refs: dict[str, Any]) -> tuple[str, ...]:
    return asyncio.run(values_from(kube, app_with(*refs)))  # type: ignore[arg-type]


def test_labelled_configmaps_and_secrets_are_read_in_order() -> None:
    kube = _Objects(
        obj("ConfigMap", "base", {"values.yaml": "a: 1\n"}, LABEL),
        obj("Secret", "creds", {"prod.yaml": base64.b64encode(b"b: 2\n").decode()}, LABEL),
    )
    texts = read(
        kube,
        {"kind": "ConfigMap", "name": "base"},
        {"kind": "Secret", "name": "creds", "valuesKey": "prod.yaml"},
        {"kind": "ConfigMap", "name": "absent", "optional": True},
    )
    assert texts == ("a: 1\n", "b: 2\n")


def test_an_unlabelled_secret_is_refused_and_a_missing_one_named() -> None:
    repo_creds = obj("Secret", "repo-creds", {"values.yaml": base64.b64encode(b"t").decode()})
    with pytest.raises(InputError, match=r"not labelled tether\.dev/helm-values=true"):
        read(_Objects(repo_creds), {"kind": "Secret", "name": "repo-creds"})
    labelled = {**repo_creds, "metadata": {"name": "repo-creds", "labels": LABEL}}
    assert read(_Objects(labelled), {"kind": "Secret", "name": "repo-creds"}) == ("t",)
    with pytest.raises(InputError, match="ConfigMap tether-system/gone not found"):
        read(_Objects(), {"kind": "ConfigMap", "name": "gone"})


def test_the_spec_field_round_trips_and_refuses_what_it_cannot_do() -> None:
    helm = HelmSource.from_dict({"valuesFrom": [{"kind": "Secret", "name": "v", "optional": True}]})
    assert helm.to_dict() == {"valuesFrom": [{"kind": "Secret", "name": "v", "optional": True}]}
    with pytest.raises(InputError, match="targetPath"):
        HelmSource.from_dict(
            {"valuesFrom": [{"kind": "ConfigMap", "name": "v", "targetPath": "a"}]}
        )
    with pytest.raises(InputError, match="ConfigMap or Secret"):
        HelmSource.from_dict({"valuesFrom": [{"kind": "Pod", "name": "v"}]})


def test_substitute_from_reads_labelled_objects_and_substitute_wins() -> None:
    vars_label = {"tether.dev/post-build-variables": "true"}
    kube = _Objects(
        obj("ConfigMap", "cluster", {"env": "staging", "region": "eu"}, vars_label),
        obj("Secret", "keys", {"token": base64.b64encode(b"s3").decode()}, vars_label),
        obj("ConfigMap", "helm-only", {"env": "x"}, LABEL),  # labelled for Helm values only
    )

    def variables(*refs: dict[str, Any], substitute: dict[str, str] | None = None) -> Any:
        post_build: dict[str, Any] = {"substituteFrom": list(refs)}
        if substitute:
            post_build["substitute"] = substitute
        app = application(
            "web", "tether-system", "https://git.example/r.git", "c", postBuild=post_build
        )
        return asyncio.run(substitutions(kube, app))  # type: ignore[arg-type]

    found = variables(
        {"kind": "ConfigMap", "name": "cluster"},
        {"kind": "Secret", "name": "keys"},
        substitute={"env": "production"},
    )
    assert found == {"env": "production", "region": "eu", "token": "s3"}
    with pytest.raises(InputError, match=r"not labelled tether\.dev/post-build-variables"):
        variables({"kind": "ConfigMap", "name": "helm-only"})
