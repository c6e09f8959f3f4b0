"""Hostile repositories: trees git's porcelain would never make, crafted here with real git
(`hash-object -t tree --literally`, `commit-tree`, `update-ref`) in a plain bare repo that
accepts them, then fetched and checked out by tether.

Every refusal must be one line naming the cause (an InputError, exit code 2), leave the
cache directory exactly as it was and write nothing anywhere else (a sentinel directory
next to the cache is what the crafted trees aim at). Most crafted trees are already
refused by git's fsck on fetch; each is also planted in the mirror behind tether's back
(as a mirror fetched before fsck was on would hold it), so the check of the tree listing
is exercised on its own too.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.cli import assert_one_error_line, tether
from tests.support.githttp import GitHttpServer
from tether.errors import InputError, TetherError
from tether.git import GitRepos
from tether.git import revert as git_revert
from tether.git.revert import GitIdentity

_IDENTITY = {
    "GIT_AUTHOR_NAME": "Mallory",
    "GIT_AUTHOR_EMAIL": "mallory@example.test",
    "GIT_COMMITTER_NAME": "Mallory",
    "GIT_COMMITTER_EMAIL": "mallory@example.test",
}
TREE, FILE, EXE, LINK = "40000", "100644", "100755", "120000"
Entry = tuple[str, str, str]  # (mode, name, oid)


def run_git(git_dir: Path, *args: str, input: bytes | None = None) -> str:
    # The tests' own git: no tether code, no inherited GIT_* that could redirect it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | _IDENTITY
    proc = subprocess.run(
        ["git", "--git-dir", str(git_dir), *args],
        input=input,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr.decode()}")
    return proc.stdout.decode().strip()


class Crafter:
    """Writes objects straight into a bare repository, however malformed."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        if not git_dir.exists():
            git_dir.mkdir(parents=True)
            run_git(git_dir, "init", "--quiet", "--bare", "--initial-branch=main")

    def blob(self, data: bytes | str) -> str:
        raw = data.encode() if isinstance(data, str) else data
        return run_git(self.git_dir, "hash-object", "-w", "--stdin", input=raw)

    def tree(self, entries: Sequence[Entry]) -> str:
        """A tree object exactly as given: order, duplicates and names unchecked."""
        raw = b"".join(
            f"{mode} {name}".encode() + b"\0" + bytes.fromhex(oid) for mode, name, oid in entries
        )
        return run_git(
            self.git_dir, "hash-object", "-t", "tree", "--literally", "-w", "--stdin", input=raw
        )

    def link(self, name: str, target: str) -> Entry:
        return (LINK, name, self.blob(target))

    def file(self, name: str, content: str, mode: str = FILE) -> Entry:
        return (mode, name, self.blob(content))

    def commit(self, tree: str, message: str = "crafted", parent: str | None = None) -> str:
        parents = ["-p", parent] if parent else []
        return run_git(self.git_dir, "commit-tree", tree, *parents, "-m", message)

    def set_branch(self, branch: str, commit: str) -> None:
        run_git(self.git_dir, "update-ref", f"refs/heads/{branch}", commit)

    def head(self, branch: str = "main") -> str:
        return run_git(self.git_dir, "rev-parse", f"refs/heads/{branch}")


def snapshot(*roots: Path) -> dict[str, tuple[str, int, str]]:
    """Every path below `roots` (symlinks not followed): type, size, symlink target."""
    found: dict[str, tuple[str, int, str]] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                path = Path(dirpath, name)
                info = path.lstat()
                kind = "l" if path.is_symlink() else "d" if path.is_dir() else "f"
                target = os.readlink(path) if kind == "l" else ""
                size = info.st_size if kind == "f" else 0
                found[str(path)] = (kind, size, target)
    return found


def assert_refused(error: TetherError, *needles: str) -> None:
    text = str(error)
    assert isinstance(error, InputError), repr(error)
    assert error.exit_code == 2
    assert "\n" not in text and "internal error" not in text and "OSError" not in text
    for needle in needles:
        assert needle in text, text


