"""A second render of the same commit, only when tether-written drift appears: the
evidence for `non-deterministic-render` (core.determinism).

The second render bypasses the engine's render cache (that cache is what makes every
compare of a commit see one render) and is kept per render request, so a controller
that re-compares the app on every event pays for it once per commit, not per compare.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Final

from tether.core.determinism import self_written_drift, unstable_paths
from tether.core.drift_findings import DriftFinding
from tether.errors import TetherError
from tether.git import GitCredentials
from tether.model.application import Application
from tether.model.keys import ResourceKey
from tether.render import RenderRequest, render

from .runtime import Engine
from .source import load_source

log = logging.getLogger(__name__)

_SECOND_RENDERS: OrderedDict[RenderRequest, list[dict[str, Any]]] = OrderedDict()
_SECOND_RENDERS_SIZE: Final = 64


async def unstable_render_paths(
    engine: Engine,
    app: Application,
    request: RenderRequest,
    rendered: Sequence[dict[str, Any]],
    findings: Sequence[DriftFinding],
    *,
    revision: str | None,
    credentials: GitCredentials | None,
) -> dict[ResourceKey, frozenset[str]]:
    """Drifted pointers written by tether on which a second render of `revision`
    disagrees with `rendered` (empty when no drift is tether's own: no render then)."""
    wanted = self_written_drift(findings)
    if not wanted:
        return {}
    second = _SECOND_RENDERS.get(request)
    if second is None:
        try:
            second = await _render_again(engine, app, request, revision, credentials)
        except TetherError as exc:
            # Only evidence is missing (the first render worked): the causes stay as found.
            log.warning("second render of %s for drift attribution failed: %s", app.name, exc)
            return {}
        _SECOND_RENDERS[request] = second
        while len(_SECOND_RENDERS) > _SECOND_RENDERS_SIZE:
            _SECOND_RENDERS.popitem(last=False)
    else:
        _SECOND_RENDERS.move_to_end(request)
    return unstable_paths(rendered, second, wanted)


async def _render_again(
    engine: Engine,
    app: Application,
    request: RenderRequest,
    revision: str | None,
    credentials: GitCredentials | None,
) -> list[dict[str, Any]]:
    if revision is None:  # a local directory: still there, rendered as it is
        return await render(request, engine.tools)
    source = app.spec.source
    # The tree is leased again for this render (the compare's lease ended with its render).
    async with load_source(
        engine.repos,
        source.repo_url,
        source.target_revision,
        credentials=credentials,
        revision=revision,
        local_dir=None,
        fetch=False,
    ) as tree:
        return await render(dataclasses.replace(request, root=tree.root), engine.tools)
