"""Render adapter: plain YAML, Kustomize, Helm, SOPS into plain dicts."""
