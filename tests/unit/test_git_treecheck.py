"""tether.git.treecheck: the pure check of a tree listing before anything is written."""

from __future__ import annotations

import pytest

from tether.git.treecheck import (
    MAX_SYMLINK_DEPTH,
    TreeEntry,
    TreeRefused,
    check_paths,
    check_size,
    check_symlink_sizes,
    check_symlinks,
    parse_listing,
)


def entries(*spec: str) -> list[TreeEntry]:
    """'d:path' a directory, 'f:path' a file, 'l:path=target' a symlink (oid = path)."""
    found = []
    for item in spec:
        kind, _, rest = item.partition(":")
        path, _, _target = rest.partition("=")
        mode = {"d": "040000", "f": "100644", "l": "120000", "x": "100755", "s": "160000"}[kind]
        git_kind = {"d": "tree", "s": "commit"}.get(kind, "blob")
        found.append(TreeEntry(mode, git_kind, f"oid-{path}", path))
    return found


def links(*spec: str) -> tuple[list[TreeEntry], dict[str, bytes]]:
    listed = entries(*spec)
    targets = {
        f"oid-{s.split(':', 1)[1].split('=')[0]}": s.split("=", 1)[1].encode()
        for s in spec
        if s.startswith("l:")
    }
    return listed, targets


def refused(check: object, *args: object, match: str, **kwargs: object) -> None:
    assert callable(check)
    with pytest.raises(TreeRefused, match=match):
        check(*args, **kwargs)


def test_parse_listing_keeps_any_byte_of_a_path() -> None:
    raw = (
        b"040000 tree " + b"a" * 40 + b"\tdir\0"
        b"100644 blob " + b"b" * 40 + b"\tdir/caf\xc3\xa9 \xff.yaml\0"
        b"120000 blob " + b"c" * 40 + b"\tnew\nline\0"
    )
    listed = parse_listing(raw)
    assert [e.kind for e in listed] == ["tree", "blob", "blob"]
    assert listed[1].path.encode("utf-8", "surrogateescape") == b"dir/caf\xc3\xa9 \xff.yaml"
    assert listed[2].is_symlink and listed[2].path == "new\nline"
    with pytest.raises(TreeRefused, match="unexpected tree listing"):
        parse_listing(b"garbage\0")


def test_an_ordinary_tree_passes() -> None:
    listed = entries("f:README.md", "d:apps", "d:apps/web", "f:apps/web/deploy.yaml", "s:vendor")
    check_paths(listed, max_entries=5)
    refused(check_paths, listed, max_entries=4, match="5 entries, more than the limit of 4")


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (["f:/etc/passwd"], "is absolute"),
        (["d:a", "f:a/../../x"], r"leaves the repository \('\.\.' component\)"),
        (["f:.."], "leaves the repository"),
        (["d:a", "f:a//b"], "not canonical"),
        (["d:a", "f:a/./b"], "not canonical"),
        (["d:.git", "f:.git/config"], "'.git' component"),
        (["d:x", "d:x/.GiT", "f:x/.GiT/hooks"], "'.git' component"),
        (["f:.git. "], "'.git' component"),
        (["l:a=x", "d:a", "f:a/file"], "'a' appears twice"),
        (["f:a", "f:a"], "'a' appears twice"),
        (["d:a", "d:a"], "'a' appears twice"),
        (["l:a=d", "f:a/x"], "'a' is both a file or symlink and the directory of 'a/x'"),
        (["s:sub", "f:sub/x"], "is both a file"),
        (["f:b/c"], "no directory entry 'b'"),  # a name with a slash in it
    ],
)
def test_unsafe_paths_are_refused(spec: list[str], match: str) -> None:
    refused(check_paths, entries(*spec), max_entries=100, match=match)


def test_unsupported_modes_are_refused() -> None:
    odd = [TreeEntry("100664", "blob", "oid", "x"), TreeEntry("040000", "blob", "oid", "y")]
    for entry in odd:
        refused(check_paths, [entry], max_entries=10, match="unsupported mode")


