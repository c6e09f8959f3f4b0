"""Bounds of one render: every render is finite in bytes, objects, nodes, memory and time.

A repository is input from whoever can push to it. Without bounds, a 599-byte YAML
"billion laughs" (aliases of aliases) becomes a billion nodes in the stages after the
render (JSON encoding, deep copies, the diff), and a 100 MB file or 50,000 documents
reach the cluster client, where they end as a misleading "cluster unreachable". Each
limit below is refused with one line (InputError, exit 2) naming what was too large.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True, kw_only=True)
class RenderLimits:
    """Limits of one render; the defaults suit any real application.

    max_manifest_bytes (32 MiB): the YAML/JSON one render may read - the sum of a
        directory source's files (checked with stat before reading) and the stdout of
        each tool (`kustomize build`, `helm template`, `sops --decrypt`; the tool is
        killed past it). Argo CD bounds directory manifests to 10 MB by default
        (`reposerver.max.combined.directory.manifests.size`) and leaves tool output
        unbounded; 32 MiB is three times that for every kind of source.
    max_file_bytes (8 MiB): one file tether itself reads (a manifest, a kustomization,
        a file scanned for SOPS metadata). Kubernetes stores at most ~1.5 MiB per object
        (etcd's request limit), so a larger file is a bundle of very many objects.
    max_objects (10,000): documents and objects (after `kind: List` is flattened) one
        render may yield; more is no application but a mistake or an attack, and the
        diff and the apply of one app would take minutes.
    max_alias_nodes (100,000) and alias_expansion_ratio (10): a YAML document whose
        aliases expand its node graph to more than max(max_alias_nodes, ratio x the nodes
        written) nodes is refused at load time, counted with memoization (fast however
        large the expansion) over every YAML the render loads. Recursive aliases are
        refused too. Documents without aliases never reach this limit.
    max_depth (200): nesting of mappings and sequences. orjson, which encodes objects
        downstream, stops at 255 levels; no Kubernetes object nests half as deep.
    tool_memory_bytes (2 GiB): RLIMIT_DATA of helm, kustomize and sops. Go binaries start
        in ~128 MiB; an allocation past the limit ends the tool with "out of memory",
        reported as such (a single huge allocation may overshoot it once, by less than
        the limit: Linux counts remapped reservations late).
    """

    max_manifest_bytes: int = 32 * MIB
    max_file_bytes: int = 8 * MIB
    max_objects: int = 10_000
    max_alias_nodes: int = 100_000
    alias_expansion_ratio: int = 10
    max_depth: int = 200
    tool_memory_bytes: int = 2 * GIB


def size_text(size: int) -> str:
    """A byte count as people read it: 512 bytes, 8 MiB, 1.5 GiB."""
    for unit, name in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
        if size >= unit:
            return f"{size / unit:.1f}".removesuffix(".0") + f" {name}"
    return f"{size} bytes"
