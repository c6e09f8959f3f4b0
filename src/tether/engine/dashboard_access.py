"""Who may press which button on the controller's dashboard: the caller's bearer token is
checked with a TokenReview, the action with a SubjectAccessReview on the Application, so
the cluster's own RBAC decides (the controller acts, the audit Event names the caller).

Each action needs a verb on `applications.tether.dev` (the object, by name):
- `get` for what only reads or compares (preview, refresh, hard-refresh, revert-preview);
- `patch` for what changes the cluster or Git (sync, suspend, resume, rollback, revert).
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.errors import TetherError
from tether.kube import KubeClient
from tether.kube.reviews import ResourceAction, ReviewedUser, review_access, review_token
from tether.model.names import API_GROUP

from .dashboard_actions import ACTIONS

READ_ACTIONS = frozenset({"preview", "refresh", "hard-refresh", "revert-preview"})
ACTION_VERBS = {action: "get" if action in READ_ACTIONS else "patch" for action in ACTIONS}


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str  # one line, for the 403 page


class KubernetesAccess:
    """TokenReview and SubjectAccessReview through the controller's own client."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    async def authenticate(self, token: str) -> ReviewedUser | None:
        if not token or len(token) > 16 * 1024:  # no token of the API server is that long
            return None
        return await review_token(self.kube, token)

    async def authorize(
        self, user: ReviewedUser, namespace: str, name: str, action: str
    ) -> AccessDecision:
        verb = ACTION_VERBS.get(action)
        if verb is None:
            return AccessDecision(False, f"unknown action {action!r}")
        asked = ResourceAction(verb, API_GROUP, "applications", namespace, name)
        try:
            allowed, why = await review_access(self.kube, user, asked)
        except TetherError as exc:
            return AccessDecision(False, f"cannot check access: {exc.message.splitlines()[0]}")
        if allowed:
            return AccessDecision(True, why)
        need = f"{verb} applications.{API_GROUP} {name} in namespace {namespace}"
        return AccessDecision(
            False, f"{user.username} may not {need}" + (f": {why}" if why else "")
        )


__all__ = ["ACTION_VERBS", "AccessDecision", "KubernetesAccess"]
