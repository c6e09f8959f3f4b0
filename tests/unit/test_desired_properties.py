"""Property: whatever a chart renders, the desired-object pipeline (prepare_desired, the
sync plan) and the diff (compare_app / compare_object) end in a result or a documented
InputError, never in another exception (an "internal error: TypeError" for a user).

The objects are generated: null, empty and odd metadata (labels/annotations null, lists,
numbers; names missing, numeric, generateName), hook annotations, and values of every
JSON type where the API has maps, lists or strings.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tether.core.desired import prepare_desired
from tether.core.diff import compare_app, compare_object
from tether.core.plan import hook_keys, object_key, plan_sync
from tether.errors import InputError
from tether.model.application import tracking_id_of
from tether.model.keys import ResourceKey

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
ODD = st.none() | st.just({}) | st.just([]) | st.integers() | st.text(max_size=5) | JSON

HOOK_ANNOTATIONS = st.dictionaries(
    st.sampled_from(
        [
            "helm.sh/hook",
            "helm.sh/hook-weight",
            "helm.sh/hook-delete-policy",
            "argocd.argoproj.io/hook",
            "argocd.argoproj.io/sync-wave",
            "tether.dev/hook-delete-policy",
            "tether.dev/sync-options",
            "app.kubernetes.io/name",
        ]
    ),
    st.sampled_from(
        ["pre-install", "test", "crd-install", "PreSync", "Skip", "hook-succeeded", "-5", "x", ""]
    )
    | SCALARS,
    max_size=4,
)
# Mostly maps (null and empty included: what charts render), now and then anything.
MAP_OR_ODD = st.one_of(
    st.none(),
    st.just({}),
    HOOK_ANNOTATIONS,
    st.dictionaries(st.text(max_size=6), JSON, max_size=3),
    st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
)


def rarely(common: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`common` nine times in ten, else `odd`."""
    return st.integers(0, 9).flatmap(lambda n: odd if n == 0 else common)


@st.composite
def metadata(draw: st.DrawFn) -> Any:
    meta: dict[str, Any] = {}
    named = draw(st.integers(0, 9))
    if named < 8:
        meta["name"] = draw(rarely(st.sampled_from(["web", "db", "cfg", "x" * 70]), ODD))
    if named >= 7 or draw(st.integers(0, 9)) == 0:
        meta["generateName"] = draw(rarely(st.sampled_from(["run-", "migrate-"]), ODD))
    if draw(st.booleans()):
        meta["namespace"] = draw(rarely(st.sampled_from(["prod", "", None]), ODD))
    for field in ("labels", "annotations"):
        if draw(st.integers(0, 3)) > 0:
            meta[field] = draw(rarely(MAP_OR_ODD, ODD))
    return draw(rarely(st.just(meta), ODD))


