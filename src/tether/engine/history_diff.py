"""What differs between a history entry and the cluster now: the entry's stored
manifests (no Git needed) against the live objects, field by field as the manifests
declare them. What a break-glass rollback to that entry would change."""

from __future__ import annotations

from tether.core.diff import compare_object
from tether.core.drift_view import AppDriftView, object_view
from tether.errors import TetherError
from tether.model.application import Application

from .compare import Engine
from .history import find_entry, load_manifests


async def history_entry_diff(engine: Engine, app: Application, entry_id: int) -> AppDriftView:
    """The entry's objects that differ from live (or are gone), live (-) to entry (+).

    No server-side dry-run (the entry may be of an older schema, and nothing is sent to
    the API server but reads): defaulted fields the manifests leave out are not compared.
    """
    try:
        entry = find_entry(app, entry_id)
        manifests = await load_manifests(engine.home_kube, app, entry_id)
    except TetherError as exc:
        message = exc.message.splitlines()[0] if exc.message else str(exc)
        return AppDriftView(app.namespace, app.name, None, "Unknown", (), message)
    views = []
    for manifest in manifests:
        diff = compare_object(manifest, await engine.live_copy(manifest))
        if not diff.in_sync:
            views.append(object_view(diff, []))
    sync = "OutOfSync" if views else "Synced"
    return AppDriftView(app.namespace, app.name, entry.revision, sync, tuple(views))


__all__ = ["history_entry_diff"]
