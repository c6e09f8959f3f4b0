"""Sync against the real control plane: order, health gates, hooks, preflight, prune guards,
immutable fields and one-sync-at-a-time."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from tests.support.apps import application
from tests.support.githttp import git
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import ClusterApplicationStore, create_app, get_app, write_status
from tether.engine.compare import Engine, compare
from tether.engine.history import load_manifests
from tether.engine.sync import SyncFailed, SyncRequest, sync_app
from tether.errors import ConditionNotMet, InputError, TetherError
from tether.git import GitRepos
from tether.kube import KubeClient, LiveCache
from tether.model.application import API_VERSION, Application, OperationPhase


def deployment(name: str, wave: int | None = None, extra: str = "") -> str:
    annotations = f"\n  annotations: {{tether.dev/sync-wave: '{wave}'}}" if wave is not None else ""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}{annotations}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:{extra}
      containers: [{{name: app, image: "nginx:1.27"}}]
"""


def job_hook(name: str, hook: str, policy: str = "BeforeHookCreation") -> str:
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  annotations: {{tether.dev/hook: {hook}, tether.dev/hook-delete-policy: {policy}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: run, image: "busybox:1.36", command: ["true"]}}]
"""


async def test_sync_into_empty_cluster_in_order_then_synced_and_healthy(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, open_project: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    group = f"{suffix}.example.dev"
    target_ns = f"{namespace}-apps"
    files = {
        "app/00-namespace.yaml": (
            f"kind: Namespace\napiVersion: v1\nmetadata: {{name: {target_ns}}}\n"
        ),
        "app/crd.yaml": f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: gadgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: gadgets, singular: gadget, kind: Gadget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
""",
        "app/gadget.yaml": (
            f"apiVersion: {group}/v1\nkind: Gadget\n"
            f"metadata: {{name: g1, namespace: {target_ns}}}\nspec: {{size: 1}}\n"
        ),
        "app/db.yaml": deployment("db", -1).replace(
            "  name: db\n", f"  name: db\n  namespace: {target_ns}\n", 1
        ),
        "app/api.yaml": deployment("api", 0).replace(
            "  name: api\n", f"  name: api\n  namespace: {target_ns}\n", 1
        ),
        "app/web.yaml": deployment("web", 1).replace(
            "  name: web\n", f"  name: web\n  namespace: {target_ns}\n", 1
        ),
        "app/migrate.yaml": job_hook("migrate", "PreSync").replace(
            "  name: migrate\n", f"  name: migrate\n  namespace: {target_ns}\n", 1
        ),
    }
    repo.write(files)
    repo.commit("app")
    # A Namespace and a CRD, objects in another namespace: a Project must allow them.
    app = application("ordered", namespace, repo.url, "app", project=open_project)
    await create_app(kube, app)

    created: list[tuple[int, str]] = []
    recorder = LiveCache(kube)
    recorder.add_listener(
        lambda event, obj: (
            created.append(
                (
                    int(obj["metadata"]["resourceVersion"]),
                    f"{obj['kind']}/{obj['metadata']['name']}",
                )
            )
            if event == "ADDED"
            and obj["metadata"].get("namespace", target_ns) in (target_ns, "")
            and obj["metadata"]["name"]
            in {"db", "api", "web", "migrate", "g1", target_ns, f"gadgets.{group}"}
            else None
        )
    )
    try:
        for api_version, kind in (
            ("v1", "Namespace"),
            ("apps/v1", "Deployment"),
            ("batch/v1", "Job"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ):
            await recorder.watch_kind(api_version, kind)
        result = await sync_app(engine, app, SyncRequest(timeout=120))
        assert result.succeeded, result.message
        await recorder.watch_kind(f"{group}/v1", "Gadget")
        await asyncio.sleep(0.5)
    finally:
        await recorder.close()
        await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"gadgets.{group}")
    # The order the API server created them in (resourceVersion at creation).
    order = [name for _, name in sorted(created)]
    assert order.index(f"Namespace/{target_ns}") < order.index("Job/migrate")  # PreSync...
    assert order.index("Job/migrate") < order.index("Deployment/db")  # ...before wave -1
    assert (
        order.index("Deployment/db") < order.index("Deployment/api") < order.index("Deployment/web")
    )
    assert order.index(f"CustomResourceDefinition/gadgets.{group}") < order.index("Deployment/api")

    stored = await get_app(kube, namespace, "ordered")
    assert stored.status is not None
    assert stored.status.sync.status.value == "Synced"
    assert stored.status.health.status.value == "Healthy"
    assert stored.status.operation_state is not None
    assert stored.status.operation_state.phase.value == "Succeeded"


