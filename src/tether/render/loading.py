"""YAML and JSON read the way kubectl reads them, within a render's limits.

Every YAML the renderer loads (manifest files, tool output, kustomizations) goes through
`load_yaml` with the render's `LoadBudget`: the composed node graph of each document is
measured before it becomes Python objects. Aliases make that graph a DAG whose expanded
tree can be exponentially larger than the text (the "billion laughs"); PyYAML builds it
cheaply by sharing objects, and every later stage (JSON encoding, deep copies, the diff)
then walks the full expansion. The measure memoizes per node, so it costs one visit per
collection node however large the expansion, and it refuses recursive aliases, which no
later stage could encode at all.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Hashable, Iterator
from typing import Any

import orjson
import yaml

from tether.errors import InputError
from tether.render.limits import RenderLimits
from tether.render.request import RenderProblem


class LoadBudget:
    """What one render has loaded so far: documents, and the nodes that aliases added."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.documents = 0
        self.written = 0
        self.expanded = 0

    def count_document(self, source: str) -> None:
        self.documents += 1
        if self.documents > self.limits.max_objects:
            raise RenderProblem(
                f"more than {self.limits.max_objects:,} documents to render (the limit of "
                f"one render), the last in {source}",
                hint="split the application into several",
            )

    def refund_documents(self, count: int) -> None:
        """Documents loaded twice (ciphertext first, then its plaintext) count once."""
        self.documents -= count

    def charge(self, node: yaml.Node, source: str, *, may_alias: bool = True) -> None:
        """Refuse `node` (a composed document) when its aliases expand too far or it
        nests too deep. `may_alias=False` (its text has no `*`) checks the depth only."""
        limits = self.limits
        if not may_alias:
            if depth_of(node) > limits.max_depth:
                raise RenderProblem(
                    f"{source}: YAML nested deeper than {limits.max_depth} levels "
                    f"(the limit of one render)"
                )
            return
        expanded, written, depth = measure(node)
        if depth > limits.max_depth:
            raise RenderProblem(
                f"{source}: YAML nested deeper than {limits.max_depth} levels "
                f"(the limit of one render)"
            )
        self.expanded += expanded
        self.written += written
        allowed = max(limits.max_alias_nodes, limits.alias_expansion_ratio * self.written)
        if self.expanded > allowed:
            raise RenderProblem(
                f"{source}: YAML aliases expand to {expanded:,} nodes from {written:,} "
                f"written, past the limit of {allowed:,} nodes per render "
                "(a 'billion laughs' document?)"
            )


class RecursiveAlias(Exception):
    pass


def measure(root: yaml.Node) -> tuple[int, int, int]:
    """(expanded nodes, written nodes, depth) of a composed YAML document.

    Expanded counts every node of the tree the aliases stand for; written counts the
    nodes as the text has them (an alias is one); depth is the expanded tree's height.
    Iterative (no recursion limit) and memoized by node identity, each collection
    visited once and scalars (most nodes) never pushed. Raises RecursiveAlias for a
    node that contains itself.
    """
    if not isinstance(root, yaml.CollectionNode):
        return 1, 1, 1
    sizes: dict[int, int] = {}  # collections measured so far
    heights: dict[int, int] = {}
    active: set[int] = set()
    written = 1
    stack: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
    while stack:
        node, children = stack.pop()
        key = id(node)
        if children is not None:  # every child is measured: measure the node
            size, tallest = 1, 0
            for child in children:
                child_key = id(child)
                child_size = sizes.get(child_key)
                if child_size is None:  # a scalar
                    size += 1
                    tallest = tallest or 1
                else:
                    size += child_size
                    tallest = max(tallest, heights[child_key])
            sizes[key], heights[key] = size, tallest + 1
            active.discard(key)
            continue
        if key in sizes:
            continue
        if key in active:
            # Pushed again by one of its own descendants: an alias to an enclosing node.
            raise RecursiveAlias
        active.add(key)
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = node.value
        written += len(children)
        stack.append((node, children))
        for child in children:
            if isinstance(child, yaml.CollectionNode):
                child_key = id(child)
                if child_key in active:
                    raise RecursiveAlias
                if child_key not in sizes:
                    stack.append((child, None))
    return sizes[id(root)], written, heights[id(root)]


def depth_of(root: yaml.Node) -> int:
    """Nesting depth of a composed document that has no alias (a tree): collections only
    are visited, which is all `measure` would find without aliases."""
    deepest = 1
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            continue
        for child in children:
            if isinstance(child, yaml.CollectionNode):
                stack.append((child, level + 1))
            elif level + 1 > deepest:
                deepest = level + 1
        deepest = max(deepest, level)
    return deepest


_GC_LOCK = threading.Lock()
_GC_STATE = {"loads": 0, "disabled_by_us": False}


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while YAML is parsed (in any thread).

    Parsing creates hundreds of thousands of container objects that all survive, and
    each allocation threshold crossed starts a collection that walks them all again:
    composing a 50,000-item List took 10 s with the collector and 1.7 s without. Nothing
    a parse creates is cyclic garbage, and the collector resumes when the last
    concurrent parse ends.
    """
    with _GC_LOCK:
        if _GC_STATE["loads"] == 0 and gc.isenabled():
            gc.disable()
            _GC_STATE["disabled_by_us"] = True
        _GC_STATE["loads"] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_STATE["loads"] -= 1
            if _GC_STATE["loads"] == 0 and _GC_STATE["disabled_by_us"]:
                _GC_STATE["disabled_by_us"] = False
                gc.enable()


def _key_string(key: Hashable) -> str:
    # As sigs.k8s.io/yaml turns YAML into JSON: every map key becomes a string.
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


class ManifestLoader(yaml.CSafeLoader):
    """YAML 1.1 read the way kubectl reads it (go-yaml v2 into interface{}).

    PyYAML's safe loader differs in ways that would change objects: it turns timestamps
    into datetimes and `10:30` into the sexagesimal 630, rejects `=` as a value, and
    keeps non-string keys. kubectl keeps the first three as strings and stringifies keys.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        return {_key_string(key): value for key, value in mapping.items()}


