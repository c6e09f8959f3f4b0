"""The dashboard's writes that need more than a click: the controller's `/ui` acts only
for callers whose Kubernetes token the API server accepts (TokenReview) and whose RBAC
allows the action (SubjectAccessReview), and answers an anonymous reader past its rate
429; `revert` from the local dashboard shows the commit it will make before pushing it."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.support.apps import application
from tests.support.controller import ControllerProcess, free_port
from tests.support.dashboard import DashboardProcess
from tests.support.githttp import git
from tests.support.manifests import as_yaml, configmap
from tests.support.repos import GitopsRepo
from tests.support.tokens import service_account_token
from tests.support.waiting import eventually
from tether.engine.apps import create_app, get_app
from tether.kube import KubeClient


async def allow_patch_of_applications(kube: KubeClient, namespace: str, account: str) -> None:
    rbac = "rbac.authorization.k8s.io/v1"
    await kube.apply(
        {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": {"name": "app-operator", "namespace": namespace},
            "rules": [
                {
                    "apiGroups": ["tether.dev"],
                    "resources": ["applications"],
                    "verbs": ["get", "patch"],
                }
            ],
        }
    )
    await kube.apply(
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": {"name": "app-operator", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "app-operator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        }
    )


class Browserless:
    """A cookie-keeping HTTP client, as a browser posts the page's forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def send(
        self, path: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def csrf(self, path: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.send(path)[1])
        assert found is not None, f"no form on {path}"
        return found[1]


async def test_controller_actions_need_a_token_that_rbac_allows(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "blue"}))})
    repo.commit("web settings")
    await create_app(kube, application("web", namespace, repo.url, "web"))
    operator = await service_account_token(kube, namespace, "operator")
    viewer = await service_account_token(kube, namespace, "viewer")
    await allow_patch_of_applications(kube, namespace, "operator")
    port = free_port()
    actions = f"/ui/apps/{namespace}/web/actions"
    args = ("--ui-addr", f"127.0.0.1:{port}", "--ui-auth", "kubernetes")
    with ControllerProcess(kubeconfig, namespace, tmp_path, *args) as controller:
        anonymous = Browserless(f"http://127.0.0.1:{port}")

        async def serving() -> bool:
            return anonymous.send("/ui/")[0] == 200

        await eventually(serving, timeout=30, what="the controller's /ui")

        async def suspended() -> bool:
            return (await get_app(kube, namespace, "web")).spec.suspend

        # Not signed in: the page says how to sign in, and a post is 401 with nothing done.
        assert "Sign in with a Kubernetes token" in anonymous.send(actions)[1]
        token = anonymous.csrf("/ui/login")
        suspend = {"action": "suspend", "csrf": token, "reason": "maintenance"}
        assert anonymous.send(actions, suspend)[0] == 401
        bogus = {"Authorization": "Bearer not-a-token"}
        assert anonymous.send(actions, {"action": "suspend"}, bogus)[0] == 401
        # Signed in, but RBAC says no (SubjectAccessReview): 403, nothing done.
        status, body = anonymous.send(
            actions, {"action": "suspend"}, {"Authorization": f"Bearer {viewer}"}
        )
        assert status == 403, body
        assert f"system:serviceaccount:{namespace}:viewer may not patch" in body
        assert not await suspended()
        # A wrong token at the sign-in form: 401, no session.
        assert anonymous.send("/ui/login", {"csrf": token, "token": "nope"})[0] == 401

        # The operator signs in through the form; the session acts, the audit names them.
        person = Browserless(anonymous.base)
        status, _ = person.send("/ui/login", {"csrf": person.csrf("/ui/login"), "token": operator})
        assert status == 200  # the redirect to the fleet page, followed
        page = person.send(actions)[1]
        assert f"system:serviceaccount:{namespace}:operator" in page
        assert operator not in page  # the token is never shown back
        status, body = person.send(actions, suspend)
        assert status == 200 and "suspend: done" in body, body
        assert await suspended()
        # A script with a bearer token of a permitted account needs no CSRF token.
        resume = {"action": "resume"}
        assert anonymous.send(actions, resume, {"Authorization": f"Bearer {operator}"})[0] == 200
        assert not await suspended()

        async def audited() -> bool:
            events = await kube.list("v1", "Event", namespace)
            messages = [str(e.get("message")) for e in events]
            who = f"suspend by system:serviceaccount:{namespace}:operator (maintenance): done"
            return any(who in m for m in messages)

        await eventually(audited, timeout=10, what="the audit Event naming the operator")
        # Cross-site, even with a session: refused before anything else.
        evil = {"Origin": "http://evil.example"}
        assert person.send(actions, suspend, evil)[0] == 403
        # Signed out: the session no longer acts.
        person.send("/ui/logout", {"csrf": token})
        assert person.send(actions, suspend)[0] == 401
        assert not await suspended()

        # An anonymous reader in a loop meets the rate limit; a signed-in one does not.
        answers = [anonymous.send("/api/v1/apps")[0] for _ in range(200)]
        assert 429 in answers and answers[0] == 200
        print(f"anonymous: {answers.count(429)} of 200 rapid reads answered 429")
        again = Browserless(anonymous.base)
        await asyncio.sleep(0.5)  # the sign-in itself is an anonymous request: a token refilled
        assert again.send("/ui/login", {"csrf": token, "token": operator})[0] == 200
        assert [again.send("/api/v1/apps")[0] for _ in range(50)] == [200] * 50
        assert "Traceback" not in controller.logs()


async def test_revert_from_the_dashboard_shows_the_commit_then_pushes_it(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "good"}))})
    repo.commit("good settings")
    repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "bad"}))})
    bad = repo.commit("bad settings")
    await create_app(kube, application("web", namespace, repo.url, "web"))

    def head() -> str:
        return git("--git-dir", str(repo.bare), "rev-parse", "main").strip()

    with DashboardProcess(kubeconfig, namespace, tmp_path) as dashboard:
        browser = Browserless(dashboard.url)
        actions = f"/ui/apps/{namespace}/web/actions"
        token = browser.csrf(actions)
        status, body = browser.send(actions, {"action": "sync", "csrf": token})
        assert status == 200 and "sync: done" in body, body

        # The preview: the commit as it will be, checked to apply, nothing pushed.
        before = head()
        status, body = browser.send(
            actions, {"action": "revert-preview", "csrf": token, "target": bad[:12]}
        )
        assert status == 200, body
        assert "Revert 1 commit(s) for web" in body
        assert "-  mode: bad" in body and "+  mode: good" in body
        assert "nothing pushed" in body and 'id="revert-push"' in body
        assert head() == before
        # Not a commit id: refused, not read as "everything since the last Healthy".
        status, body = browser.send(
            actions, {"action": "revert-preview", "csrf": token, "target": "--upload-pack=x"}
        )
        assert status == 400 and "is not a commit id" in body

        # Pushed (never forced: on top of the old head) and synced.
        status, body = browser.send(
            actions, {"action": "revert", "csrf": token, "target": bad[:12], "reason": "bad"}
        )
        assert status == 200 and "revert: done" in body, body
        assert git("--git-dir", str(repo.bare), "rev-parse", "main~1").strip() == before
        message = git("--git-dir", str(repo.bare), "log", "-1", "--format=%B", "main")
        assert f'Reverts {bad[:12]} "bad settings"' in message
        live = await kube.get("v1", "ConfigMap", "settings", namespace)
        assert live is not None and live["data"] == {"mode": "good"}
        app = await get_app(kube, namespace, "web")
        assert app.status is not None and app.status.sync.revision == head()