class Setup:
    """A bare origin with one ordinary commit on main, fetched into tether's mirror, and
    a sentinel directory beside the cache that hostile trees aim at."""

    def __init__(self, tmp_path: Path, *, max_tree_entries: int = 100_000) -> None:
        self.cache = tmp_path / "cache"
        self.sentinel = tmp_path / "sentinel"
        self.sentinel.mkdir()
        (self.sentinel / "keep.txt").write_text("untouched\n")
        self.origin = Crafter(tmp_path / "origin.git")
        self.url = f"file://{self.origin.git_dir}"
        base = self.origin.tree([self.origin.file("app.yaml", "kind: ConfigMap\n")])
        self.first = self.origin.commit(base, "ordinary")
        self.origin.set_branch("main", self.first)
        self.repos = GitRepos(self.cache, timeout=30, max_tree_entries=max_tree_entries)

    @property
    def mirror(self) -> Path:
        return self.repos.mirror_path(self.url)

    def publish(self, tree: str, parent: str | None = None) -> str:
        """Commit `tree` on top of `parent` (default: main) as the origin's main."""
        commit = self.origin.commit(tree, parent=parent or self.origin.head())
        self.origin.set_branch("main", commit)
        return commit

    def plant(self, commit: str) -> None:
        """Put `commit` into the mirror the way a fetch without fsck would have."""
        run_git(
            self.mirror,
            "-c",
            "fetch.fsckObjects=false",
            "-c",
            "transfer.fsckObjects=false",
            "fetch",
            "--quiet",
            str(self.origin.git_dir),
            f"+{commit}:refs/heads/main",
        )

    async def refuse(self, commit: str, where: str) -> InputError:
        """The refusal of `commit`, at fetch time (fsck) or when its tree is checked out
        from a mirror that already holds it; the cache and the sentinel must not change."""
        if where == "mirror":
            self.plant(commit)
        before = snapshot(self.cache, self.sentinel)
        with pytest.raises(InputError) as caught:
            if where == "fetch":
                await self.repos.fetch(self.url)
            else:
                async with self.repos.lease_tree(self.url, commit):
                    pass
        assert snapshot(self.cache, self.sentinel) == before
        assert (self.sentinel / "keep.txt").read_text() == "untouched\n"
        if where == "fetch":  # the mirror still has the ordinary commit, nothing new
            assert await self.repos.resolve(self.url, "main") == self.first
        return caught.value


@pytest.fixture
async def setup(tmp_path: Path) -> Setup:
    prepared = Setup(tmp_path)
    await prepared.repos.fetch(prepared.url)
    return prepared


WHERE = pytest.mark.parametrize("where", ["fetch", "mirror"])


# --- the symlink chain longer than PATH_MAX (CVE-2025-4517 against tarfile's filter) ------


