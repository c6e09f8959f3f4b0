"""`spec.postBuild.substitute`: Flux's post-build variable substitution, table-tested,
and its place in the Application spec."""

from __future__ import annotations

import pytest

from tests.support.manifests import configmap, deployment
from tether.errors import InputError
from tether.model.spec import ApplicationSpec
from tether.render.limits import RenderLimits
from tether.render.request import RenderProblem
from tether.render.substitute import substitute_objects, substitute_text

VARIABLES = {"env": "prod", "empty": "", "count": "3"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: web-${env}", "name: web-prod"),
        ("name: ${missing}", "name: "),  # unset, no default: empty (Flux without strict)
        ("name: ${missing:=fallback}", "name: fallback"),
        ("name: ${missing:-fallback}", "name: fallback"),
        ("name: ${empty:=fallback}", "name: fallback"),  # with ':' an empty value defaults
        ("name: ${empty=fallback}", "name: "),  # without it, only an unset one does
        ("name: ${env:=fallback}", "name: prod"),
        ("name: $${env}", "name: ${env}"),  # escaped
        ("name: $env", "name: $env"),  # no braces: not a variable
        ("name: ${1bad}", "name: ${1bad}"),  # not a variable name
    ],
)
def test_variables_are_substituted_as_flux_does(text: str, expected: str) -> None:
    assert substitute_text(text, VARIABLES) == expected


def test_objects_are_substituted_as_yaml_and_the_opt_out_is_honoured() -> None:
    scaled = deployment("web-${env}", replicas=1)
    scaled["spec"]["replicas"] = "${count}"  # a string in Git, a number after: as Flux
    kept = configmap("kept", {"v": "${env}"})
    kept["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}
    plain = configmap("plain", {"v": "${env}"})
    out = substitute_objects([scaled, kept, plain], VARIABLES, RenderLimits())
    assert out[0]["metadata"]["name"] == "web-prod"
    assert out[0]["spec"]["replicas"] == 3
    assert out[1]["data"] == {"v": "${env}"}  # with the opt-out, left alone
    assert out[2]["data"] == {"v": "prod"}  # without it, substituted


def test_a_value_that_breaks_the_object_is_a_render_problem() -> None:
    obj = configmap("x", {"v": "${env}"})
    with pytest.raises(RenderProblem, match="ConfigMap x"):
        substitute_objects([obj], {"env": "a\n---\nb: c"}, RenderLimits())


def test_the_spec_field_round_trips_and_refuses_bad_names() -> None:
    base = {"source": {"repoURL": "https://git.example/r.git"}}
    spec = ApplicationSpec.from_dict({**base, "postBuild": {"substitute": {"env": "prod"}}})
    assert spec.post_build is not None and spec.post_build.substitute == {"env": "prod"}
    assert spec.to_dict()["postBuild"] == {"substitute": {"env": "prod"}}
    assert "postBuild" not in ApplicationSpec.from_dict(base).to_dict()
    with pytest.raises(InputError, match="variable names"):
        ApplicationSpec.from_dict({**base, "postBuild": {"substitute": {"my-var": "x"}}})
    refs = {"substituteFrom": [{"kind": "Secret", "name": "vars", "optional": True}]}
    spec = ApplicationSpec.from_dict({**base, "postBuild": refs})
    assert spec.to_dict()["postBuild"] == refs  # substituteFrom alone: no empty substitute
    with pytest.raises(InputError, match="ConfigMap or Secret"):
        ApplicationSpec.from_dict(
            {**base, "postBuild": {"substituteFrom": [{"kind": "Pod", "name": "x"}]}}
        )
