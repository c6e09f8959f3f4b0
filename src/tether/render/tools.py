"""Running helm, kustomize and sops confined: no network, a bare environment, bounds.

- Network: where the machine allows it, each tool runs in a fresh network namespace
  (`unshare --net` as root, `unshare -rn` with user namespaces otherwise), which has
  no interface up, not even loopback: no fetch, no SSRF, no cloud metadata endpoint.
  Whether that works is probed once per process; where it does not, that is logged
  once and the renderer relies on refusing remote references before any tool runs.
- Environment: HOME (a private empty directory of the render), TMPDIR (inside the
  render's workspace) and PATH, nothing else: no kubeconfig, cloud credentials, git or
  ssh settings, SOPS keys or helm repositories of the host reach a tool.
- Bounds: the render's deadline, stdout up to the manifest limit (the tool is killed
  past it), RLIMIT_DATA.
- Flags: only tether's own. Nothing from the repository or the Application is ever put
  where a tool would read it as a flag (values go after `--` or inside `--flag=value`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from tether.errors import InputError
from tether.model.urls import scrub_userinfo
from tether.process import ProcessOutputTooLarge, ProcessResult, ProcessTimeout, run_process
from tether.render.limits import RenderLimits, size_text
from tether.render.request import RenderProblem

log = logging.getLogger(__name__)

# Probed once per process (no lock: concurrent first renders would at worst probe twice,
# and an asyncio.Lock would bind to whichever event loop used it first).
_ISOLATION: dict[str, tuple[str, ...]] = {}
_PROBE_TIMEOUT = 10.0
# What Go's runtime prints when an allocation fails (RLIMIT_DATA reached).
_OUT_OF_MEMORY = ("fatal error: runtime: out of memory", "fatal error: out of memory")


async def network_isolation() -> tuple[str, ...]:
    """The argv prefix that runs a program without network, or () where none works.

    Probed once per process: the first working of `unshare --net` (root) and
    `unshare -rn` (an unprivileged user namespace, mapped to root inside)."""
    if "prefix" not in _ISOLATION:
        _ISOLATION["prefix"] = await _probe_isolation()
    return _ISOLATION["prefix"]


async def _probe_isolation() -> tuple[str, ...]:
    unshare = shutil.which("unshare")
    if unshare is None:
        log.warning("render tools run with network: unshare(1) is not installed")
        return ()
    candidates = [("--net",), ("--map-root-user", "--net")]
    if os.geteuid() != 0:
        candidates = candidates[1:]
    reasons = []
    for flags in candidates:
        prefix = (unshare, *flags, "--")
        try:
            result = await run_process(
                [*prefix, "true"], timeout=_PROBE_TIMEOUT, env={}, inherit_env=False
            )
        except (ProcessTimeout, InputError) as exc:
            reasons.append(str(exc))
            continue
        if result.ok:
            log.info("render tools run without network (unshare %s)", " ".join(flags))
            return prefix
        reasons.append(result.stderr_line())
    log.warning(
        "render tools run with network: no network namespace is allowed here (%s); "
        "remote references are refused before any tool runs",
        "; ".join(reasons),
    )
    return ()


def error_line(result: ProcessResult) -> str:
    """The `Error:` line helm and kustomize print (helm adds a `--debug` hint after it)."""
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    errors = [ln.strip() for ln in lines if ln.startswith("Error:")]
    if errors:
        return errors[-1].removeprefix("Error:").strip()[:600]
    return result.stderr_line()


def _out_of_memory(result: ProcessResult) -> bool:
    stderr = result.stderr.decode("utf-8", "replace")
    return any(marker in stderr for marker in _OUT_OF_MEMORY)


class ToolRunner:
    """Runs the tools of one render within its deadline, limits and workspace."""

    def __init__(
        self, *, workspace: Path, deadline: float, timeout: float, limits: RenderLimits
    ) -> None:
        self.home = workspace / "home"
        self.tmp = workspace / "tmp"
        self.home.mkdir(mode=0o700)
        self.tmp.mkdir(mode=0o700)
        self.deadline = deadline
        self.timeout = timeout
        self.limits = limits

    async def run(
        self,
        what: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        max_output: int,
        network: bool = False,
    ) -> ProcessResult:
        """Run a tool; RenderProblem for a missing program, the deadline, too much output
        or memory. `network=True` only for a build that was allowed remote bases."""
        remaining = self.deadline - asyncio.get_running_loop().time()
        timeout_error = RenderProblem(
            f"{what} did not finish within {self.timeout:g}s",
            hint="a render must finish within its timeout; is the source unusually large?",
        )
        if remaining <= 0:
            raise timeout_error
        program = argv[0]
        if shutil.which(program) is None:
            # Checked here: behind `unshare` a missing program is only an exit code.
            raise RenderProblem(
                f"{program}: program not found", hint="run `make cluster-bins` or install it"
            )
        prefix = () if network else await network_isolation()
        clean = {
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "PATH": os.environ.get("PATH", os.defpath),
        }
        try:
            result = await run_process(
                [*prefix, *argv],
                timeout=remaining,
                env={**clean, **(env or {})},
                cwd=cwd or self.home,
                inherit_env=False,
                max_output=max_output,
                memory_limit=self.limits.tool_memory_bytes,
            )
        except ProcessTimeout:
            raise timeout_error from None
        except ProcessOutputTooLarge:
            raise RenderProblem(
                f"{what} wrote more than {size_text(max_output)} (the limit of one render)",
                hint="split the application into several",
            ) from None
        except InputError as exc:  # the program is missing
            raise RenderProblem(exc.message, exc.hint) from None
        if not result.ok and _out_of_memory(result):
            raise RenderProblem(
                f"{what} ran out of memory (the limit is "
                f"{size_text(self.limits.tool_memory_bytes)} per tool)"
            )
        return result


def tool_message(text: str, replacements: Sequence[tuple[str, str]]) -> str:
    """A tool's message fit to show: one line, no host paths, no URL credentials."""
    for old, new in replacements:
        text = text.replace(old, new)
    return scrub_userinfo(" ".join(text.split()))
