"""The names tether gives things in the cluster (DESIGN §2): the API group and kind
of Applications, the annotations and field manager, and the defaults of the spec."""

from __future__ import annotations

API_GROUP = "tether.dev"
API_VERSION = "tether.dev/v1alpha1"
KIND = "Application"
DEFAULT_APP_NAMESPACE = "tether-system"
TRACKING_ANNOTATION = "tether.dev/tracking-id"
FIELD_MANAGER = "tether"

DEFAULT_TARGET_REVISION = "HEAD"
DEFAULT_PATH = "."
DEFAULT_INTERVAL = "3m"
DEFAULT_TIMEOUT = "5m"
DEFAULT_REVISION_HISTORY_LIMIT = 10
DEFAULT_PROJECT = "default"
DEFAULT_RETRY_LIMIT = 5
DEFAULT_BACKOFF_DURATION = "5s"
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_BACKOFF_MAX_DURATION = "3m"
DECRYPTION_PROVIDERS = ("sops",)
RENDERERS = ("directory", "kustomize", "helm")  # `spec.source` sets at most one of them


# `tether app reconcile` asks the controller for a reconcile by setting this annotation to
# a fresh token; the controller echoes the token in `status.lastHandledReconcileAt` (Flux's
# requestedAt protocol). With `--with-source` the second annotation carries the same token.
RECONCILE_REQUESTED_ANNOTATION = "tether.dev/reconcile-requested-at"
RECONCILE_WITH_SOURCE_ANNOTATION = "tether.dev/reconcile-with-source"

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "DECRYPTION_PROVIDERS",
    "DEFAULT_APP_NAMESPACE",
    "DEFAULT_BACKOFF_DURATION",
    "DEFAULT_BACKOFF_FACTOR",
    "DEFAULT_BACKOFF_MAX_DURATION",
    "DEFAULT_INTERVAL",
    "DEFAULT_PATH",
    "DEFAULT_PROJECT",
    "DEFAULT_RETRY_LIMIT",
    "DEFAULT_REVISION_HISTORY_LIMIT",
    "DEFAULT_TARGET_REVISION",
    "DEFAULT_TIMEOUT",
    "FIELD_MANAGER",
    "KIND",
    "RECONCILE_REQUESTED_ANNOTATION",
    "RECONCILE_WITH_SOURCE_ANNOTATION",
    "RENDERERS",
    "TRACKING_ANNOTATION",
]
