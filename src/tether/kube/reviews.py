"""Who a bearer token belongs to (TokenReview) and whether that user may do something
(SubjectAccessReview): the API server answers both, so the controller's dashboard
authorizes a write exactly as `kubectl` would be authorized for it.

The token itself is sent only to the API server, in the review's body; it is never kept
or logged here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .client import KubeClient

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


@dataclass(frozen=True)
class ReviewedUser:
    """The user the API server says a token belongs to."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceAction:
    """What is asked of the authorizer: `verb` on one object of group/resource."""

    verb: str
    group: str
    resource: str
    namespace: str
    name: str


async def review_token(kube: KubeClient, token: str) -> ReviewedUser | None:
    """The user `token` authenticates as; None when the API server does not accept it."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    }
    answer = await kube.request("POST", TOKEN_REVIEWS, body=body)
    status = (answer or {}).get("status") or {}
    user = status.get("user") or {}
    if not status.get("authenticated") or not user.get("username"):
        return None
    extra = {str(k): tuple(str(x) for x in v or ()) for k, v in (user.get("extra") or {}).items()}
    return ReviewedUser(
        username=str(user["username"]),
        uid=str(user.get("uid") or ""),
        groups=tuple(str(g) for g in user.get("groups") or ()),
        extra=extra,
    )


async def review_access(
    kube: KubeClient, user: ReviewedUser, action: ResourceAction
) -> tuple[bool, str]:
    """(allowed, the authorizer's reason) for `user` doing `action`."""
    spec: dict[str, object] = {
        "user": user.username,
        "groups": list(user.groups),
        "resourceAttributes": {
            "verb": action.verb,
            "group": action.group,
            "resource": action.resource,
            "namespace": action.namespace,
            "name": action.name,
        },
    }
    if user.uid:
        spec["uid"] = user.uid
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra.items()}
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": spec,
    }
    answer = await kube.request("POST", ACCESS_REVIEWS, body=body)
    status = (answer or {}).get("status") or {}
    return bool(status.get("allowed")) and not status.get("denied"), str(status.get("reason") or "")


__all__ = ["ResourceAction", "ReviewedUser", "review_access", "review_token"]