async def test_unhealthy_wave_stops_the_sync_and_runs_syncfail(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    stuck = "\n      nodeSelector: {no-such-node: 'true'}"
    repo.write(
        {
            "app/a.yaml": deployment("first", 0),
            "app/b.yaml": deployment("stuck", 1, stuck).replace(
                "spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 2\n  replicas", 1
            ),
            "app/c.yaml": deployment("never", 2),
            "app/fail.yaml": job_hook("page-oncall", "SyncFail"),
        }
    )
    repo.commit("bad release")
    app = application("bad", namespace, repo.url, "app")
    await create_app(kube, app)
    with pytest.raises(SyncFailed, match="stuck"):
        await sync_app(engine, app, SyncRequest(timeout=60))
    assert await kube.get("apps/v1", "Deployment", "first", namespace) is not None
    assert await kube.get("apps/v1", "Deployment", "never", namespace) is None  # wave 2 never ran
    assert await kube.get("batch/v1", "Job", "page-oncall", namespace) is not None  # SyncFail hook
    stored = await get_app(kube, namespace, "bad")
    assert stored.status is not None and stored.status.operation_state is not None
    assert stored.status.operation_state.phase.value == "Failed"
    assert "Deployment.apps" in (stored.status.operation_state.message or "")
    assert "stuck" in (stored.status.operation_state.message or "")


async def test_preflight_rejects_the_40th_object_and_applies_nothing(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    files = {
        f"app/cm-{i:02d}.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:02d}\n"
        for i in range(39)
    }
    files["app/zz-bad.yaml"] = deployment("broken").replace("replicas: 1", "replicas: -3")
    repo.write(files)
    repo.commit("40 objects, one invalid")
    app = application("preflight", namespace, repo.url, "app")
    await create_app(kube, app)
    with pytest.raises(InputError) as err:
        await sync_app(engine, app, SyncRequest())
    assert "Deployment.apps" in err.value.message and "broken" in err.value.message
    assert "spec.replicas" in err.value.message  # the API server's reason
    assert await kube.list("v1", "ConfigMap", namespace, label_selector=None) == [
        cm
        for cm in await kube.list("v1", "ConfigMap", namespace)
        if cm["metadata"]["name"] == "kube-root-ca.crt"
    ]


async def test_prune_rules_and_guards(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    cms = {
        f"app/cm-{n}.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n"
        for n in "abcdef"
    }
    cms["app/cm-keep.yaml"] = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n"
        "  annotations: {tether.dev/sync-options: Prune=false}\n"
    )
    repo.write(cms)
    repo.commit("seven configmaps")
    app = application("pruner", namespace, repo.url, "app")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest())).succeeded
    # Someone else's object with the same kind in the namespace is never ours.
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "other",
                "namespace": namespace,
                "annotations": {
                    "tether.dev/tracking-id": f"{namespace}/other-app:/ConfigMap:{namespace}/other"
                },
            },
        }
    )

    repo.remove("app/cm-a.yaml", "app/cm-keep.yaml")
    repo.commit("drop a and keep")
    without = await sync_app(engine, app, SyncRequest())
    assert without.pruned == []
    assert await kube.get("v1", "ConfigMap", "a", namespace) is not None  # no prune flag
    with_prune = await sync_app(engine, app, SyncRequest(prune=True))
    assert [k.name for k in with_prune.pruned] == ["a"]
    assert await kube.get("v1", "ConfigMap", "keep", namespace) is not None  # Prune=false
    assert await kube.get("v1", "ConfigMap", "other", namespace) is not None  # not ours

    repo.remove("app/cm-b.yaml", "app/cm-c.yaml", "app/cm-d.yaml", "app/cm-e.yaml")
    repo.commit("drop most")
    with pytest.raises(ConditionNotMet, match="more than half"):
        await sync_app(engine, app, SyncRequest(prune=True))
    assert await kube.get("v1", "ConfigMap", "b", namespace) is not None
    confirmed = await sync_app(engine, app, SyncRequest(prune=True, confirm_prune=True))
    assert sorted(k.name for k in confirmed.pruned) == ["b", "c", "d", "e"]

    repo.remove("app")
    repo.write({"app/README.md": "nothing here\n"})
    repo.commit("empty render")
    with pytest.raises(ConditionNotMet, match="empty"):
        await sync_app(engine, app, SyncRequest(prune=True, confirm_prune=True))
    assert await kube.get("v1", "ConfigMap", "f", namespace) is not None


