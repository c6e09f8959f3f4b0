"""spec.source.helm's cluster-facts options and spec.source.directory.jsonnet: parsing,
validation, round trip, CRD schema; and how an app's options meet the cluster's facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tether.engine.facts import ClusterFacts, _crd_api_versions, helm_capabilities, renders_helm
from tether.errors import InputError
from tether.model.application import Application, DirectorySource, HelmSource
from tether.model.crd import application_crd
from tether.model.jsonnet import JsonnetSource, JsonnetVariable


def app_with(source: dict[str, Any]) -> Application:
    return Application.from_dict(
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "tether-system"},
            "spec": {
                "source": {"repoURL": "file:///srv/repo.git", "path": "app", **source},
                "destination": {"namespace": "web"},
            },
        }
    )


HELM = {
    "kubeVersion": "v1.31.4",
    "apiVersions": ["monitoring.coreos.com/v1/ServiceMonitor", "policy/v1", "v1/Pod"],
    "skipCrds": True,
    "skipTests": False,
    "namespace": "release-ns",
}
JSONNET = {
    "extVars": [{"name": "env", "value": "prod"}, {"name": "cfg", "value": "{a: 1}", "code": True}],
    "tlas": [{"name": "replicas", "value": "2", "code": True}],
    "libs": ["vendor", "lib/k"],
}


def test_helm_options_parse_and_round_trip() -> None:
    helm = HelmSource.from_dict(HELM)
    assert helm == HelmSource(
        kube_version="v1.31.4",
        api_versions=("monitoring.coreos.com/v1/ServiceMonitor", "policy/v1", "v1/Pod"),
        skip_crds=True,
        skip_tests=False,
        namespace="release-ns",
    )
    assert helm.to_dict() == HELM
    app = app_with({"helm": HELM})
    assert Application.from_dict(app.to_dict()) == app
    assert app.to_dict()["spec"]["source"]["helm"] == HELM


def test_helm_defaults_skip_tests_and_are_left_out_of_the_wire_form() -> None:
    helm = HelmSource.from_dict({})
    assert (helm.skip_tests, helm.skip_crds, helm.kube_version, helm.namespace) == (
        True,
        False,
        None,
        None,
    )
    assert helm.to_dict() == {}
    assert HelmSource.from_dict({"skipTests": True, "skipCrds": False}).to_dict() == {}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kubeVersion", "latest", 'like 1.30 or v1.30.4, got "latest"'),
        ("kubeVersion", 1.3, "kubeVersion must be a string (quote it in YAML), got 1.3"),
        ("apiVersions", ["policy/v1,apps/v1"], "apiVersions[0] must be [group/]version or"),
        ("apiVersions", ["a/b/c/d"], "apiVersions[0] must be [group/]version"),
        ("skipCrds", "yes", 'skipCrds must be true or false, got "yes"'),
        ("skipTests", 0, "skipTests must be true or false, got 0"),
        ("namespace", "Not_A_Namespace", "namespace must be a DNS-1123 label"),
        ("kubeversion", "1.30", "kubeversion is not a known field (did you mean kubeVersion?)"),
    ],
)  # fmt: skip
def test_helm_options_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        HelmSource.from_dict({field: value})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "version", ["1.30", "v1.30", "1.30.4", "v1.37.2", "v1.30.0-eks-abc", "1.29.3+k3s1"]
)
def test_kube_versions_helm_accepts(version: str) -> None:
    assert HelmSource.from_dict({"kubeVersion": version}).kube_version == version


def test_jsonnet_options_parse_and_round_trip() -> None:
    directory = DirectorySource.from_dict({"recurse": True, "jsonnet": JSONNET})
    assert directory.jsonnet == JsonnetSource(
        ext_vars=(JsonnetVariable("env", "prod"), JsonnetVariable("cfg", "{a: 1}", code=True)),
        tlas=(JsonnetVariable("replicas", "2", code=True),),
        libs=("vendor", "lib/k"),
    )
    assert directory.to_dict() == {"recurse": True, "jsonnet": JSONNET}
    app = app_with({"directory": {"jsonnet": JSONNET}})
    assert Application.from_dict(app.to_dict()) == app
    # `jsonnet: {}` is the default: kept as absent, so a round trip is stable.
    assert DirectorySource.from_dict({"jsonnet": {}}) == DirectorySource()


def test_jsonnet_options_are_validated() -> None:
    with pytest.raises(InputError) as caught:
        DirectorySource.from_dict(
            {
                "jsonnet": {
                    "extVars": [{"name": "env", "value": "a"}, {"name": "env", "value": "b"}],
                    "tlas": [{"name": "not-an-identifier", "value": "1"}, {"value": "1"}],
                    "libs": ["../outside", "/etc", "ok"],
                    "libraries": [],
                }
            }
        )
    message = str(caught.value)
    for part in (
        "jsonnet.libraries is not a known field (did you mean libs?)",
        'jsonnet.libs[0] must be a relative path inside the repository, got "../outside"',
        'jsonnet.libs[1] must be a relative path inside the repository, got "/etc"',
        'jsonnet.extVars[1].name "env" is given twice',
        'jsonnet.tlas[0].name must be a jsonnet identifier (a parameter name), got "not-an-',
        "jsonnet.tlas[1].name is required",
    ):
        assert part in message, message


def _schema(*path: str) -> dict[str, Any]:
    node: dict[str, Any] = application_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for key in ("spec", "source", *path):
        node = node["properties"][key]
    return node


def test_the_crd_schema_keeps_every_new_field() -> None:
    # The API server prunes fields its schema does not name: each must be there.
    assert set(HELM) <= set(_schema("helm")["properties"])
    assert set(JSONNET) == set(_schema("directory", "jsonnet")["properties"])
    variable = _schema("directory", "jsonnet", "extVars")["items"]
    assert set(variable["properties"]) == {"name", "value", "code"}


FACTS = ClusterFacts(kube_version="v1.37.2", api_versions=("apps/v1", "v1", "v1/Pod"))


def test_an_app_overrides_the_kube_version_and_adds_api_versions() -> None:
    assert helm_capabilities(FACTS, None) == ("v1.37.2", FACTS.api_versions)
    own = HelmSource(kube_version="1.31", api_versions=("x.example/v1/Thing", "v1"))
    assert helm_capabilities(FACTS, own) == (
        "1.31",
        ("apps/v1", "v1", "v1/Pod", "x.example/v1/Thing"),
    )
    unknown = ClusterFacts(kube_version="", api_versions=())
    assert helm_capabilities(unknown, None) == (None, ())


def crd(
    group: str, kind: str, versions: list[tuple[str, bool]], established: bool
) -> dict[str, Any]:
    return {
        "spec": {
            "group": group,
            "names": {"kind": kind},
            "versions": [{"name": name, "served": served} for name, served in versions],
        },
        "status": {"conditions": [{"type": "Established", "status": str(established)}]},
    }


def test_established_crds_give_their_served_versions() -> None:
    found = _crd_api_versions(
        [
            crd("a.example", "Widget", [("v1", True), ("v1beta1", False)], established=True),
            crd("b.example", "Gadget", [("v1", True)], established=False),
        ]
    )
    assert found == {"a.example/v1", "a.example/v1/Widget"}


def test_renders_helm_follows_the_chosen_or_detected_renderer(tmp_path: Path) -> None:
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 1.0.0\n")
    (tmp_path / "plain").mkdir()
    assert renders_helm(None, tmp_path, "chart")
    assert renders_helm(None, tmp_path, "/chart")
    assert not renders_helm(None, tmp_path, "plain")
    assert not renders_helm(None, tmp_path, "missing")
    assert not renders_helm("directory", tmp_path, "chart")
    assert renders_helm("helm", tmp_path, "plain")