def _as_string(loader: ManifestLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


def _int_unless_sexagesimal(loader: ManifestLoader, node: yaml.ScalarNode) -> int | str:
    if ":" in str(node.value):
        return loader.construct_scalar(node)
    return loader.construct_yaml_int(node)


def _float_unless_sexagesimal(loader: ManifestLoader, node: yaml.ScalarNode) -> float | str:
    if ":" in str(node.value):
        return loader.construct_scalar(node)
    return loader.construct_yaml_float(node)


def _binary_as_base64(loader: ManifestLoader, node: yaml.ScalarNode) -> str:
    # `!!binary` is base64 already, which is what a Secret's `data` wants on the wire.
    return "".join(loader.construct_scalar(node).split())


ManifestLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_string)
ManifestLoader.add_constructor("tag:yaml.org,2002:value", _as_string)
ManifestLoader.add_constructor("tag:yaml.org,2002:int", _int_unless_sexagesimal)
ManifestLoader.add_constructor("tag:yaml.org,2002:float", _float_unless_sexagesimal)
ManifestLoader.add_constructor("tag:yaml.org,2002:binary", _binary_as_base64)


def load_yaml(data: bytes | str, source: str, budget: LoadBudget) -> list[Any]:
    """Every document of a YAML stream (empty ones as None), each measured first."""
    # Without a `*` the text has no alias: its documents are trees, only their depth
    # needs a look.
    may_alias = (b"*" in data) if isinstance(data, bytes) else ("*" in data)
    with _without_cyclic_gc():
        return _load_all(ManifestLoader(data), source, budget, may_alias)


def _load_all(
    loader: ManifestLoader, source: str, budget: LoadBudget, may_alias: bool
) -> list[Any]:
    values: list[Any] = []
    try:
        while loader.check_node():
            budget.count_document(source)
            node = loader.get_node()
            if node is None:
                values.append(None)
                continue
            _charge(budget, node, source, len(values) + 1, may_alias)
            values.append(loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # The problem text describes the syntax only: safe for decrypted files too.
        problem = " ".join(str(exc.problem or exc.context).split())
        raise RenderProblem(f"{source}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise RenderProblem(f"{source}: invalid YAML: {type(exc).__name__}") from None
    finally:
        loader.dispose()
    return values


def _charge(
    budget: LoadBudget, node: yaml.Node, source: str, number: int, may_alias: bool = True
) -> None:
    try:
        budget.charge(node, source, may_alias=may_alias)
    except RecursiveAlias:
        raise RenderProblem(
            f"{source}: document {number} has a recursive YAML alias (a node that contains itself)"
        ) from None


def check_yaml_aliases(data: bytes, source: str, limits: RenderLimits) -> None:
    """Refuse a YAML file that a tool would read (a kustomize resource, a patch) when its
    aliases expand too far: kustomize expands them all (a 419-byte file held it for
    minutes at 5 GB). Composed only, not built into objects; a file without any `*` has
    no alias, and a syntax error is left for the tool to report."""
    if b"*" not in data:
        return
    budget = LoadBudget(limits)
    loader = ManifestLoader(data)
    number = 0
    try:
        with _without_cyclic_gc():
            while loader.check_node():
                node = loader.get_node()
                number += 1
                if node is not None:
                    _charge(budget, node, source, number)
    except yaml.YAMLError:
        return
    finally:
        loader.dispose()


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
        else:
            deepest = max(deepest, level)
    return deepest


def load_json(data: bytes, source: str, budget: LoadBudget) -> list[Any]:
    budget.count_document(source)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RenderProblem(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if _depth(value) > budget.limits.max_depth:
        raise RenderProblem(
            f"{source}: JSON nested deeper than {budget.limits.max_depth} levels "
            "(the limit of one render)"
        )
    return [value]


def load_manifest(data: bytes, source: str, budget: LoadBudget) -> list[Any]:
    if source.endswith(".json"):
        return load_json(data, source, budget)
    return load_yaml(data, source, budget)


def load_untrusted_yaml(
    data: bytes | str, source: str, limits: RenderLimits | None = None
) -> list[Any]:
    """Every document of a YAML stream from outside tether (a repository file, a
    ConfigMap), under the same alias, depth, size and count limits as a render;
    InputError naming `source` for anything malformed or too big."""
    limits = limits or RenderLimits()
    size = len(data.encode() if isinstance(data, str) else data)
    try:
        if size > limits.max_file_bytes:
            raise RenderProblem(
                f"{source}: {size:,} bytes, more than the limit of {limits.max_file_bytes:,}"
            )
        return load_yaml(data, source, LoadBudget(limits))
    except RenderProblem as problem:
        raise InputError(problem.message, problem.hint) from None
