"""model/cluster: registered clusters from tether's and Argo CD's cluster Secrets and
from Flux's kubeconfig Secrets; what could run a program or drop TLS is refused unless
allowed, with one line naming the Secret and never a credential."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from tether.errors import InputError
from tether.model.cluster import (
    ClusterPolicy,
    deploys_elsewhere,
    destination_label,
    elsewhere,
    is_cluster_secret,
    parse_cluster_secret,
    parse_kubeconfig_secret,
    select_cluster,
    targets,
)
from tether.model.spec import ApplicationSpec

TOKEN = "eyJhbGciOi-never-in-a-message"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n").decode()
STRICT = ClusterPolicy()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def cluster_secret(label: str, config: dict[str, Any], **extra: str) -> dict[str, Any]:
    data = {"name": "spoke", "server": "https://10.0.0.2:6443", "config": json.dumps(config)}
    return {
        "metadata": {"name": "spoke", "namespace": "tether-system", "labels": {label: "cluster"}},
        "data": {k: b64(v) for k, v in (data | extra).items()},
    }


@pytest.mark.parametrize("label", ["tether.dev/secret-type", "argocd.argoproj.io/secret-type"])
def test_tether_and_argo_cd_cluster_secrets_read_the_same(label: str) -> None:
    secret = cluster_secret(
        label,
        {"bearerToken": TOKEN, "tlsClientConfig": {"caData": CA, "serverName": "spoke"}},
        namespaces="shop, web",
    )
    assert is_cluster_secret(secret)
    access = parse_cluster_secret(secret, STRICT)
    assert (access.name, access.server, access.server_name) == (
        "spoke",
        "https://10.0.0.2:6443",
        "spoke",
    )
    assert access.bearer_token == TOKEN and access.ca_data.startswith(b"-----BEGIN")
    assert access.namespaces == ("shop", "web")
    assert TOKEN not in repr(access)  # no credential in a log line that prints it
    assert select_cluster([access], name="spoke") is access
    assert select_cluster([access], server="https://10.0.0.2:6443/") is access
    assert select_cluster([access], name="other") is None


def test_an_unlabelled_secret_is_no_cluster() -> None:
    secret = cluster_secret("app", {})
    assert not is_cluster_secret(secret)


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"execProviderConfig": {"command": "/tmp/x"}}, "runs a program"),
        ({"awsAuthConfig": {"clusterName": "c"}}, "runs a program"),
        ({"tlsClientConfig": {"insecure": True}}, "turns off TLS verification"),
    ],
)
def test_exec_and_insecure_cluster_secrets_are_refused_unless_allowed(
    config: dict[str, Any], error: str
) -> None:
    secret = cluster_secret("argocd.argoproj.io/secret-type", config | {"bearerToken": TOKEN})
    with pytest.raises(InputError, match="Secret tether-system/spoke") as raised:
        parse_cluster_secret(secret, STRICT)
    assert error in raised.value.message and TOKEN not in raised.value.message
    allowed = ClusterPolicy(allow_exec=True, allow_insecure=True)
    if "awsAuthConfig" in config:  # allowed or not, tether has no AWS signer
        with pytest.raises(InputError, match="awsAuthConfig` is not supported"):
            parse_cluster_secret(secret, allowed)
        return
    assert parse_cluster_secret(secret, allowed).server == "https://10.0.0.2:6443"


def test_an_allowed_argo_cd_exec_provider_keeps_command_args_and_env() -> None:
    plugin = {
        "command": "/usr/local/bin/token",
        "args": ["--cluster", "spoke"],
        "env": {"REGION": "eu"},
        "apiVersion": "client.authentication.k8s.io/v1",
    }
    secret = cluster_secret("argocd.argoproj.io/secret-type", {"execProviderConfig": plugin})
    access = parse_cluster_secret(secret, ClusterPolicy(allow_exec=True))
    assert access.exec_command == ("/usr/local/bin/token", "--cluster", "spoke")
    assert access.exec_env == (("REGION", "eu"),)
    assert access.exec_api_version == "client.authentication.k8s.io/v1"
    assert "token" not in repr(access).replace("bearer_token", "")


def test_the_recorded_cluster_identity_is_read_but_no_part_of_the_access() -> None:
    secret = cluster_secret("tether.dev/secret-type", {"bearerToken": TOKEN})
    plain = parse_cluster_secret(secret, STRICT)
    secret["metadata"]["annotations"] = {"tether.dev/cluster-uid": "uid-1"}
    marked = parse_cluster_secret(secret, STRICT)
    assert (plain.known_uid, marked.known_uid) == ("", "uid-1")
    assert marked.secret == "tether-system/spoke"
    assert marked == plain  # recording the uid does not make a new engine


def test_malformed_cluster_secrets_say_what_is_wrong() -> None:
    bad_server = cluster_secret("tether.dev/secret-type", {}, server="10.0.0.2")
    with pytest.raises(InputError, match="https:// URL"):
        parse_cluster_secret(bad_server, STRICT)
    bad_json = cluster_secret("tether.dev/secret-type", {})
    bad_json["data"]["config"] = b64("{not json")
    with pytest.raises(InputError, match="not JSON"):
        parse_cluster_secret(bad_json, STRICT)
    bad_b64 = cluster_secret("tether.dev/secret-type", {})
    bad_b64["data"]["server"] = "%%%"
    with pytest.raises(InputError, match="not base64"):
        parse_cluster_secret(bad_b64, STRICT)


def kubeconfig(user: dict[str, Any], cluster: dict[str, Any] | None = None) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "spoke",
            "contexts": [{"name": "spoke", "context": {"cluster": "spoke", "user": "admin"}}],
            "clusters": [
                {
                    "name": "spoke",
                    "cluster": cluster
                    or {"server": "https://10.0.0.2:6443", "certificate-authority-data": CA},
                }
            ],
            "users": [{"name": "admin", "user": user}],
        }
    )


def kubeconfig_secret(text: str, key: str = "value") -> dict[str, Any]:
    return {"metadata": {"name": "spoke-kubeconfig", "namespace": "shop"}, "data": {key: b64(text)}}


def test_a_flux_kubeconfig_secret_gives_its_current_context() -> None:
    access = parse_kubeconfig_secret(kubeconfig_secret(kubeconfig({"token": TOKEN})), None, STRICT)
    assert (access.name, access.server, access.bearer_token) == (
        "spoke",
        "https://10.0.0.2:6443",
        TOKEN,
    )
    # `value.yaml` is the second key Flux reads; an explicit key wins.
    other = kubeconfig_secret(kubeconfig({"token": TOKEN}), key="value.yaml")
    assert parse_kubeconfig_secret(other, None, STRICT).server == "https://10.0.0.2:6443"
    with pytest.raises(InputError, match="no kubeconfig under config"):
        parse_kubeconfig_secret(other, "config", STRICT)


@pytest.mark.parametrize(
    ("user", "cluster", "error"),
    [
        ({"exec": {"command": "/bin/sh", "args": ["-c", "id"]}}, None, "runs a program"),
        ({"auth-provider": {"name": "gcp"}}, None, "runs a program"),
        ({"tokenFile": "/var/run/secrets/token"}, None, "reads a local file"),
        ({"client-key": "/root/.ssh/id"}, None, "reads a local file"),
        (
            {"token": TOKEN},
            {"server": "https://10.0.0.2:6443", "insecure-skip-tls-verify": True},
            "insecure-skip-tls-verify",
        ),
        ({"token": TOKEN}, {"server": "https://x", "certificate-authority": "/etc/ca"}, "CA file"),
    ],
)
def test_a_kubeconfig_that_runs_code_reads_files_or_skips_tls_is_refused(
    user: dict[str, Any], cluster: dict[str, Any] | None, error: str
) -> None:
    secret = kubeconfig_secret(kubeconfig(user, cluster))
    with pytest.raises(InputError, match="Secret shop/spoke-kubeconfig") as raised:
        parse_kubeconfig_secret(secret, None, STRICT)
    assert error in raised.value.message and TOKEN not in raised.value.message


def test_an_allowed_exec_kubeconfig_keeps_its_command() -> None:
    plugin = {"command": "aws", "args": ["eks", "get-token"], "env": [{"name": "A", "value": "1"}]}
    secret = kubeconfig_secret(kubeconfig({"exec": plugin}))
    access = parse_kubeconfig_secret(secret, None, ClusterPolicy(allow_exec=True))
    assert access.exec_command == ("aws", "eks", "get-token")
    assert access.exec_env == (("A", "1"),)
    assert access.secret == ""  # a kubeconfig Secret is the app's, not a registration


def spec_of(**spec: Any) -> ApplicationSpec:
    return ApplicationSpec.from_dict({"source": {"repoURL": "file:///r.git"}, **spec})


def test_a_kube_config_secret_is_another_cluster_and_excludes_a_destination() -> None:
    own = "https://127.0.0.1:6443"
    by_secret = spec_of(kubeConfig={"secretRef": {"name": "spoke-kubeconfig"}})
    assert by_secret.kube_config is not None and by_secret.kube_config.key == ""
    assert elsewhere(by_secret, own)
    assert destination_label(by_secret) == "kubeConfig Secret spoke-kubeconfig"
    assert not elsewhere(spec_of(), own)  # without it, the same spec deploys here
    assert destination_label(spec_of()) == "in-cluster"
    with pytest.raises(InputError, match="kubeConfig may not be set with destination"):
        spec_of(kubeConfig={"secretRef": {"name": "k"}}, destination={"name": "spoke"})
    with pytest.raises(InputError, match=r"kubeConfig\.secretRef is required"):
        spec_of(kubeConfig={})
    keyed = spec_of(kubeConfig={"secretRef": {"name": "k", "key": "config"}})
    assert keyed.to_dict()["kubeConfig"] == {"secretRef": {"name": "k", "key": "config"}}


def test_which_apps_target_a_registration() -> None:
    secret = cluster_secret("tether.dev/secret-type", {"bearerToken": TOKEN})
    access = parse_cluster_secret(secret, STRICT)
    assert targets(spec_of(destination={"name": "spoke"}), access)
    assert targets(spec_of(destination={"server": "https://10.0.0.2:6443/"}), access)
    assert not targets(spec_of(destination={"name": "other"}), access)
    assert not targets(spec_of(kubeConfig={"secretRef": {"name": "spoke"}}), access)


@pytest.mark.parametrize(
    ("name", "server", "elsewhere"),
    [
        (None, None, False),
        ("in-cluster", None, False),
        (None, "https://kubernetes.default.svc", False),
        (None, "https://kubernetes.default.svc:443/", False),
        (None, "https://127.0.0.1:6443/", False),  # the engine's own server
        ("spoke", None, True),
        (None, "https://10.0.0.2:6443", True),
    ],
)
def test_which_destinations_are_another_cluster(
    name: str | None, server: str | None, elsewhere: bool
) -> None:
    assert deploys_elsewhere(name, server, "https://127.0.0.1:6443") is elsewhere


def test_a_server_with_credentials_in_it_is_refused() -> None:
    secret = cluster_secret("tether.dev/secret-type", {}, server="https://admin:pw@10.0.0.2:6443")
    with pytest.raises(InputError, match="`server` holds credentials") as raised:
        parse_cluster_secret(secret, STRICT)
    assert "pw" not in raised.value.message
    # Without userinfo the same Secret is fine.
    fine = cluster_secret("tether.dev/secret-type", {}, server="https://10.0.0.2:6443")
    assert parse_cluster_secret(fine, STRICT).server == "https://10.0.0.2:6443"
