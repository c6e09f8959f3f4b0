"""The renderer's YAML loading limits: alias expansion, recursion, nesting, documents."""

from __future__ import annotations

import itertools
import time

import pytest
import yaml

from tether.render.limits import RenderLimits
from tether.render.loading import (
    LoadBudget,
    RecursiveAlias,
    check_yaml_aliases,
    depth_of,
    load_json,
    load_yaml,
    measure,
)
from tether.render.request import RenderProblem


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic: each level a list of `width` aliases of the level below."""
    names = [f"l{i}" for i in range(levels)]
    lols = ",".join(['"lol"'] * width)
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: lol}", "data:"]
    lines.append(f"  {names[0]}: &{names[0]} [{lols}]")
    for below, name in itertools.pairwise(names):
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{below}"] * width) + "]")
    return "\n".join(lines) + "\n"


def budget(**limits: int) -> LoadBudget:
    return LoadBudget(RenderLimits(**limits))


def problem(data: str | bytes, source: str = "app/cm.yaml", **limits: int) -> str:
    with pytest.raises(RenderProblem) as caught:
        load_yaml(data, source, budget(**limits))
    message = caught.value.message
    assert "\n" not in message
    return message


def compose(text: str) -> yaml.Node:
    node = yaml.compose(text, Loader=yaml.CSafeLoader)
    assert node is not None
    return node


def test_billion_laughs_is_refused_in_well_under_a_second() -> None:
    text = billion_laughs()
    assert len(text) < 600
    start = time.perf_counter()
    message = problem(text)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.1, f"took {elapsed:.3f}s"
    assert message.startswith("app/cm.yaml: YAML aliases expand to ")
    assert "billion laughs" in message


def test_check_yaml_aliases_refuses_the_same_without_building_objects() -> None:
    start = time.perf_counter()
    with pytest.raises(RenderProblem, match=r"^base/cm\.yaml: YAML aliases expand"):
        check_yaml_aliases(billion_laughs().encode(), "base/cm.yaml", RenderLimits())
    assert time.perf_counter() - start < 0.1
    # No alias at all, or a syntax error (left for the tool to report): no refusal.
    check_yaml_aliases(b"a: [1, 2]\n", "x.yaml", RenderLimits())
    check_yaml_aliases(b"a: *nothing\n: [", "x.yaml", RenderLimits())


def test_measure_counts_the_expanded_tree_with_memoization() -> None:
    # l0 = [lol x3] (4 nodes); l1 = [l0, l0] (1 + 2*4 = 9 nodes).
    node = compose("a: &a [x, x, x]\nb: [*a, *a]\n")
    expanded, written, depth = measure(node)
    # root + key a + l0 (4) + key b + l1 (9) = 16 expanded.
    assert expanded == 16
    # As the text has them: root, "a", l0 and its 3 scalars, "b", l1 and its 2 aliases.
    assert written == 10
    assert depth == 4  # root mapping > b > l0 > scalar
    assert depth_of(compose("a: [x, {b: [y]}]\n")) == measure(compose("a: [x, {b: [y]}]\n"))[2]


def test_a_document_without_aliases_is_never_limited_by_expansion() -> None:
    items = "\n".join(f"  k{i}: v{i}" for i in range(20_000))
    values = load_yaml(f"data:\n{items}\n", "big.yaml", budget())
    assert len(values[0]["data"]) == 20_000


def test_moderate_alias_use_is_fine() -> None:
    text = "defaults: &d {cpu: 100m, memory: 64Mi}\nx: {requests: *d, limits: *d}\n"
    values = load_yaml(text, "ok.yaml", budget())
    assert values[0]["x"]["limits"] == {"cpu": "100m", "memory": "64Mi"}


def test_the_limit_scales_with_the_distinct_nodes() -> None:
    # 1,000 aliases of a 200-node list: ~200,000 expanded from ~1,200 written.
    lines = ["base: &b [" + ",".join(["x"] * 199) + "]", "copies:"]
    lines += ["  - *b"] * 1_000
    text = "\n".join(lines) + "\n"
    assert "aliases expand" in problem(text)
    # The same expansion is fine where the floor is higher, or the text larger.
    load_yaml(text, "a.yaml", budget(max_alias_nodes=300_000))
    padding = "\n".join(f"p{i}: [" + ",".join(["y"] * 9) + "]" for i in range(2_500))
    load_yaml(text + padding + "\n", "b.yaml", budget())


def test_expansion_is_counted_over_the_whole_render() -> None:
    lines = ["base: &b [" + ",".join(["x"] * 99) + "]", "copies:"] + ["  - *b"] * 600
    text = "\n".join(lines) + "\n"  # ~60,000 expanded nodes each
    shared = budget()
    load_yaml(text, "one.yaml", shared)
    with pytest.raises(RenderProblem, match=r"^two\.yaml: YAML aliases expand"):
        load_yaml(text, "two.yaml", shared)


def test_recursive_alias_is_refused() -> None:
    assert problem("a: &a [1, *a]\n") == (
        "app/cm.yaml: document 1 has a recursive YAML alias (a node that contains itself)"
    )
    assert "recursive YAML alias" in problem("---\nok: 1\n---\nm: &m {self: *m}\n")
    with pytest.raises(RecursiveAlias):
        measure(compose("a: &a {b: [{c: *a}]}\n"))


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep = "[" * 300 + "]" * 300
    assert (
        problem(deep) == "app/cm.yaml: YAML nested deeper than 200 levels (the limit of one render)"
    )
    load_yaml("[" * 150 + "]" * 150, "ok.yaml", budget())
    with pytest.raises(RenderProblem, match="JSON nested deeper than 200 levels"):
        load_json(b"[" * 300 + b"]" * 300, "deep.json", budget())


def test_document_count_is_limited_per_render() -> None:
    shared = budget(max_objects=3)
    load_yaml("a: 1\n---\nb: 2\n", "one.yaml", shared)
    with pytest.raises(RenderProblem) as caught:
        load_yaml("c: 3\n---\nd: 4\n", "two.yaml", shared)
    assert caught.value.message == (
        "more than 3 documents to render (the limit of one render), the last in two.yaml"
    )


def test_documents_past_the_limit_are_not_even_parsed() -> None:
    text = "---\nk: v\n" * 200_000
    start = time.perf_counter()
    assert "more than 10,000 documents" in problem(text)
    assert time.perf_counter() - start < 1.0


def test_syntax_errors_stay_one_line() -> None:
    message = problem("a: [1, 2\nb: {")
    assert message.startswith("app/cm.yaml: invalid YAML at line ")