def path_max_chain(crafter: Crafter, tree_dir_length: int, escape_to: str, payload: Entry) -> str:
    """A tree that defeats realpath-based checks (tarfile's "data" filter before the fix).

    Sixteen directories of long names, each beside a one-letter symlink to it, so the
    short path a/b/.../p resolves to nearly PATH_MAX; a duplicate entry (`a` as a symlink
    AND as a directory) puts a symlink `lll...` at a/b/.../p whose resolved path exceeds
    PATH_MAX, so realpath stops resolving there and sees `../..` lexically, while the
    kernel follows it to the top of the tree. `escape` points through it to `escape_to`
    (relative to the tree's directory), and a second, duplicate `escape` directory holds
    `payload`, written through the symlink.
    """
    steps = "abcdefghijklmnop"
    component = "0" * ((4096 - tree_dir_length) // (len(steps) + 1))
    level = crafter.tree([crafter.file("keep", "x")])
    for step in reversed(steps[1:]):
        level = crafter.tree([(TREE, component, level), crafter.link(step, component)])
    long_link = "l" * 254
    chain = crafter.tree([crafter.link(long_link, "/".join([".."] * len(steps)))])
    for step in reversed(steps[1:]):
        chain = crafter.tree([(TREE, step, chain)])
    through = "/".join([*steps, long_link])
    return crafter.tree(
        [
            (TREE, component, level),
            crafter.link("a", component),
            (TREE, "a", chain),
            crafter.link("escape", f"{through}/{escape_to}"),
            (TREE, "escape", crafter.tree([payload])),
        ]
    )


def legacy_tree_dir_length(cache: Path) -> int:
    # Where tarfile extracted before: cache/trees/.<sha>-<8 random>, so the chain is sized
    # to break exactly that checker.
    return len(str(cache / "trees")) + len("/.") + 40 + len("-abcdefgh")


@WHERE
async def test_symlink_chain_longer_than_path_max_writes_nothing_outside(
    setup: Setup, where: str
) -> None:
    escape_to = os.path.relpath(setup.sentinel, setup.cache / "trees" / "x")
    tree = path_max_chain(
        setup.origin,
        legacy_tree_dir_length(setup.cache),
        escape_to,
        setup.origin.file("planted.txt", "written outside the tree\n"),
    )
    error = await setup.refuse(setup.publish(tree), where)
    if where == "fetch":
        assert_refused(error, setup.url, "integrity check", "duplicateEntries")
    else:
        assert_refused(error, setup.url, "path 'a' appears twice")
    assert not (setup.sentinel / "planted.txt").exists()


@WHERE
async def test_tree_aimed_at_the_mirror_hooks_plants_no_hook(setup: Setup, where: str) -> None:
    marker = setup.sentinel / "hook-ran"
    hooks = os.path.relpath(setup.mirror / "hooks", setup.cache / "trees" / "x")
    tree = path_max_chain(
        setup.origin,
        legacy_tree_dir_length(setup.cache),
        hooks,
        setup.origin.file("reference-transaction", f"#!/bin/sh\ntouch {marker}\n", EXE),
    )
    error = await setup.refuse(setup.publish(tree), where)
    assert_refused(error, setup.url)
    assert not (setup.mirror / "hooks" / "reference-transaction").exists()
    # The next fetch moves refs (reference-transaction would run): nothing runs. The
    # hostile commit is dropped from main's history, so that fetch can pass fsck.
    fixed = setup.origin.tree([setup.origin.file("app.yaml", "kind: Secret\n")])
    newer = setup.publish(fixed, parent=setup.first)
    await setup.repos.fetch(setup.url)
    assert await setup.repos.resolve(setup.url, "main") == newer
    assert not marker.exists()


# --- duplicates, '.git', out-of-tree symlinks ---------------------------------------------


@WHERE
async def test_duplicate_entries_symlink_and_directory_of_one_name(
    setup: Setup, where: str
) -> None:
    crafter = setup.origin
    tree = crafter.tree(
        [
            crafter.link("conf", str(setup.sentinel)),
            (TREE, "conf", crafter.tree([crafter.file("planted.txt", "through the link\n")])),
        ]
    )
    error = await setup.refuse(setup.publish(tree), where)
    if where == "fetch":
        assert_refused(error, "duplicateEntries", setup.url)
    else:
        assert_refused(error, "path 'conf' appears twice", setup.url)


@WHERE
@pytest.mark.parametrize(
    "layout",
    [
        pytest.param([".git", "hooks", "post-checkout"], id="dot-git-dir"),
        pytest.param(["apps", ".GIT", "config"], id="nested-uppercase"),
        pytest.param([".git"], id="dot-git-file"),
    ],
)
async def test_dot_git_entries(setup: Setup, where: str, layout: list[str]) -> None:
    crafter = setup.origin
    entry = crafter.file(layout[-1], "#!/bin/sh\necho pwned\n", EXE)
    for name in reversed(layout[:-1]):
        entry = (TREE, name, crafter.tree([entry]))
    tree = crafter.tree([crafter.file("app.yaml", "kind: ConfigMap\n"), entry])
    error = await setup.refuse(setup.publish(tree), where)
    if where == "fetch":
        assert_refused(error, "hasDotgit", setup.url)
    else:
        assert_refused(error, "'.git' component", setup.url)


@pytest.mark.parametrize(
    ("links", "culprit"),
    [
        pytest.param({"values.yaml": "{sentinel}/keep.txt"}, "values.yaml", id="absolute"),
        pytest.param({"values.yaml": "../../../sentinel/keep.txt"}, "values.yaml", id="dotdot"),
        pytest.param({"apps/x.yaml": "../../x"}, "apps/x.yaml", id="dotdot-from-subdir"),
        # Lexically `sub/up/../x` is `sub/x`, inside; but sub/up is the root, so `..` leaves.
        pytest.param({"sub/up": "..", "evil": "sub/up/../sentinel"}, "evil", id="via-chain"),
        pytest.param({"a": "b", "b": "a"}, "a", id="loop"),
    ],
)
async def test_out_of_tree_symlinks(setup: Setup, links: dict[str, str], culprit: str) -> None:
    crafter = setup.origin
    top: list[Entry] = [crafter.file("app.yaml", "kind: ConfigMap\n")]
    nested: dict[str, list[Entry]] = {}
    for path, target in links.items():
        directory, _, name = path.rpartition("/")
        entry = crafter.link(name, target.format(sentinel=setup.sentinel))
        (nested.setdefault(directory, []) if directory else top).append(entry)
    top += [(TREE, name, crafter.tree(entries)) for name, entries in nested.items()]
    # Sorted as git sorts, so fsck has nothing to say: only tether's own check refuses.
    commit = setup.publish(crafter.tree(sorted(top, key=lambda e: e[1] + "/" * (e[0] == TREE))))
    await setup.repos.fetch(setup.url)
    error = await setup.refuse(commit, "lease")
    assert_refused(error, setup.url, commit, f"symlink {culprit!r}")


async def test_symlinks_inside_the_tree_are_allowed(setup: Setup) -> None:
    crafter = setup.origin
    base = crafter.tree([crafter.file("deploy.yaml", "kind: Deployment\n")])
    overlay = crafter.tree([crafter.link("base", "../base"), crafter.link("up", "..")])
    tree = crafter.tree(
        [
            (TREE, "base", base),
            crafter.link("current", "overlay/up/overlay/base"),  # a chain, all inside
            crafter.link("dangling", "missing/file.yaml"),
            crafter.link("link.yaml", "base/deploy.yaml"),
            (TREE, "overlay", overlay),
        ]
    )
    commit = setup.publish(tree)
    await setup.repos.fetch(setup.url)
    async with setup.repos.lease_tree(setup.url, commit) as root:
        assert (root / "link.yaml").read_text() == "kind: Deployment\n"
        assert (root / "current/deploy.yaml").read_text() == "kind: Deployment\n"
        assert (root / "current").resolve() == (root / "base").resolve()
        assert os.readlink(root / "dangling") == "missing/file.yaml"


# --- git bombs and limits -----------------------------------------------------------------


async def test_git_bomb_is_refused_quickly(setup: Setup) -> None:
    crafter = setup.origin
    level = crafter.tree([crafter.file(f"f{i}", "x\n") for i in range(10)])
    for _depth in range(7):  # 10 entries of the level below, seven times: 10^8 files
        level = crafter.tree([(TREE, f"d{i}", level) for i in range(10)])
    stats = dict(
        line.split(": ") for line in run_git(crafter.git_dir, "count-objects", "-v").splitlines()
    )
    commit = setup.publish(level)
    await setup.repos.fetch(setup.url)  # a few KB: fsck has nothing against it
    started = time.monotonic()
    error = await setup.refuse(commit, "lease")
    elapsed = time.monotonic() - started
    assert_refused(error, setup.url, commit, "limit: 100000 entries")
    print(
        f"git bomb: {stats['count']} objects, {stats['size']} KiB, 10^8 files:"
        f" refused in {elapsed:.2f}s"
    )
    assert elapsed < 10


async def test_entry_and_size_limits_are_constructor_parameters(tmp_path: Path) -> None:
    small = Setup(tmp_path, max_tree_entries=5)
    crafter = small.origin
    many = small.publish(crafter.tree([crafter.file(f"f{i}.yaml", f"n: {i}\n") for i in range(6)]))
    await small.repos.fetch(small.url)
    assert_refused(await small.refuse(many, "lease"), "more than the limit of 5")

    big = "x" * 4096
    sized = GitRepos(tmp_path / "sized", timeout=30, max_tree_bytes=3 * 4096)
    # One blob used four times is written four times: that is what counts.
    heavy = small.publish(crafter.tree([(FILE, f"f{i}", crafter.blob(big)) for i in range(4)]))
    with pytest.raises(InputError) as caught:
        async with sized.lease_tree(small.url, heavy):
            pass
    assert_refused(caught.value, f"more than the limit of {3 * 4096} bytes")


# --- hooks --------------------------------------------------------------------------------


def hook_script(marker: Path) -> str:
    return f'#!/bin/sh\necho "$0" >> {marker}\n'


def plant_hooks(hooks_dir: Path, marker: Path, names: Sequence[str]) -> None:
    hooks_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        hook = hooks_dir / name
        hook.write_text(hook_script(marker))
        hook.chmod(0o755)


_FETCH_HOOKS = ("reference-transaction", "pre-auto-gc", "post-index-change", "post-checkout")


async def test_planted_hooks_never_run(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "hook-ran"
    plant_hooks(setup.mirror / "hooks", marker, _FETCH_HOOKS)
    # Hooks git would also find through tether's environment: `git -c core.hooksPath`
    # exported by a parent git, or a template directory.
    elsewhere = tmp_path / "other-hooks"
    plant_hooks(elsewhere, marker, _FETCH_HOOKS)
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'core.hooksPath'='{elsewhere}'")
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(tmp_path / "templates"))
    plant_hooks(tmp_path / "templates" / "hooks", marker, _FETCH_HOOKS)
    # Proof that the planted hooks do run when git is allowed to (the test is not vacuous).
    run_git(setup.mirror, "update-ref", "refs/tags/probe", setup.first)
    assert marker.exists()
    marker.unlink()
    run_git(setup.mirror, "-c", "core.hooksPath=/dev/null", "update-ref", "-d", "refs/tags/probe")

    newer = setup.publish(setup.origin.tree([setup.origin.file("app.yaml", "kind: Secret\n")]))
    await setup.repos.fetch(setup.url)  # moves main: reference-transaction would run
    assert await setup.repos.resolve(setup.url, "main") == newer
    async with setup.repos.lease_tree(setup.url, newer) as root:  # read-tree, checkout-index
        assert (root / "app.yaml").read_text() == "kind: Secret\n"
    fresh = GitRepos(tmp_path / "fresh-cache", timeout=30)  # git init, a first fetch
    await fresh.fetch(setup.url)
    assert not marker.exists()


async def test_revert_work_tree_runs_no_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "hook-ran"
    templates = tmp_path / "templates"
    plant_hooks(
        templates / "hooks",
        marker,
        ["post-checkout", "pre-commit", "prepare-commit-msg", "commit-msg", "post-commit"],
    )
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(templates))
    origin = Crafter(tmp_path / "origin.git")
    one = origin.commit(origin.tree([origin.file("a.yaml", "n: 1\n")]))
    two = origin.commit(origin.tree([origin.file("a.yaml", "n: 2\n")]), parent=one)
    origin.set_branch("main", two)
    repos = GitRepos(tmp_path / "cache", timeout=30)
    url = f"file://{origin.git_dir}"
    outcome = await git_revert.revert_commits(
        repos,
        url,
        "main",
        [two],
        message="Revert two",
        identity=GitIdentity("tether", "tether@example.test"),
        push=False,
        keep_dir=tmp_path / "kept",
    )
    assert outcome.workdir is not None and outcome.sha
    assert not marker.exists()


