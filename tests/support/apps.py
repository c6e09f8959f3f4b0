"""Application manifests for tests."""

from __future__ import annotations

from typing import Any

from tether.model.application import API_VERSION, Application


def application(name: str, namespace: str, repo: str, path: str, **spec: Any) -> Application:
    """An app in `namespace` deploying `path` of `repo` (branch main) into `namespace`.

    `source={...}` adds source fields (helm, directory...); other keywords are spec fields.
    """
    source = {"repoURL": repo, "path": path, "targetRevision": "main", **spec.pop("source", {})}
    return Application.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"source": source, "destination": {"namespace": namespace}, **spec},
        }
    )


def condition(kind: str, message: str) -> dict[str, str]:
    """A True status condition of `kind` as the Application status holds it."""
    return {"type": kind, "status": "True", "reason": kind, "message": message}
