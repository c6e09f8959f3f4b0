"""Changes people make to an Application's policy: auto-sync on/off, self-heal, prune,
suspend/resume (`tether app set|suspend|resume`).

These are JSON merge patches, as `kubectl patch --type merge` would send: only the named
fields change, and everything else in the spec stays as its owners wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tether.errors import InputError
from tether.kube import MERGE_PATCH, KubeClient
from tether.model.application import API_VERSION, FIELD_MANAGER, KIND, Application

from .apps import get_app


async def set_sync_policy(
    kube: KubeClient,
    namespace: str,
    name: str,
    *,
    automated: bool | None,
    self_heal: bool | None = None,
    prune: bool | None = None,
) -> Application:
    """Turn auto-sync on (`automated=True`) or off (`False`), and/or change its options.

    `None` leaves a setting as it is. Options without auto-sync mean nothing, so setting
    them while auto-sync is (or is being turned) off is refused, as Argo CD does.
    """
    app = await get_app(kube, namespace, name)
    glass = app.status.break_glass if app.status else None
    if automated and glass is not None and glass.active:
        # Auto-sync would undo the rollback by applying the revision that broke things.
        raise InputError(
            f"Application {name}: break-glass rollback active ({glass.message});"
            " auto-sync stays off until Git matches the cluster again",
            hint=f"make the follow-up revert first, then: tether app diff {name}",
        )
    patch = sync_policy_patch(app, automated=automated, self_heal=self_heal, prune=prune)
    return await _patch(kube, app, patch)


def sync_policy_patch(
    app: Application, *, automated: bool | None, self_heal: bool | None, prune: bool | None
) -> dict[str, Any]:
    """The merge patch for `set_sync_policy` (pure, so the refusals are easy to test)."""
    options = {
        key: value
        for key, value in (("selfHeal", self_heal), ("prune", prune))
        if value is not None
    }
    if automated is None and not options:
        raise InputError(
            f"app set {app.name}: nothing to change",
            hint="pass --sync-policy automated|none, --self-heal or --auto-prune",
        )
    if automated is False:
        if options:
            raise InputError(
                f"app set {app.name}: --self-heal/--auto-prune need auto-sync, "
                "but --sync-policy none turns it off"
            )
        # null deletes the key in a merge patch: no `automated` means no auto-sync.
        return {"spec": {"syncPolicy": {"automated": None}}}
    if automated is None and not app.auto_sync_enabled:
        raise InputError(
            f"app set {app.name}: auto-sync is off, so --self-heal/--auto-prune do nothing",
            hint=f"tether app set {app.name} --sync-policy automated ...",
        )
    # `automated: {}` turns auto-sync on; the options not given keep their current value.
    return {"spec": {"syncPolicy": {"automated": options}}}


async def set_source_and_options(
    kube: KubeClient,
    namespace: str,
    name: str,
    *,
    revision: str | None = None,
    path: str | None = None,
    set_options: Sequence[tuple[str, str]] = (),
    remove_options: Sequence[str] = (),
    add_ignores: Sequence[Mapping[str, Any]] = (),
    clear_ignores: bool = False,
) -> Application:
    """Change what an app deploys (revision, path) and how (sync options, ignore rules).

    The changed spec is validated as a manifest would be before anything is written, so an
    unknown sync option or a malformed ignore rule is refused with nothing changed.
    """
    app = await get_app(kube, namespace, name)
    patch = source_and_options_patch(
        app,
        revision=revision,
        path=path,
        set_options=set_options,
        remove_options=remove_options,
        add_ignores=add_ignores,
        clear_ignores=clear_ignores,
    )
    return await _patch(kube, app, patch)


def source_and_options_patch(
    app: Application,
    *,
    revision: str | None,
    path: str | None,
    set_options: Sequence[tuple[str, str]],
    remove_options: Sequence[str],
    add_ignores: Sequence[Mapping[str, Any]],
    clear_ignores: bool,
) -> dict[str, Any]:
    """The merge patch for `set_source_and_options` (pure)."""
    spec: dict[str, Any] = {}
    if revision is not None or path is not None:
        spec["source"] = {
            k: v for k, v in (("targetRevision", revision), ("path", path)) if v is not None
        }
    if set_options or remove_options:
        options = dict(app.spec.sync_policy.sync_options)
        for key in remove_options:
            if key not in options:
                raise InputError(f"app set {app.name}: sync option {key} is not set")
            options.pop(key)
        options.update(set_options)
        spec["syncPolicy"] = {"syncOptions": [f"{k}={v}" for k, v in options.items()] or None}
    if add_ignores or clear_ignores:
        rules = [] if clear_ignores else [r.to_dict() for r in app.spec.ignore_differences]
        spec["ignoreDifferences"] = [*rules, *map(dict, add_ignores)] or None
    if not spec:
        raise InputError(f"app set {app.name}: nothing to change")
    # Validate the result as the API server will store it, before anything is written.
    Application.from_dict(_merge_patched(app.to_dict(), {"spec": spec}))
    return {"spec": spec}


def _merge_patched(target: Any, patch: Any) -> Any:
    """`target` with a JSON merge patch applied (RFC 7386: null deletes, maps merge,
    everything else replaces)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patched(result.get(key), value)
    return result


async def set_suspend(kube: KubeClient, namespace: str, name: str, suspend: bool) -> Application:
    """Suspend (no writes at all, status still computed) or resume an Application."""
    app = await get_app(kube, namespace, name)
    return await _patch(kube, app, {"spec": {"suspend": suspend}})


async def _patch(kube: KubeClient, app: Application, patch: dict[str, Any]) -> Application:
    stored = await kube.patch(
        API_VERSION,
        KIND,
        app.name,
        patch,
        namespace=app.namespace,
        patch_type=MERGE_PATCH,
        field_manager=FIELD_MANAGER,
    )
    return Application.from_dict(stored)


def describe_sync_policy(app: Application) -> str:
    """`automated (self-heal, prune)` or `none`: the one-line summary the CLI prints."""
    if not app.auto_sync_enabled:
        return "none"
    options = [
        label for label, on in (("self-heal", app.self_heal), ("prune", app.auto_prune)) if on
    ]
    return "automated" + (f" ({', '.join(options)})" if options else "")


__all__ = [
    "describe_sync_policy",
    "set_source_and_options",
    "set_suspend",
    "set_sync_policy",
    "source_and_options_patch",
    "sync_policy_patch",
]
