"""Render adapter: plain YAML, Kustomize, Helm, SOPS into plain dicts."""

from tether.render.renderer import (
    RenderKind,
    RenderRequest,
    RenderTools,
    detect_render_kind,
    render,
)

__all__ = ["RenderKind", "RenderRequest", "RenderTools", "detect_render_kind", "render"]
