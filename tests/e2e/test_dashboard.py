"""The dashboard in a real headless chromium, against a real controller and control
plane: the fleet page shows each app's state, a real edit by another field manager turns
the app OutOfSync on the open page without a reload, the app page names the drifted path,
its writer and cause, and nothing an Application holds runs as script."""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.support.apps import application
from tests.support.controller import ControllerProcess, free_port
from tests.support.dashboard import DashboardProcess, chromium
from tests.support.manifests import as_yaml, configmap, deployment
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import create_app, get_app
from tether.kube import KubeClient

DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def images_dir(tmp_path: Path) -> Path:
    """docs/images when TETHER_UPDATE_SCREENSHOTS=1 (how the committed ones are made),
    else a temporary directory: a plain `make test` leaves the checkout clean."""
    return DOC_IMAGES if os.environ.get("TETHER_UPDATE_SCREENSHOTS") == "1" else tmp_path


HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
SECRET_IN_GIT = "hunter2-in-git"
SECRET_LIVE = "rotated-by-hand-7"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(value: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "db"} | ({"namespace": namespace} if namespace else {})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "data": {"password": b64(value)},
    }


async def data_of(kube: KubeClient, namespace: str) -> dict[str, str]:
    live = await kube.get("v1", "ConfigMap", "settings", namespace)
    assert live is not None
    return dict(live.get("data") or {})