# --- credentials in the URL ---------------------------------------------------------------


async def test_refusals_over_http_never_show_the_password(
    git_server: GitHttpServer, tmp_path: Path
) -> None:
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    crafter = Crafter(git_server.create_repo(name))
    url = git_server.url(name, with_credentials=True)
    assert git_server.password in url
    repos = GitRepos(tmp_path / "cache", timeout=30)
    duplicate = crafter.tree([crafter.link("x", "/etc"), (TREE, "x", crafter.tree([]))])
    crafter.set_branch("main", crafter.commit(duplicate))
    errors: list[TetherError] = []
    with pytest.raises(InputError) as caught:
        await repos.fetch(url)
    errors.append(caught.value)
    assert not repos.mirror_path(url).exists()  # a refused first fetch leaves no mirror

    escaping = crafter.commit(crafter.tree([crafter.link("x", "../../../../etc/passwd")]))
    crafter.set_branch("main", escaping)
    await repos.fetch(url)
    with pytest.raises(InputError) as caught:
        async with repos.lease_tree(url, escaping):
            pass
    errors.append(caught.value)
    shown = git_server.url(name)
    for error in errors:
        assert_refused(error, shown)
        text = f"{error} {error.hint} {error!r} {error.args}"
        assert git_server.password not in text and f"{git_server.username}:" not in text


# --- the CLI ------------------------------------------------------------------------------


async def test_cli_reports_a_refused_tree_in_one_line_with_exit_code_2(
    kubeconfig: str, namespace: str, git_server: GitHttpServer, tmp_path: Path
) -> None:
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    crafter = Crafter(git_server.create_repo(name))
    tree = crafter.tree([crafter.file("cm.yaml", "kind: ConfigMap\n"), crafter.link("x", "/etc")])
    crafter.set_branch("main", crafter.commit(tree))
    url = git_server.url(name, with_credentials=True)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return tether(kubeconfig, "-n", namespace, *args, cache=tmp_path / "cli-cache")

    created = run(
        "app", "create", "--name", "hostile", "--repo", url, "--path", ".",
        "--dest-namespace", namespace,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    result = run("app", "diff", "hostile")
    assert_one_error_line(result, 2, "symlink 'x'", "points outside the repository")
    assert git_server.password not in result.stderr + result.stdout
