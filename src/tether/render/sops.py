"""SOPS: plaintext of encrypted files, kept in memory; the age key travels by environment.

Errors name files, never values. sops tries every key a file lists; besides age those
may be services reached over the network (AWS/GCP KMS, Azure Key Vault, Vault). Inside
a network namespace that is harmless (and tether holds no credentials for them); where
tools run with network, files naming such services are refused, so that no file can
make the renderer connect anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tether.process import ProcessResult
from tether.render.context import RenderContext
from tether.render.files import read_bounded
from tether.render.loading import LoadBudget, load_manifest
from tether.render.request import RenderProblem
from tether.render.tools import network_isolation

# Enough parallel `sops` processes to hide their start-up time, few enough to stay polite.
_SOPS_CONCURRENCY = 4
# sops exit codes (github.com/getsops/sops cmd/sops/codes).
_SOPS_COULD_NOT_RETRIEVE_KEY = 128
_SOPS_MAC_MISMATCH = 51
# Metadata keys of master keys that sops reaches over the network.
_NETWORK_KEY_SERVICES = ("kms", "gcp_kms", "azure_kv", "hc_vault")


def sops_reason(result: ProcessResult) -> str:
    """Why sops failed, in our words: its own report is a multi-line key-group table."""
    stderr = result.stderr.decode("utf-8", "replace")
    if result.returncode == _SOPS_COULD_NOT_RETRIEVE_KEY:
        if "failed to parse 'SOPS_AGE_KEY'" in stderr:
            return "the configured age key is not a valid age identity"
        return "the configured age key is not one of its recipients"
    if result.returncode == _SOPS_MAC_MISMATCH:
        return "MAC mismatch: the file was changed after it was encrypted"
    # sops only reaches other errors before or without plaintext (they describe the file
    # format), so its first line is safe and useful.
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return (lines[0] if lines else f"exit code {result.returncode}")[:300]


def network_key_services(values: Sequence[Any]) -> list[str]:
    """The network key services a SOPS file's metadata lists (`hc_vault`, `kms`, ...)."""
    found: set[str] = set()
    for value in values:
        metadata = value.get("sops") if isinstance(value, dict) else None
        if isinstance(metadata, dict):
            found.update(name for name in _NETWORK_KEY_SERVICES if metadata.get(name))
            for group in metadata.get("key_groups") or []:
                if isinstance(group, dict):
                    found.update(name for name in _NETWORK_KEY_SERVICES if group.get(name))
    return sorted(found)


def require_key(ctx: RenderContext, encrypted: Sequence[Path]) -> str:
    if encrypted and ctx.request.sops_age_key is None:
        raise RenderProblem(
            f"{ctx.relative(encrypted[0])} is SOPS-encrypted but spec.source.decryption is not set",
            hint="set spec.source.decryption with a secretRef holding the age key",
        )
    return ctx.request.sops_age_key or ""


async def _check_offline_keys(ctx: RenderContext, path: Path) -> None:
    if await network_isolation():
        return
    data = await asyncio.to_thread(read_bounded, ctx.root, path, ctx.limits)
    services = network_key_services(load_manifest(data, path.name, LoadBudget(ctx.limits)))
    if services:
        raise RenderProblem(
            f"{ctx.relative(path)}: its SOPS metadata names key services reached over "
            f"the network ({', '.join(services)}), which tether does not contact",
            hint="encrypt it for age only, or run tether where network namespaces work",
        )


async def decrypt(ctx: RenderContext, path: Path, key: str) -> bytes:
    """Plaintext of one SOPS file; the key goes by environment only."""
    relative = ctx.relative(path)
    await _check_offline_keys(ctx, path)
    file_format = "json" if path.suffix == ".json" else "yaml"
    argv = [str(ctx.tools.sops), "--decrypt", "--input-type", file_format]
    argv += ["--output-type", file_format, str(path)]
    result = await ctx.runner.run(
        f"sops --decrypt {relative}",
        argv,
        env={"SOPS_AGE_KEY": key},
        max_output=ctx.limits.max_file_bytes,
    )
    if not result.ok:
        raise RenderProblem(f"{relative}: cannot decrypt it: {sops_reason(result)}")
    return result.stdout


async def decrypt_all(ctx: RenderContext, paths: Sequence[Path]) -> dict[Path, bytes]:
    key = require_key(ctx, paths)
    limit = asyncio.Semaphore(_SOPS_CONCURRENCY)

    async def one(path: Path) -> bytes:
        async with limit:
            return await decrypt(ctx, path, key)

    # Every task runs to its end (none is orphaned), and the first failing file in
    # sorted order is the one reported, whatever the timing.
    results = await asyncio.gather(*(one(p) for p in paths), return_exceptions=True)
    plaintexts: dict[Path, bytes] = {}
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        plaintexts[path] = result
    return plaintexts


async def private_tree(ctx: RenderContext, encrypted: Sequence[Path]) -> Path:
    """A writable copy of the repository with `encrypted` replaced by plaintext."""
    return await ctx.private_tree(await decrypt_all(ctx, encrypted))
