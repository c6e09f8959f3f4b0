"""The names tether gives things in the cluster (DESIGN §2): the API group and kind
of Applications, the annotations and field manager, and the defaults of the spec."""

from __future__ import annotations

from collections.abc import Mapping

API_GROUP = "tether.dev"
API_VERSION = "tether.dev/v1alpha1"
KIND = "Application"
DEFAULT_APP_NAMESPACE = "tether-system"
TRACKING_ANNOTATION = "tether.dev/tracking-id"
FIELD_MANAGER = "tether"

# The Application CRD's printer columns (crds/application.yaml) that `tether app list`
# reads from the server's table; a unit test checks the CRD defines each.
COLUMN_SYNC = "Sync"
COLUMN_HEALTH = "Health"
COLUMN_REVISION = "Revision"
COLUMN_MESSAGE = "Message"
COLUMN_OUT_OF_SYNC_SINCE = "Out-of-sync-since"
COLUMN_EMPTY_RENDER = "Empty-render"

DEFAULT_TARGET_REVISION = "HEAD"
DEFAULT_PATH = "."
DEFAULT_INTERVAL = "3m"
DEFAULT_TIMEOUT = "5m"
DEFAULT_REVISION_HISTORY_LIMIT = 10
DEFAULT_PROJECT = "default"
# Only ConfigMaps/Secrets with this label set to "true" may feed helm.valuesFrom.
HELM_VALUES_LABEL = "tether.dev/helm-values"
# ... and postBuild.substituteFrom.
POST_BUILD_VARIABLES_LABEL = "tether.dev/post-build-variables"
# spec.mode: "detect-only" compares and explains drift but never writes to the app's
# objects (the way to run tether next to Argo CD or Flux on objects they manage).
MODE_NORMAL = "normal"
MODE_DETECT_ONLY = "detect-only"
MODES = (MODE_NORMAL, MODE_DETECT_ONLY)
# `tether import` records the Argo CD or Flux app an Application came from
# (`<tool>/<kind>/<namespace>/<name>`, model/foreign.py); a detect-only app also tracks
# the objects that tool marks as that app's.
IMPORTED_FROM_ANNOTATION = "tether.dev/imported-from"
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

# Secrets tether reads or writes are told apart by this label (repository credentials).
SECRET_TYPE_LABEL = "tether.dev/secret-type"
# On a cluster Secret, the uid of the cluster's kube-system namespace the controller last
# reached through it: another uid means the cluster was replaced (docs/multi-cluster.md).
CLUSTER_UID_ANNOTATION = "tether.dev/cluster-uid"
SECRET_TYPE_REPOSITORY = "repository"
REPOSITORY_SECRET_SELECTOR = f"{SECRET_TYPE_LABEL}={SECRET_TYPE_REPOSITORY}"

# Deployment history: one Secret per entry (or per chunk), owned by the Application.
HISTORY_SECRET_TYPE = "tether.dev/history"
APP_LABEL = "tether.dev/application"
HISTORY_ID_LABEL = "tether.dev/history-id"
SHA256_ANNOTATION = "tether.dev/manifests-sha256"
CHUNKS_ANNOTATION = "tether.dev/manifests-chunks"
CHUNK_INDEX_ANNOTATION = "tether.dev/manifests-chunk"

# A controller replica asking the shard holder to hand its Lease over.
HANDOFF_ANNOTATION = "tether.dev/handoff-requested-by"

# Hook annotations of tether, Argo CD and Helm: what makes an object a hook.
HOOK_ANNOTATION_PREFIXES = ("tether.dev/hook", "argocd.argoproj.io/hook", "helm.sh/hook")


def is_application_manifest(obj: Mapping[str, object]) -> bool:
    """A tether Application (any version of the API group), as found in a render."""
    return obj.get("kind") == KIND and str(obj.get("apiVersion", "")).startswith(f"{API_GROUP}/")


__all__ = [
    "API_GROUP",
    "API_VERSION",
    "APP_LABEL",
    "CHUNKS_ANNOTATION",
    "CHUNK_INDEX_ANNOTATION",
    "COLUMN_EMPTY_RENDER",
    "COLUMN_HEALTH",
    "COLUMN_MESSAGE",
    "COLUMN_OUT_OF_SYNC_SINCE",
    "COLUMN_REVISION",
    "COLUMN_SYNC",
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
    "HANDOFF_ANNOTATION",
    "HELM_VALUES_LABEL",
    "HISTORY_ID_LABEL",
    "HISTORY_SECRET_TYPE",
    "HOOK_ANNOTATION_PREFIXES",
    "IMPORTED_FROM_ANNOTATION",
    "KIND",
    "MODES",
    "MODE_DETECT_ONLY",
    "MODE_NORMAL",
    "POST_BUILD_VARIABLES_LABEL",
    "RECONCILE_REQUESTED_ANNOTATION",
    "RECONCILE_WITH_SOURCE_ANNOTATION",
    "RENDERERS",
    "REPOSITORY_SECRET_SELECTOR",
    "SECRET_TYPE_LABEL",
    "SECRET_TYPE_REPOSITORY",
    "SHA256_ANNOTATION",
    "TRACKING_ANNOTATION",
    "is_application_manifest",
]