async def test_immutable_field_needs_force(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"app/d.yaml": deployment("api")})
    repo.commit("api")
    app = application("immutable", namespace, repo.url, "app")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest())).succeeded
    changed = deployment("api").replace(
        "{matchLabels: {app: api}}", "{matchLabels: {app: api, v: '2'}}"
    )
    changed = changed.replace("labels: {app: api}}", "labels: {app: api, v: '2'}}")
    repo.write({"app/d.yaml": changed})
    repo.commit("new selector")
    with pytest.raises(SyncFailed) as err:
        await sync_app(engine, app, SyncRequest())
    assert "immutable" in err.value.message and "Deployment.apps" in err.value.message
    assert "--force" in (err.value.hint or "") or "--force" in err.value.message
    assert (await sync_app(engine, app, SyncRequest(force=True))).succeeded
    live = await kube.get("apps/v1", "Deployment", "api", namespace)
    assert live is not None and live["spec"]["selector"]["matchLabels"] == {"app": "api", "v": "2"}


async def test_two_concurrent_syncs_one_runs_one_is_refused(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"app/a.yaml": deployment("a", 0), "app/b.yaml": deployment("b", 1)})
    repo.commit("two waves")
    app = application("racy", namespace, repo.url, "app")
    await create_app(kube, app)
    other_cache = LiveCache(kube)
    other = Engine(kube, GitRepos(tmp_path / "other-git"), engine.tools, other_cache)
    try:
        results = await asyncio.gather(
            sync_app(engine, app, SyncRequest(timeout=60)),
            sync_app(other, app, SyncRequest(timeout=60)),
            return_exceptions=True,
        )
    finally:
        await other_cache.close()
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 1 and ok[0].succeeded
    assert len(refused) == 1 and isinstance(refused[0], ConditionNotMet)
    assert "sync" in refused[0].message and (
        "running" in refused[0].message or "same time" in refused[0].message
    )
    final = await compare(engine, await get_app(kube, namespace, "racy"))
    assert final.diff is not None and final.diff.in_sync


async def test_create_namespace_option(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, open_project: str
) -> None:
    target = f"{namespace}-new"
    repo.write({"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n"})
    repo.commit("cm")
    app = Application.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": "newns", "namespace": namespace},
            "spec": {
                "source": {"repoURL": repo.url, "path": "app", "targetRevision": "main"},
                "destination": {"namespace": target},
                "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
                # Another namespace than the app's own: the default project refuses it.
                "project": open_project,
            },
        }
    )
    await create_app(kube, app)
    try:
        assert (await sync_app(engine, app, SyncRequest())).succeeded
        assert await kube.get("v1", "ConfigMap", "hello", target) is not None
    finally:
        await kube.delete("v1", "Namespace", target)


async def test_a_bad_update_fails_its_health_gate(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    good = deployment("api").replace(
        "spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 3\n  replicas", 1
    )
    repo.write({"app/d.yaml": good})
    repo.commit("good release")
    app = application("release", namespace, repo.url, "app")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest(timeout=60))).succeeded
    # The watch cache holds the healthy copy when the bad apply lands: the gate must wait
    # for the new generation instead of passing on the old one.
    bad = good.replace('"nginx:1.27"', '"nginx:1.28"').replace(
        "    spec:\n", "    spec:\n      nodeSelector: {pool: does-not-exist}\n", 1
    )
    repo.write({"app/d.yaml": bad})
    repo.commit("bad release")
    with pytest.raises(SyncFailed, match="api"):
        await sync_app(engine, app, SyncRequest(timeout=60))


