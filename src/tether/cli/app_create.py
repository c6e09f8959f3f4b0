"""`tether app create`, registered on the `app` group of `.app`: from flags (directory,
Helm or Kustomize sources, sync options, project) or from manifest files."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from tether.engine.apps import create_app
from tether.errors import InputError
from tether.model.application import API_VERSION, KIND, Application
from tether.render import load_untrusted_yaml

from .context import CliContext, output_option, pass_cli
from .output import emit_data, message

ARGO_API_GROUP = "argoproj.io/"


def _pairs(values: tuple[str, ...], flag: str) -> list[tuple[str, str]]:
    """`K=V` flag values as pairs; one clear error naming the flag otherwise."""
    pairs = []
    for value in values:
        key, equals, rest = value.partition("=")
        if not equals or not key.strip():
            raise InputError(f"app create: {flag} {value!r} must look like KEY=VALUE")
        pairs.append((key.strip(), rest))
    return pairs


def app_from_flags(
    namespace: str,
    *,
    name: str | None,
    repo: str | None,
    path: str | None,
    revision: str | None,
    dest_namespace: str | None,
    auto_sync: bool = False,
    self_heal: bool = False,
    auto_prune: bool = False,
    helm: bool = False,
    release_name: str | None = None,
    values: tuple[str, ...] = (),
    sets: tuple[str, ...] = (),
    kustomize: bool = False,
    directory_recurse: bool = False,
    sync_options: tuple[str, ...] = (),
    project: str | None = None,
    service_account: str | None = None,
) -> Application:
    """The Application the flags describe (validated as any manifest is)."""
    missing = [
        flag for flag, value in (("--name", name), ("--repo", repo), ("--path", path)) if not value
    ]
    if missing:
        raise InputError(f"app create: {', '.join(missing)} required (or -f FILE)")
    kinds = [flag for flag, on in (("--helm", helm), ("--kustomize", kustomize)) if on]
    if directory_recurse:
        kinds.append("--directory-recurse")
    if len(kinds) > 1:
        raise InputError(f"app create: {' and '.join(kinds)} exclude each other: pick one source")
    helm_only = [
        flag
        for flag, value in (("--release-name", release_name), ("--values", values), ("--set", sets))
        if value
    ]
    if helm_only and not helm:
        raise InputError(f"app create: {', '.join(helm_only)} need --helm")
    source: dict[str, Any] = {"repoURL": repo, "path": path, "targetRevision": revision or "HEAD"}
    if helm:
        source["helm"] = {
            k: v
            for k, v in (
                ("releaseName", release_name),
                ("valueFiles", list(values) or None),
                (
                    "parameters",
                    [{"name": k, "value": v} for k, v in _pairs(sets, "--set")] or None,
                ),
            )
            if v
        }
    elif kustomize:
        source["kustomize"] = {}
    elif directory_recurse:
        source["directory"] = {"recurse": True}
    spec: dict[str, Any] = {"source": source}
    if dest_namespace:
        spec["destination"] = {"namespace": dest_namespace}
    policy: dict[str, Any] = {}
    if auto_sync or self_heal or auto_prune:
        policy["automated"] = {"selfHeal": self_heal, "prune": auto_prune}
    if sync_options:
        policy["syncOptions"] = [f"{k}={v}" for k, v in _pairs(sync_options, "--sync-option")]
    if policy:
        spec["syncPolicy"] = policy
    if project:
        spec["project"] = project
    if service_account:
        spec["serviceAccountName"] = service_account
    return Application.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def apps_from_text(text: str, source: str, namespace: str) -> list[Application]:
    """The Applications of a manifest stream (`namespace` for those that name none)."""
    docs = [d for d in load_untrusted_yaml(text, source) if d]
    apps = []
    for number, doc in enumerate(docs, 1):
        if not isinstance(doc, dict):
            raise InputError(f"app create -f {source}: document {number} is not a mapping")
        api_version = str(doc.get("apiVersion", ""))
        if api_version.startswith(ARGO_API_GROUP) and doc.get("kind") == "Application":
            raise InputError(
                f"app create -f {source}: document {number} is an Argo CD Application"
                f" ({api_version}); tether reads {API_VERSION} Applications",
                hint=f"convert it: set apiVersion: {API_VERSION}; tether's spec uses Argo"
                " CD's field names (source, destination.namespace, syncPolicy,"
                " ignoreDifferences) and has no destination.server yet",
            )
        doc.setdefault("metadata", {}).setdefault("namespace", namespace)
        apps.append(Application.from_dict(doc))
    if not apps:
        raise InputError(f"app create -f {source}: no Application in the file")
    return apps


def _read(file: str) -> str:
    try:
        return sys.stdin.read() if file == "-" else Path(file).read_text()
    except OSError as exc:
        raise InputError(f"app create -f {file}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise InputError(f"app create -f {file}: not UTF-8 text") from None


@click.command("create")
@click.option("-f", "--file", "file", help="Application manifest(s) (YAML; - for stdin).")
@click.option("--name")
@click.option("--repo", help="Git repository URL (file://, https://, ssh://).")
@click.option("--path", help="Path of the app inside the repository.")
@click.option("--revision", help="Branch, tag or commit (default HEAD).")
@click.option("--dest-namespace", help="Namespace for namespaced objects that name none.")
@click.option("--auto-sync", is_flag=True, help="Sync automatically on new revisions.")
@click.option("--self-heal", is_flag=True, help="Undo live drift automatically.")
@click.option("--auto-prune", is_flag=True, help="Delete objects removed from Git.")
@click.option("--helm", is_flag=True, help="The path is a Helm chart.")
@click.option("--release-name", help="Helm release name (default: the app name).")
@click.option(
    "--values", multiple=True, help="Helm value file, relative to the chart (repeatable)."
)
@click.option("--set", "sets", multiple=True, help="Helm parameter KEY=VALUE (repeatable).")
@click.option("--kustomize", is_flag=True, help="The path is a Kustomize overlay.")
@click.option("--directory-recurse", is_flag=True, help="Read manifests in subdirectories too.")
@click.option(
    "--sync-option",
    "sync_options",
    multiple=True,
    help="Sync option KEY=VALUE, e.g. CreateNamespace=true (repeatable).",
)
@click.option("--project", help="The Project bounding the app (default: default).")
@click.option("--service-account", help="ServiceAccount every write impersonates.")
@click.option("--upsert", is_flag=True, help="Replace the spec of an existing app.")
@click.option("--dry-run", is_flag=True, help="Print the Application(s); create nothing.")
@output_option
@pass_cli
def app_create(
    cli: CliContext,
    file: str | None,
    name: str | None,
    repo: str | None,
    path: str | None,
    revision: str | None,
    dest_namespace: str | None,
    auto_sync: bool,
    self_heal: bool,
    auto_prune: bool,
    helm: bool,
    release_name: str | None,
    values: tuple[str, ...],
    sets: tuple[str, ...],
    kustomize: bool,
    directory_recurse: bool,
    sync_options: tuple[str, ...],
    project: str | None,
    service_account: str | None,
    upsert: bool,
    dry_run: bool,
    fmt: str | None,
) -> None:
    """Create an application (installs the CRDs when they are missing)."""
    if file:
        apps = apps_from_text(_read(file), file, cli.app_namespace)
    else:
        apps = [
            app_from_flags(
                cli.app_namespace,
                name=name,
                repo=repo,
                path=path,
                revision=revision,
                dest_namespace=dest_namespace,
                auto_sync=auto_sync,
                self_heal=self_heal,
                auto_prune=auto_prune,
                helm=helm,
                release_name=release_name,
                values=values,
                sets=sets,
                kustomize=kustomize,
                directory_recurse=directory_recurse,
                sync_options=sync_options,
                project=project,
                service_account=service_account,
            )
        ]
    if dry_run:
        manifests = [a.to_dict() for a in apps]
        emit_data(manifests[0] if len(manifests) == 1 else manifests, cli.fmt(fmt, "yaml"))
        return

    async def run() -> None:
        kube = cli.kube()
        try:
            for app in apps:
                await create_app(kube, app, upsert=upsert)
                message(f"application {app.namespace}/{app.name} created")
        finally:
            kube.close()

    asyncio.run(run())