def test_size_counts_every_use_of_a_blob() -> None:
    listed = [TreeEntry("100644", "blob", "same", f"f{i}") for i in range(4)]
    check_size(listed, {"same": 100}, max_bytes=400)
    refused(check_size, listed, {"same": 100}, max_bytes=399, match="limit of 399 bytes")
    refused(
        check_symlink_sizes,
        [TreeEntry("120000", "blob", "long", "l")],
        {"long": 5000},
        match="longer than PATH_MAX",
    )


def test_symlinks_inside_the_tree_pass() -> None:
    check_symlinks(
        *links(
            "d:base",
            "f:base/deploy.yaml",
            "l:link=base/deploy.yaml",
            "d:overlay",
            "l:overlay/base=../base",
            "l:overlay/up=..",
            "l:chain=overlay/up/overlay/base",  # through a link to the root and back down
            "l:root=.",
            "l:dangling=missing/x",
            "l:via-dots=base/../base/./deploy.yaml",
        )
    )


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (["l:x=/etc/passwd"], "'x' -> '/etc/passwd' points outside the repository \\(absolute"),
        (["l:x=.."], "'x' -> '..' points outside"),
        (["d:a", "l:a/x=../../etc"], "'a/x' -> '../../etc' points outside"),
        # Lexically inside (sub/up/.. is sub), physically outside (sub/up is the root).
        (["d:sub", "l:sub/up=..", "l:evil=sub/up/../x"], "'evil' -> 'sub/up/../x' points outside"),
        # Through a link that itself leads out.
        (["l:out=../..", "l:x=out/etc"], "'out' -> '../..' points outside"),
        (["l:a=b", "l:b=a"], "a loop"),
        (["l:self=self/x"], "a loop"),
        (["l:x="], "empty target"),
        (["l:x=ok\0/etc"], "NUL byte"),
    ],
)
def test_symlinks_leaving_the_tree_are_refused(spec: list[str], match: str) -> None:
    refused(check_symlinks, *links(*spec), match=match)


def test_the_path_max_chain_is_resolved_not_truncated() -> None:
    # CVE-2025-4517's shape without the duplicate entries (those fail check_paths): the
    # short path a/b/.../p leads through 16 links down 16 long directory names, far past
    # PATH_MAX; the long link there goes back up 16 levels (the root), `escape` one more.
    steps = "abcdefghijklmnop"
    component = "0" * 250
    spec = []
    where = ""
    for step in steps:
        spec += [f"d:{where}{component}", f"l:{where}{step}={component}"]
        where += component + "/"
    spec.append(f"l:{where}{'l' * 254}={'/'.join(['..'] * 16)}")
    check_symlinks(*links(*spec))  # the long link leads to the root: inside
    through = "/".join(steps) + "/" + "l" * 254
    spec.append(f"l:escape={through}/..")
    refused(check_symlinks, *links(*spec), match="'escape' -> .* points outside")
    spec[-1] = f"l:escape={through}/{component}/keep"
    check_symlinks(*links(*spec))


def test_chains_deeper_than_the_kernel_follows_are_refused() -> None:
    spec = [f"l:l{i}=l{i + 1}" for i in range(MAX_SYMLINK_DEPTH + 1)] + ["f:end"]
    spec[-2] = f"l:l{MAX_SYMLINK_DEPTH}=end"
    refused(check_symlinks, *links(*spec), match="a chain of more than 40 symlinks")
    shorter = [f"l:l{i}=l{i + 1}" for i in range(MAX_SYMLINK_DEPTH - 1)] + [
        f"l:l{MAX_SYMLINK_DEPTH - 1}=end"
    ]
    check_symlinks(*links(*shorter))


def test_the_telling_line_of_a_git_failure_is_its_first_fatal_line() -> None:
    from tether.git.remote import telling_line

    stderr = (
        "fatal: '/srv/nope.git' does not appear to be a git repository\n"
        "fatal: Could not read from remote repository.\n\n"
        "Please make sure you have the correct access rights\nand the repository exists.\n"
    )
    assert telling_line(stderr) == "fatal: '/srv/nope.git' does not appear to be a git repository"
    assert telling_line("warning: x\nerror: pack broken\n") == "error: pack broken"
    assert telling_line("just one line\n") == "just one line"