def row(page: Page, namespace: str, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr.app[data-key="{namespace}/{name}"]')


async def test_fleet_and_app_pages_follow_a_live_edit(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "blue"}))})
    repo.write(
        {
            "api/settings.yaml": as_yaml(
                configmap("api-settings", {"level": "info"}), secret(SECRET_IN_GIT)
            )
        }
    )
    repo.commit("web and api settings")
    web = application("web", namespace, repo.url, "web", syncPolicy={"automated": {"prune": True}})
    api = application("api", namespace, repo.url, "api", syncPolicy={"automated": {}})
    web = type(web).from_dict(
        {
            **web.to_dict(),
            "metadata": {**web.to_dict()["metadata"], "annotations": {"team": HOSTILE}},
        }
    )
    await create_app(kube, web)
    await create_app(kube, api)

    images = images_dir(tmp_path)
    with (
        ControllerProcess(kubeconfig, namespace, tmp_path),
        DashboardProcess(kubeconfig, namespace, tmp_path) as dashboard,
    ):
        async with chromium() as browser:
            page = await browser.new_page(viewport={"width": 1400, "height": 700})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(dashboard.url + "/ui/")
            for name in ("web", "api"):
                await expect(row(page, namespace, name).locator("td").nth(1)).to_have_text(
                    "Synced", timeout=60_000
                )
                await expect(row(page, namespace, name).locator("td").nth(2)).to_have_text(
                    "Healthy"
                )
            # The revision with its commit's subject, from the app's own repository.
            subject = row(page, namespace, "web").locator("td.revision .subject")
            await expect(subject).to_have_text("web and api settings")
            await expect(page.locator("#live")).to_have_text("live")
            await page.screenshot(path=str(images / "dashboard-fleet.png"))

            # A live edit by another writer, as `kubectl edit` makes it: no reload.
            edited = configmap("settings", {"mode": "green"}, namespace=namespace)
            started = time.monotonic()
            await kube.apply(edited, field_manager="kubectl-edit", force=True)
            await expect(row(page, namespace, "web").locator("td").nth(1)).to_have_text(
                "OutOfSync", timeout=5_000
            )
            seen_after = time.monotonic() - started
            print(f"edit -> OutOfSync on the open fleet page: {seen_after * 1000:.0f} ms")
            assert seen_after < 5.0
            await expect(row(page, namespace, "api").locator("td").nth(1)).to_have_text("Synced")

            # Filters: text and state.
            await page.fill("#filter-text", "api")
            await expect(row(page, namespace, "web")).to_be_hidden()
            await expect(row(page, namespace, "api")).to_be_visible()
            await page.fill("#filter-text", "")
            await page.select_option("#filter-sync", "OutOfSync")
            await expect(row(page, namespace, "api")).to_be_hidden()
            await expect(row(page, namespace, "web")).to_be_visible()
            await page.select_option("#filter-sync", "")

            # The app page: the drifted path, who wrote it and why.
            await row(page, namespace, "web").locator("a").click()
            drifted = page.locator('tr.resource[data-key^="ConfigMap/"]')
            await expect(drifted.locator("td.paths")).to_contain_text("/data/mode")
            await expect(drifted.locator("td.writer")).to_have_text("kubectl-edit")
            await expect(drifted.locator("td.cause")).to_have_text("manual-edit")
            # The controller's Events about the app are on its page.
            await expect(page.locator("#events")).to_contain_text("SyncSucceeded")
            # The hostile annotation is shown as text, and nothing in it ran.
            await expect(page.locator("dd.annotation")).to_have_text(HOSTILE)
            assert await page.evaluate("window.pwned === undefined")
            await page.screenshot(path=str(images / "dashboard-app-drift.png"), full_page=True)

            # The diff against Git now: the same server-side dry-run diff as `app diff`.
            await page.click("#open-diff")
            changed = page.locator('section.object[data-key^="ConfigMap/"]')
            await expect(changed.locator("tr.path td").first).to_have_text("/data/mode")
            await expect(changed.locator("td.writer")).to_have_text("kubectl-edit")
            await expect(changed.locator("td.cause")).to_have_text("manual-edit")
            await expect(changed.locator("pre.diff .del")).to_contain_text(["mode: green"])
            await expect(changed.locator("pre.diff .add")).to_contain_text(["mode: blue"])
            await page.screenshot(path=str(images / "dashboard-diff.png"), full_page=True)
            await page.go_back()

            # History: what a rollback to entry 1 would change, from its stored manifests.
            await page.locator("a.entry-diff").first.click()
            stored = page.locator('section.object[data-key^="ConfigMap/"]')
            await expect(stored.locator("pre.diff .add")).to_contain_text(["mode: blue"])
            await expect(stored.locator("pre.diff .del")).to_contain_text(["mode: green"])
            await page.screenshot(path=str(images / "dashboard-history.png"), full_page=True)
            await page.go_back()

            # Put back by the same writer: the open app page turns Synced by itself.
            await kube.apply(
                configmap("settings", {"mode": "blue"}, namespace=namespace),
                field_manager="kubectl-edit",
                force=True,
            )
            await expect(page.locator("#app-sync")).to_have_text("Synced", timeout=10_000)
            # Actions: edited again, previewed and synced back from the dashboard, recorded.
            red = configmap("settings", {"mode": "red"}, namespace=namespace)
            await kube.apply(red, field_manager="kubectl-edit", force=True)
            await expect(page.locator("#app-sync")).to_have_text("OutOfSync", timeout=10_000)
            await page.click("#open-actions")
            await page.fill('#sync-form input[name="reason"]', "undo the red experiment")
            await page.click("#preview")
            await expect(page.locator("#result")).to_contain_text("dry run: nothing applied")
            await expect(page.locator("#plan")).to_contain_text("ConfigMap")
            assert await data_of(kube, namespace) == {"mode": "red"}  # a preview changes nothing
            await page.click("#sync")
            await expect(page.locator("#result h2")).to_have_text("sync: done", timeout=60_000)
            assert await data_of(kube, namespace) == {"mode": "blue"}
            await page.screenshot(path=str(images / "dashboard-actions.png"), full_page=True)
            await page.click("h1 a")
            await expect(page.locator("#app-sync")).to_have_text("Synced", timeout=10_000)
            await expect(page.locator("#events")).to_contain_text("undo the red experiment")

            # Break-glass rollback to entry 1 through its confirmation: a slip does nothing.
            await page.goto(dashboard.url + f"/ui/apps/{namespace}/web/history/1")
            await page.fill('#rollback-form input[name="confirm"]', "wbe")
            await page.fill('#rollback-form input[name="reason"]', "bad release, rolling back")
            await page.click("#rollback")
            await expect(page.locator("#result")).to_contain_text("type the app's name")
            assert (await get_app(kube, namespace, "web")).auto_sync_enabled
            await page.goto(dashboard.url + f"/ui/apps/{namespace}/web/history/1")
            await page.fill('#rollback-form input[name="confirm"]', "web")
            await page.fill('#rollback-form input[name="reason"]', "bad release, rolling back")
            await page.click("#rollback")
            await expect(page.locator("#result")).to_contain_text(
                "rolled back to history 1", timeout=60_000
            )
            await expect(page.locator("#result")).to_contain_text("tether revert web")
            rolled = await get_app(kube, namespace, "web")
            assert not rolled.auto_sync_enabled
            assert rolled.status is not None and rolled.status.break_glass is not None
            assert rolled.status.break_glass.active
            await page.click("h1 a")
            await expect(page.locator("#events")).to_contain_text("rollback by")
            await expect(page.locator("#events")).to_contain_text("bad release, rolling back")

            # A Secret edited by hand: its diff page says so and never shows a value.
            await kube.apply(
                secret(SECRET_LIVE, namespace), field_manager="kubectl-edit", force=True
            )
            await page.goto(dashboard.url + f"/ui/apps/{namespace}/api")
            await expect(page.locator("#app-sync")).to_have_text("OutOfSync", timeout=10_000)
            await page.click("#open-diff")
            changed = page.locator('section.object[data-key^="Secret/"]')
            await expect(changed.locator("tr.path td").first).to_have_text("/data/password")
            html = await page.content()
            for value in (SECRET_IN_GIT, SECRET_LIVE):
                assert value not in html and b64(value) not in html
            assert errors == [], errors

        for path in (
            f"/api/v1/apps/{namespace}/api/diff",
            f"/ui/apps/{namespace}/api/diff",
            f"/api/v1/apps/{namespace}/api/history/1/diff",
            f"/ui/apps/{namespace}/api/history/1",
        ):
            status, body = dashboard.get(path)
            assert status == 200 and "/data/password" in body
            for value in (SECRET_IN_GIT, SECRET_LIVE):
                assert value not in body and b64(value) not in body

        # Writes: only from our own pages (CSRF token, same origin), only for our Host.
        token = re.search(
            r'name="csrf" value="([^"]+)"', dashboard.get(f"/ui/apps/{namespace}/web/actions")[1]
        )
        assert token is not None
        suspend = f"/ui/apps/{namespace}/web/actions"
        assert dashboard.post(suspend, {"action": "suspend"})[0] == 403  # no token
        assert dashboard.post(suspend, {"action": "suspend", "csrf": "guess"})[0] == 403
        evil = {"Origin": "http://evil.example"}
        assert dashboard.post(suspend, {"action": "suspend", "csrf": token[1]}, evil)[0] == 403
        assert dashboard.get("/ui/", {"Host": "evil.example:8090"})[0] == 400  # DNS rebinding
        assert not (await get_app(kube, namespace, "web")).spec.suspend  # nothing changed
        assert dashboard.post(suspend, {"action": "suspend", "csrf": token[1]})[0] == 200
        assert (await get_app(kube, namespace, "web")).spec.suspend
        assert dashboard.post(suspend, {"action": "resume", "csrf": token[1]})[0] == 200
        assert not (await get_app(kube, namespace, "web")).spec.suspend

        # The JSON API is what `tether app get -o json` prints; every page is under a
        # strict Content-Security-Policy.
        status, body = dashboard.get(f"/api/v1/apps/{namespace}/web")
        assert status == 200 and json.loads(body)["metadata"]["name"] == "web"
        status, body = dashboard.get("/api/v1/apps")
        assert status == 200 and {a["metadata"]["name"] for a in json.loads(body)} == {
            "web",
            "api",
        }
        policy = dashboard.headers("/ui/")["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert dashboard.get(f"/api/v1/apps/{namespace}/nope")[0] == 404
        assert dashboard.get("/ui/static/..%2Fdashboard.py")[0] == 404


async def test_the_controller_serves_the_same_pages_read_only(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "blue"}))})
    repo.commit("web settings")
    await create_app(
        kube, application("web", namespace, repo.url, "web", syncPolicy={"automated": {}})
    )
    port = free_port()
    with ControllerProcess(kubeconfig, namespace, tmp_path, "--ui-addr", f"127.0.0.1:{port}"):
        base = f"http://127.0.0.1:{port}"

        def get(path: str, data: bytes | None = None) -> tuple[int, str]:
            request = urllib.request.Request(base + path, data=data)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        async def synced() -> bool:
            status, body = get("/ui/rows")
            return status == 200 and f'data-key="{namespace}/web" data-sync="Synced"' in body

        await eventually(synced, timeout=60, what="web Synced on the controller's /ui")
        status, body = get("/api/v1/apps")
        assert status == 200 and [a["metadata"]["name"] for a in json.loads(body)] == ["web"]
        status, body = get(f"/ui/apps/{namespace}/web/diff")
        assert status == 200 and "controller's read-only view" in body
        assert get(f"/api/v1/apps/{namespace}/web/diff")[0] == 403
        assert get("/ui/", data=b"x=1")[0] == 405  # nothing here takes a write


