"""`dr check` findings, one per recovery hazard."""

from __future__ import annotations

from typing import Any

from tether.core.drcheck import check_repository


def obj(kind: str, name: str, api: str = "v1", **fields: Any) -> dict[str, Any]:
    meta = fields.pop("metadata", {})
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, **meta}, **fields}


def deploy(name: str, image: str, **pod: Any) -> dict[str, Any]:
    return obj(
        "Deployment",
        name,
        "apps/v1",
        spec={
            "template": {
                "spec": {
                    "containers": [{"name": "c", "image": image, **pod.pop("container", {})}],
                    **pod,
                }
            }
        },
    )


def hazards(objects: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    return [(f.file, f.hazard) for f in check_repository(objects)]


def test_a_clean_repository_has_no_findings() -> None:
    crd = obj(
        "CustomResourceDefinition",
        "widgets.x.dev",
        "apiextensions.k8s.io/v1",
        metadata={"annotations": {"tether.dev/sync-wave": "-1"}},
        spec={"group": "x.dev", "names": {"kind": "Widget"}},
    )
    secret = obj("Secret", "db", sops={"mac": "ENC[...]", "age": []}, data={"p": "ENC[...]"})
    objects = [
        ("crd.yaml", crd),
        ("w.yaml", obj("Widget", "w", "x.dev/v1")),
        ("s.yaml", secret),
        (
            "d.yaml",
            deploy(
                "api",
                "ghcr.io/x/api:1.2.3",
                container={
                    "env": [
                        {"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}
                    ]
                },
            ),
        ),
    ]
    assert check_repository(objects) == []


def test_each_hazard_is_found_with_its_file() -> None:
    objects = [
        ("cr.yaml", obj("Widget", "w", "x.dev/v1")),  # CRD missing
        (
            "crd2.yaml",
            obj(
                "CustomResourceDefinition",
                "gadgets.y.dev",
                "apiextensions.k8s.io/v1",
                spec={"group": "y.dev", "names": {"kind": "Gadget"}},
            ),
        ),
        ("g.yaml", obj("Gadget", "g", "y.dev/v1")),  # same wave as its CRD
        ("plain.yaml", obj("Secret", "token", stringData={"t": "not-encrypted"})),
        (
            "app.yaml",
            deploy("api", "nginx", volumes=[{"name": "v", "secret": {"secretName": "tls"}}]),
        ),
        ("latest.yaml", deploy("web", "ghcr.io/x/web:latest")),
        ("svc.yaml", obj("Service", "s", spec={"clusterIP": "10.0.0.17"})),
        ("a1.yaml", obj("Application", "a", "tether.dev/v1alpha1", spec={})),
        (
            "a2.yaml",
            obj("Application", "b", "tether.dev/v1alpha1", spec={"dependsOn": [{"name": "a"}]}),
        ),
    ]
    assert sorted(hazards(objects)) == sorted(
        [
            ("cr.yaml", "crd-order"),
            ("g.yaml", "crd-order"),
            ("plain.yaml", "plaintext-secret"),
            ("app.yaml", "secret-not-in-git"),
            ("app.yaml", "unpinned-image"),
            ("latest.yaml", "unpinned-image"),
            ("svc.yaml", "cluster-specific"),
            ("a1.yaml", "missing-dependency"),
        ]
    )
    messages = [str(f) for f in check_repository(objects)]
    assert "app.yaml: secret-not-in-git: Deployment api reads Secret tls" in "\n".join(messages)
    assert all("not-encrypted" not in m for m in messages)  # secret values never printed


def test_digest_pinned_images_and_headless_services_are_fine() -> None:
    objects = [
        ("d.yaml", deploy("api", "ghcr.io/x/api@sha256:" + "a" * 64)),
        ("svc.yaml", obj("Service", "s", spec={"clusterIP": "None"})),
    ]
    assert check_repository(objects) == []


def test_waves_only_order_objects_of_one_app_directory() -> None:
    crd = obj(
        "CustomResourceDefinition",
        "queues.x.dev",
        "apiextensions.k8s.io/v1",
        spec={"group": "x.dev", "names": {"kind": "Queue"}},
    )
    # Another app's CRD: ordering between apps is dependsOn's job, not waves'.
    assert (
        check_repository([("crds/q.yaml", crd), ("worker/q.yaml", obj("Queue", "q", "x.dev/v1"))])
        == []
    )
    flagged = check_repository(
        [("app/crd.yaml", crd), ("app/q.yaml", obj("Queue", "q", "x.dev/v1"))]
    )
    assert [f.hazard for f in flagged] == ["crd-order"]