KINDS = rarely(
    st.sampled_from(
        [
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("v1", "Namespace"),
            ("apps/v1", "Deployment"),
            ("batch/v1", "Job"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ]
    ),
    st.sampled_from([("example.dev/v1", "Widget"), ("v1", "List"), ("", "")]),
)


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    api_version, kind = draw(KINDS)
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": draw(metadata())}
    for field in draw(
        st.lists(st.sampled_from(["spec", "data", "stringData", "status"]), max_size=3)
    ):
        obj[field] = draw(JSON)
    if draw(st.integers(0, 19)) == 0:
        del obj["metadata"]
    return obj


def scope(group: str, kind: str) -> bool | None:
    """The cluster serves the core kinds; Widget is unknown unless a CRD declares it."""
    if kind in ("Namespace", "CustomResourceDefinition"):
        return False
    if kind in ("ConfigMap", "Secret", "Deployment", "Job"):
        return True
    return None


def live_copy(obj: dict[str, Any], change: Any) -> dict[str, Any]:
    """What the server might hold: the object with one field replaced by anything."""
    live = copy.deepcopy(obj)
    live.setdefault("metadata", {})["resourceVersion"] = "7"
    live["data" if "data" in live else "spec"] = change
    return live


@st.composite
def rendered_objects(draw: st.DrawFn) -> dict[str, Any]:
    """What charts render: served kinds, names (or a hook's generateName), and labels or
    annotations that are absent, null, empty or maps of odd values."""
    api_version, kind = draw(
        st.sampled_from(
            [("v1", "ConfigMap"), ("v1", "Secret"), ("apps/v1", "Deployment"), ("batch/v1", "Job")]
        )
    )
    meta: dict[str, Any] = {}
    annotations = draw(st.none() | st.just({}) | HOOK_ANNOTATIONS)
    if draw(st.integers(0, 4)) == 0:
        annotations = {**(annotations or {}), "argocd.argoproj.io/hook": "PreSync"}
        meta["generateName"] = draw(st.sampled_from(["run-", "migrate-"]))
    else:
        # RBAC names carry ':' (cert-manager-webhook:subjectaccessreviews)
        meta["name"] = draw(st.sampled_from(["web", "db", "cfg", "a" * 63, "cm-webhook:sar"]))
    if "generateName" in meta or draw(st.booleans()):
        meta["annotations"] = annotations
    if draw(st.booleans()):
        meta["labels"] = draw(
            st.none() | st.just({}) | st.dictionaries(st.text(max_size=6), SCALARS, max_size=3)
        )
    if draw(st.booleans()):
        meta["namespace"] = draw(st.sampled_from(["prod", "other", "", None]))
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    for field in draw(st.lists(st.sampled_from(["spec", "data", "stringData"]), max_size=2)):
        obj[field] = draw(JSON)
    return obj


def run_pipeline(rendered: list[dict[str, Any]], changes: list[Any], data: st.DataObject) -> None:
    try:
        desired = prepare_desired(
            rendered,
            app_namespace="tether-system",
            app_name="app",
            destination_namespace=data.draw(st.sampled_from(["prod", "prod", None])),
            scope=scope,
        )
    except InputError as exc:
        assert exc.message and "\n" not in exc.message
        event(f"InputError: {exc.message.split(':')[-1][:40]}")
        return
    for obj in desired:
        # Everything prepared names itself and carries maps where the API wants maps.
        meta = obj["metadata"]
        assert isinstance(meta.get("annotations"), dict)
        assert meta.get("labels") is None or isinstance(meta["labels"], dict)
        assert "None" not in str(object_key(obj))
        if meta.get("name") and isinstance(meta["name"], str):
            # The id stamped on it parses back and describes it: the object stays ours.
            owner = tracking_id_of(obj)
            assert owner is not None and owner.belongs_to("tether-system", "app"), meta
    live: dict[ResourceKey, dict[str, Any]] = {}
    for obj, change in zip(desired, changes, strict=False):
        if data.draw(st.booleans()):
            live[ResourceKey.of(obj)] = live_copy(obj, change)
    stray = data.draw(objects())
    if isinstance(stray.get("metadata"), dict):
        live[ResourceKey.of(stray)] = stray  # a tracked live object nothing renders
    hooks = hook_keys(desired, live)
    compared = [o for o in desired if object_key(o) not in hooks]
    wanted = {object_key(o) for o in desired}
    plan_sync(desired, [o for k, o in live.items() if k not in wanted], prune=True)
    try:
        diff = compare_app(compared, {k: o for k, o in live.items() if k not in hooks}, dict(live))
    except InputError as exc:
        assert "more than once" in exc.message
        event("InputError: rendered more than once")
        return
    event(f"compared {len(compared)} objects")
    assert {d.key for d in diff.objects} >= {ResourceKey.of(o) for o in compared}
    for obj, change in zip(compared, changes, strict=False):
        compare_object(obj, live_copy(obj, change), predicted=live_copy(obj, change))
        compare_object(obj, None)


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    st.lists(rendered_objects(), min_size=1, max_size=5),
    st.lists(JSON, min_size=5, max_size=5),
    st.data(),
)
def test_rendered_charts_end_in_a_result_or_an_input_error(
    rendered: list[dict[str, Any]], changes: list[Any], data: st.DataObject
) -> None:
    run_pipeline(rendered, changes, data)


@SETTINGS
@given(
    st.lists(objects(), min_size=1, max_size=2), st.lists(JSON, min_size=5, max_size=5), st.data()
)
def test_any_object_ends_in_a_result_or_an_input_error(
    rendered: list[dict[str, Any]], changes: list[Any], data: st.DataObject
) -> None:
    run_pipeline(rendered, changes, data)


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "\n"}},
        {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "a\nb"}},
        {"apiVersion": "v1", "kind": "Config\rMap", "metadata": {}},
    ],
)
def test_a_control_character_in_a_name_keeps_the_error_on_one_line(obj: dict[str, Any]) -> None:
    # Found by the property test above: the name was printed as it is.
    with pytest.raises(InputError) as raised:
        prepare_desired(
            [obj],
            app_namespace="tether-system",
            app_name="app",
            destination_namespace="prod",
            scope=lambda group, kind: True if group == "" else None,
        )
    assert "\n" not in raised.value.message and "\r" not in raised.value.message
    assert "\\n" in raised.value.message or "\\r" in raised.value.message


@pytest.mark.parametrize(
    ("meta", "shown"),
    [({"name": "/"}, "'/'"), ({"name": "a/b"}, "'a/b'"), ({"name": ".."}, "'..'"),
     ({"name": "cfg", "namespace": "pro/d"}, "'pro/d'")],
)  # fmt: skip
def test_a_name_that_is_no_path_segment_is_refused_before_it_is_tracked(
    meta: dict[str, str], shown: str
) -> None:
    # Found by the property test above: a name "/" got a tracking id that never parses
    # back, so the object would never be recognised as the app's again.
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    with pytest.raises(InputError, match="may not contain '/'") as raised:
        prepare_desired(
            [obj],
            app_namespace="tether-system",
            app_name="app",
            destination_namespace="prod",
            scope=lambda group, kind: True,
        )
    assert shown in raised.value.message
    # A plain name goes through and stays ours.
    plain = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}
    (prepared,) = prepare_desired(
        [plain],
        app_namespace="tether-system",
        app_name="app",
        destination_namespace="prod",
        scope=lambda group, kind: True,
    )
    assert tracking_id_of(prepared) is not None