def overflows(page: Page) -> Any:
    """Whether the page is wider than the window (a horizontal scroll bar on the page)."""
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")


async def test_app_page_tree_ignored_fields_and_200_percent_zoom(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write(
        {
            "web/app.yaml": as_yaml(
                configmap("settings", {"mode": "blue"}), deployment("web", replicas=2)
            )
        }
    )
    repo.commit(f"web with two replicas {HOSTILE}")  # a commit subject is input too
    ignore = [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]
    await create_app(kube, application("web", namespace, repo.url, "web", ignoreDifferences=ignore))
    with DashboardProcess(kubeconfig, namespace, tmp_path) as dashboard:
        actions = f"/ui/apps/{namespace}/web/actions"
        token = re.search(r'name="csrf" value="([^"]+)"', dashboard.get(actions)[1])
        assert token is not None
        status, body = dashboard.post(actions, {"action": "sync", "csrf": token[1]})
        assert status == 200 and "sync: done" in body, body
        # An autoscaler's (here: a person's) scale, which the rule tells tether to leave.
        await kube.patch(
            "apps/v1",
            "Deployment",
            "web",
            {"spec": {"replicas": 3}},
            namespace=namespace,
            field_manager="kubectl-scale",
        )
        async with chromium() as browser:
            # 200 % zoom of a 1280-pixel laptop screen: a 640-pixel-wide window.
            page = await browser.new_page(viewport={"width": 640, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(dashboard.url + "/ui/")
            await expect(row(page, namespace, "web")).to_be_visible()
            assert not await overflows(page), "the fleet page scrolls sideways at 200 %"

            # The tree: sync order (ConfigMap before Deployment), then what the Deployment
            # made, from the watch cache; it fills in live as the Pods come.
            await page.goto(dashboard.url + f"/ui/apps/{namespace}/web")
            keys = page.locator("#resources tbody tr")
            await expect(keys.first).to_have_attribute(
                "data-key", f"ConfigMap/{namespace}/settings"
            )
            pods = page.locator('tr.child.depth-2[data-key^="Pod/"]')
            for _ in range(60):  # the page re-renders on app changes; the Pods come later
                if await pods.count() >= 3:
                    break
                await page.reload()
                await page.wait_for_timeout(500)
            await expect(page.locator('tr.child.depth-1[data-key^="ReplicaSet/"]')).to_have_count(1)
            assert await pods.count() == 3
            assert not await overflows(page), "the app page scrolls sideways at 200 %"
            # The hostile commit subject is text, in the summary and the history.
            await expect(page.locator("dl.facts .subject")).to_have_text(
                f"web with two replicas {HOSTILE}"
            )
            await expect(page.locator("#history .subject").first).to_contain_text(HOSTILE)
            assert await page.evaluate("window.pwned === undefined")
            await page.screenshot(
                path=str(images_dir(tmp_path) / "dashboard-tree.png"), full_page=True
            )

            # The diff: nothing is drift, and the scale shows as ignored with its rule.
            await page.click("#open-diff")
            ignored = page.locator('section.object[data-key^="Deployment/"] table.ignored')
            await expect(ignored.locator("td").first).to_have_text("/spec/replicas")
            await expect(ignored.locator("td.rule")).to_contain_text(
                '"jsonPointers": ["/spec/replicas"]'
            )
            await expect(
                page.locator('section.object[data-key^="Deployment/"] h2 .state')
            ).to_have_text("Synced")
            assert not await overflows(page), "the diff page scrolls sideways at 200 %"
            assert errors == [], errors
        status, body = dashboard.get(f"/api/v1/apps/{namespace}/web/diff")
        assert status == 200
        shown = next(o for o in json.loads(body)["objects"] if o["kind"] == "Deployment")
        assert shown["status"] == "Synced" and shown["paths"] == []
        assert [i["path"] for i in shown["ignored"]] == ["/spec/replicas"]
