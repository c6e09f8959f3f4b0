"""Every command, fed garbage flags or an unreachable cluster, answers with one error line
and its documented exit code: never a traceback, never "internal error"."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from tether.cli import cli, main

# Commands that would start or stop real processes of this machine when given a
# reachable state: `cluster up/down` get a private --state-dir below instead.
LONG_RUNNING = {("controller",), ("cluster", "up")}


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        assert command is not None
        path = (*prefix, name)
        if isinstance(command, click.Group):
            found += _leaves(command, path)
        else:
            found.append(path)
    return found


COMMANDS = _leaves(cli)


def _placeholder_args(path: tuple[str, ...]) -> list[str]:
    """Values for a command's required arguments and options: garbage, but present."""
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Argument) and param.required:
            args.append("no-such-thing")
        elif isinstance(param, click.Option) and param.required:
            args += [param.opts[0], "no-such-thing"]
    return args


def _unreachable_kubeconfig(tmp_path: Path) -> Path:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    path = tmp_path / "kubeconfig"
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""
    )
    return path


def _run(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> subprocess.CompletedProcess[str]:
    """`tether ARGS` in this process (as `python -m tether` runs it, without the start-up
    cost of a subprocess per command)."""
    monkeypatch.setenv("TETHER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TETHER_CLUSTER_DIR", str(tmp_path / "cluster-state"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(sys, "argv", ["tether", *args])
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def _assert_clean(result: subprocess.CompletedProcess[str], codes: set[int]) -> None:
    shown = f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode in codes, shown
    assert "Traceback" not in result.stderr, shown
    assert "internal error" not in result.stderr, shown


def test_every_command_is_covered() -> None:
    assert ("app", "create") in COMMANDS and ("dr", "bootstrap") in COMMANDS
    assert len(COMMANDS) >= 20, COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=["-".join(p) for p in COMMANDS])
def test_an_unknown_flag_is_a_usage_error(
    path: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    result = _run(
        [*path, *_placeholder_args(path), "--no-such-flag"], tmp_path, monkeypatch, capsys
    )
    _assert_clean(result, {2})
    assert "No such option" in result.stderr


@pytest.mark.parametrize(
    "path",
    [p for p in COMMANDS if p not in LONG_RUNNING],
    ids=["-".join(p) for p in COMMANDS if p not in LONG_RUNNING],
)
def test_an_unreachable_cluster_is_one_line(
    path: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    kubeconfig = _unreachable_kubeconfig(tmp_path)
    args = ["--kubeconfig", str(kubeconfig), *path, *_placeholder_args(path)]
    if path[0] == "cluster":
        args += ["--state-dir", str(tmp_path / "cluster-state")]
    result = _run(args, tmp_path, monkeypatch, capsys)
    # 0: commands that need no cluster (alerts, install --dry-run ...); 1-3 as documented.
    _assert_clean(result, {0, 1, 2, 3})
    if result.returncode:
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith(("error:", "Error:"))]
        assert len(errors) == 1, result.stderr


def test_the_controller_against_an_unreachable_cluster_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    kubeconfig = _unreachable_kubeconfig(tmp_path)
    result = _run(
        ["--kubeconfig", str(kubeconfig), "controller", "--metrics-addr", "127.0.0.1:0",
         "--webhook-addr", "127.0.0.1:0"],
        tmp_path, monkeypatch, capsys,
    )  # fmt: skip
    _assert_clean(result, {3})
    assert "unreachable" in result.stderr


def test_the_controller_on_a_busy_port_names_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    kubeconfig = _unreachable_kubeconfig(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run(
            ["--kubeconfig", str(kubeconfig), "controller", "--metrics-addr", f"127.0.0.1:{port}",
             "--webhook-addr", "127.0.0.1:0"],
            tmp_path, monkeypatch, capsys,
        )  # fmt: skip
    _assert_clean(result, {3})
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
