"""Render adapter: plain YAML, Kustomize, Helm, SOPS into plain dicts, confined and
bounded.

Owns: running the render tools on a checked-out tree with every limit (time, memory,
output size, object count, YAML aliases and depth), no network unless remote bases are
allowed, reading only inside the app's own checkout. Must not: apply anything or read the
cluster (cluster facts for `helm template` are passed in).
"""

from tether.render.limits import RenderLimits
from tether.render.loading import load_untrusted_yaml
from tether.render.renderer import detect_render_kind, render
from tether.render.request import RenderKind, RenderRequest, RenderTools
from tether.render.tools import network_isolation

__all__ = [
    "RenderKind",
    "RenderLimits",
    "RenderRequest",
    "RenderTools",
    "detect_render_kind",
    "load_untrusted_yaml",
    "network_isolation",
    "render",
]