async def test_history_rewrite_is_flagged_until_an_explicit_sync(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write(
        {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {v: '1'}\n"}
    )
    repo.commit("v1")
    repo.write(
        {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {v: '2'}\n"}
    )
    repo.commit("v2")
    app = application("rewritten", namespace, repo.url, "app")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest())).succeeded

    # Someone rewrites main: drop v2 and force-push another commit in its place.
    git("reset", "--hard", "HEAD~1", cwd=repo.work)
    repo.write(
        {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {v: '3'}\n"}
    )
    git("commit", "-qam", "v3 (rewritten)", cwd=repo.work)
    git("push", "-q", "--force", "origin", "main", cwd=repo.work)

    result = await compare(engine, await get_app(kube, namespace, "rewritten"))
    assert result.status is not None
    flagged = [c for c in result.status.conditions if c.type == "HistoryRewritten"]
    assert len(flagged) == 1 and flagged[0].status.value == "True"
    assert "does not descend from the last synced revision" in flagged[0].message

    assert (
        await sync_app(engine, await get_app(kube, namespace, "rewritten"), SyncRequest())
    ).succeeded
    stored = await get_app(kube, namespace, "rewritten")
    assert stored.status is not None
    assert not [c for c in stored.status.conditions if c.type == "HistoryRewritten"]


async def test_history_keeps_ten_entries_after_twelve_syncs(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    app = application("versions", namespace, repo.url, "app")
    shas = []
    for n in range(1, 13):
        repo.write(
            {
                "app/cm.yaml": (
                    f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: v}}\ndata: {{n: '{n}'}}\n"
                )
            }
        )
        shas.append(repo.commit(f"v{n}"))
        if n == 1:
            await create_app(kube, app)
        assert (
            await sync_app(engine, await get_app(kube, namespace, "versions"), SyncRequest())
        ).succeeded
    stored = await get_app(kube, namespace, "versions")
    assert stored.status is not None
    history = stored.status.history
    assert [e.id for e in history] == list(range(3, 13))
    assert [e.revision for e in history] == shas[2:]
    assert all(e.health is not None and e.health.value == "Healthy" for e in history)
    for entry in (history[0], history[-1]):
        manifests = await load_manifests(kube, stored, entry.id)
        assert [m["data"]["n"] for m in manifests] == [str(entry.id)]
        assert manifests[0]["metadata"]["annotations"]["tether.dev/tracking-id"].endswith("/v")
    secrets = await kube.list(
        "v1", "Secret", namespace, label_selector="tether.dev/application=versions"
    )
    assert len(secrets) == 10


async def test_a_status_from_an_old_read_keeps_newer_history(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
    repo.commit("c")
    app = application("racy-status", namespace, repo.url, "app")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest())).succeeded
    stale = await get_app(kube, namespace, "racy-status")  # e.g. `app wait` read it here
    assert (await sync_app(engine, stale, SyncRequest())).succeeded  # history entry 2
    result = await compare(engine, stale)
    assert result.status is not None
    await write_status(ClusterApplicationStore(kube), stale, result.status)
    final = await get_app(kube, namespace, "racy-status")
    assert final.status is not None and [e.id for e in final.status.history] == [1, 2]


async def test_a_timeout_names_what_it_waited_for_and_how_to_fix_an_ingress(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    # Nothing on the local cluster publishes an Ingress address: it stays Progressing.
    ingress = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  defaultBackend: {service: {name: shop, port: {number: 80}}}
"""
    repo.write({"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
    repo.write({"app/ingress.yaml": ingress})
    repo.commit("ingress")
    app = application("ingress", namespace, repo.url, "app")
    await create_app(kube, app)
    with pytest.raises(SyncFailed) as raised:
        await sync_app(engine, app, SyncRequest(timeout=4))
    message = raised.value.message
    assert "timed out after 4s waiting for Ingress.networking.k8s.io" in message
    assert f"{namespace}/shop" in message and "ConfigMap" not in message  # only what it awaits
    assert "tether-health-rules" in (raised.value.hint or "")
    stored = await get_app(kube, namespace, "ingress")
    assert stored.status is not None and stored.status.operation_state is not None
    assert "Ingress.networking.k8s.io" in (stored.status.operation_state.message or "")


async def test_a_sync_whose_history_entry_is_refused_still_records_its_outcome(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    # The outcome and the history entry are one status write; when the entry's Secret is
    # refused (here: a quota of no Secrets), the outcome is still written, never Running.
    repo.write({"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: q}\n"})
    repo.commit("q")
    app = application("no-room", namespace, repo.url, "app")
    await create_app(kube, app)
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-secrets", "namespace": namespace},
        "spec": {"hard": {"count/secrets": "0"}},
    }
    await kube.apply(quota, field_manager="test")

    async def enforced() -> bool:
        live = await kube.get("v1", "ResourceQuota", "no-secrets", namespace)
        return bool(((live or {}).get("status") or {}).get("hard"))

    await eventually(enforced, what="the quota's status (enforced from then on)")
    with pytest.raises(TetherError) as refused:
        await sync_app(engine, app, SyncRequest())
    assert "quota" in refused.value.message, refused.value.message
    stored = await get_app(kube, namespace, "no-room")
    assert stored.status is not None and stored.status.operation_state is not None
    assert stored.status.operation_state.phase is OperationPhase.SUCCEEDED
    assert stored.status.history == ()
    assert await kube.get("v1", "ConfigMap", "q", namespace) is not None
