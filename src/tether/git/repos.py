"""Git adapter: one bare mirror per repository, kept current with the git CLI, read at a commit.

Everything runs the real `git` through `tether.process.run_process`, each call with a
timeout. Fetches are serialized per mirror and bounded globally; reads go to the local
mirror only. Credentials never reach argv, logs, exceptions or a stored config: URLs are
stripped of userinfo, basic auth reaches git through an environment-only credential
helper, ssh keys through a 0600 temporary file, and every message git prints is scrubbed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import io
import logging
import math
import os
import re
import shlex
import shutil
import tarfile
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from tether.errors import InputError, TetherError, UnreachableError
from tether.process import ProcessResult, ProcessTimeout, run_process

log = logging.getLogger(__name__)

SECRET_TYPE_LABEL = "tether.dev/secret-type"
SECRET_TYPE_REPOSITORY = "repository"

# Only branches and tags: a `--mirror` refspec (refs/*) would also pull every
# refs/pull/* and refs/merge-requests/* of a forge, which GitOps never needs.
_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
_SCHEMES = frozenset({"file", "http", "https", "ssh", "git", "git+ssh", "ssh+git"})
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
_HTTP_SCHEMES = frozenset({"http", "https"})
# `[user@]host:path` with no scheme is ssh; a path containing a slash before the colon is not.
_SCP_LIKE = re.compile(r"^(?:[^@/:\s]+@)?[^/:\s]+:")
# `<transport>::<address>` runs an arbitrary remote helper (`ext::sh -c ...`): never allowed.
_TRANSPORT_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Variables that would point git at another repository than the one we name.
_REPO_ENV_VARS = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
    }
)
_BASE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    # English messages, so failures can be classified (auth vs network vs not found).
    "LC_ALL": "C",
    "LANGUAGE": "",
    # Transports tether supports; `ext::` and friends stay off even if config enables them.
    "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",
}
# Reads of the mirror ignore the user's and the system's git config: nothing there may
# change what a tree contains (export-ignore attributes, textconv) or how output looks.
_LOCAL_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "core.attributesFile",
    "GIT_CONFIG_VALUE_0": os.devnull,
    "GIT_LITERAL_PATHSPECS": "1",
    "GIT_OPTIONAL_LOCKS": "0",
}
# The helper answers `get` from variables set for this one git process only; `store` and
# `erase` are ignored, so nothing is ever written to a credential store.
_HELPER_USERNAME = "TETHER_GIT_HELPER_USERNAME"
_HELPER_PASSWORD = "TETHER_GIT_HELPER_PASSWORD"
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || return 0; '
    f'printf "username=%s\\npassword=%s\\n" "${_HELPER_USERNAME}" "${_HELPER_PASSWORD}"; }}; f'
)
# Forges accept any user name with a token as the password; git needs a non-empty one.
_TOKEN_USERNAME = "x-access-token"
_LOG_FIELDS = ("%H", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%s")
_LOG_FORMAT = "%x1f".join(_LOG_FIELDS) + "%x1e"

_AUTH_MARKERS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "returned error: 401",
    "returned error: 403",
    "permission denied",
    "access denied",
    "invalid username or password",
)
_NOT_FOUND_MARKERS = (
    "repository not found",
    "does not appear to be a git repository",
    "returned error: 404",
    "not found",
)
_HINT_AUTH = (
    "check the repository credentials (TETHER_GIT_USERNAME/TETHER_GIT_PASSWORD, an ssh key "
    "or agent, or a Secret labelled tether.dev/secret-type=repository)"
)
_HINT_NOT_FOUND = "check the repository URL, and that the credentials may read it"
_HINT_NETWORK = "check the URL and that the git server is reachable from here"


# --- credentials -------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class GitCredentials:
    """What git needs to read a private repository. `password` also holds tokens."""

    username: str | None = None
    password: str | None = None
    ssh_private_key: str | None = None

    def __repr__(self) -> str:
        # A user name can be a token (https://TOKEN@host), so it is masked as well.
        def mask(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (
            f"GitCredentials(username={mask(self.username)}, password={mask(self.password)}, "
            f"ssh_private_key={mask(self.ssh_private_key)})"
        )

    @property
    def has_basic_auth(self) -> bool:
        return bool(self.username or self.password)


@dataclass(frozen=True)
class RepositorySecret:
    """Credentials from a repository Secret, for every repository under its `url` prefix."""

    name: str  # <namespace>/<name>, for messages
    url: str  # the prefix, without credentials
    credentials: GitCredentials = field(repr=False)

    def applies_to(self, repo_url: str) -> bool:
        repo, prefix = _url_key(repo_url), _url_key(self.url)
        if repo == prefix:
            return True
        if not repo.startswith(prefix):
            return False
        # "https://host/org" covers "https://host/org/app" but not "https://host/organization".
        return prefix.endswith(("/", ":")) or repo[len(prefix)] in "/:"


def credentials_from_env(environ: Mapping[str, str] | None = None) -> GitCredentials | None:
    """The CLI's credentials: TETHER_GIT_USERNAME / TETHER_GIT_PASSWORD.

    An ssh agent needs nothing here: SSH_AUTH_SOCK is inherited by git and ssh.
    """
    env = os.environ if environ is None else environ
    username = env.get("TETHER_GIT_USERNAME") or None
    password = env.get("TETHER_GIT_PASSWORD") or None
    if username is None and password is None:
        return None
    return GitCredentials(username=username, password=password)


def credentials_from_secret(secret: Mapping[str, Any]) -> RepositorySecret:
    """Read a Secret labelled `tether.dev/secret-type: repository` (data: url, username,
    password, sshPrivateKey; base64 as the API returns them, or plain in stringData)."""
    meta = secret.get("metadata") or {}
    name = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    labels = meta.get("labels") or {}
    if labels.get(SECRET_TYPE_LABEL) != SECRET_TYPE_REPOSITORY:
        raise InputError(
            f"secret {name} is not a repository secret",
            hint=f"label it {SECRET_TYPE_LABEL}={SECRET_TYPE_REPOSITORY}",
        )
    values = _secret_values(name, secret)
    url = values.get("url")
    if not url:
        raise InputError(f"secret {name} has no 'url' key", hint="set the repository URL prefix")
    credentials = GitCredentials(
        username=values.get("username") or None,
        password=values.get("password") or None,
        ssh_private_key=values.get("sshPrivateKey") or None,
    )
    return RepositorySecret(name=name, url=redact_url(url), credentials=credentials)


def select_credentials(repo_url: str, secrets: Iterable[RepositorySecret]) -> GitCredentials | None:
    """The credentials of the most specific (longest) secret prefix matching `repo_url`."""
    matching = [s for s in secrets if s.applies_to(repo_url)]
    if not matching:
        return None
    return max(matching, key=lambda s: len(_url_key(s.url))).credentials


def _secret_values(name: str, secret: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, encoded in (secret.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            # Never echo the value: it is a secret even when malformed.
            raise InputError(f"secret {name}: key '{key}' is not valid base64 UTF-8") from None
    # stringData wins over data, as the API server merges them.
    values.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return values


# --- URLs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Remote:
    """A repository as git is told about it: a URL without secrets, credentials aside."""

    url: str
    transport: str  # "http", "ssh", "local" (file://, paths) or "git"
    credentials: GitCredentials | None

    def scrub(self, text: str) -> str:
        return _scrub(text, self.credentials)


def redact_url(repo_url: str) -> str:
    """`repo_url` without any password (and, for http(s), without the user name)."""
    return _parse_remote(repo_url, None).url


def _parse_remote(repo_url: str, credentials: GitCredentials | None) -> _Remote:
    url = repo_url.strip()
    _check_url_text(url)
    if "://" in url:
        return _parse_scheme_url(url, credentials)
    if _SCP_LIKE.match(url):
        return _Remote(url, "ssh", credentials)
    return _Remote(os.path.abspath(os.path.expanduser(url)), "local", credentials)


def _check_url_text(url: str) -> None:
    shown = _USERINFO.sub("", url)
    if not url:
        raise InputError("repository URL is empty")
    if _CONTROL.search(url) or url.startswith("-"):
        raise InputError(f"repository URL {shown!r} is not valid")
    if _TRANSPORT_PREFIX.match(url):
        raise InputError(
            f"repository URL {shown!r}: remote helpers (<transport>::) are not supported",
            hint="use https://, ssh://, file:// or a path",
        )


def _parse_scheme_url(url: str, credentials: GitCredentials | None) -> _Remote:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise InputError(
            f"repository URL {_USERINFO.sub('', url)!r}: unsupported scheme '{scheme}'",
            hint="use https://, ssh://, file:// or a path",
        )
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    username = unquote(user) if user else None
    secret = unquote(password) if has_password else None
    if scheme in _SSH_SCHEMES:
        # The ssh user (git@) is part of the address, not a secret; a password is.
        netloc = f"{user}@{hostport}" if user else hostport
        from_url = GitCredentials(password=secret) if secret else None
        transport = "ssh"
    else:
        netloc = hostport
        from_url = GitCredentials(username, secret) if (username or secret) else None
        transport = "http" if scheme in _HTTP_SCHEMES else "local" if scheme == "file" else "git"
    if transport != "local" and not hostport:
        raise InputError(f"repository URL {urlunsplit(parts._replace(netloc=''))!r} has no host")
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return _Remote(clean, transport, _merge_credentials(credentials, from_url))


def _merge_credentials(
    given: GitCredentials | None, from_url: GitCredentials | None
) -> GitCredentials | None:
    """Explicit credentials win; user:password from the URL fills in when none are given."""
    if given is None or from_url is None:
        return given or from_url
    if given.has_basic_auth:
        return given
    return GitCredentials(from_url.username, from_url.password, given.ssh_private_key)


def _url_key(repo_url: str) -> str:
    """A URL reduced for prefix matching: no credentials, trailing slash or `.git`."""
    return redact_url(repo_url).rstrip("/").removesuffix(".git")


def _secret_strings(credentials: GitCredentials | None) -> list[str]:
    if credentials is None:
        return []
    found: list[str] = []
    user, password = credentials.username, credentials.password
    if password:
        found += [password, quote(password, safe=""), quote(password)]
        pair = f"{user or ''}:{password}"
        found += [pair, base64.b64encode(pair.encode()).decode()]
    elif user and len(user) >= 8:
        found += [user, quote(user, safe="")]  # a token given as the user name
    if credentials.ssh_private_key:
        found += [ln.strip() for ln in credentials.ssh_private_key.splitlines() if ln.strip()]
    # Longest first, so a pair is replaced whole before its parts.
    return sorted({s for s in found if s}, key=len, reverse=True)


def _scrub(text: str, credentials: GitCredentials | None) -> str:
    text = _USERINFO.sub("", text)
    for secret in _secret_strings(credentials):
        text = text.replace(secret, "***")
    return text


def _last_line(text: str, limit: int = 400) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""


# --- revisions and paths -----------------------------------------------------------------


def _check_revision(remote: _Remote, revision: str) -> str:
    """A revision git may parse. Empty means HEAD, as in Argo CD's targetRevision."""
    rev = revision.strip() or "HEAD"
    # No option injection, no `<rev>:<path>` or `:/regex` syntax: refs cannot contain ':'.
    if rev.startswith("-") or ":" in rev or " " in rev or _CONTROL.search(rev):
        raise InputError(f"repository {remote.url}: revision {revision!r} is not valid")
    return rev


def _check_sha(remote: _Remote, sha: str) -> str:
    commit = sha.strip().lower()
    if not _FULL_SHA.fullmatch(commit):
        raise InputError(
            f"repository {remote.url}: {sha!r} is not a full commit SHA",
            hint="resolve the revision first",
        )
    return commit


def _check_path(remote: _Remote, path: str) -> str:
    """A repository-relative path ('' is the root). '..' is refused, never clamped."""
    parts = [part for part in path.strip().split("/") if part not in ("", ".")]
    if ".." in parts or "\n" in path or "\x00" in path:
        raise InputError(f"repository {remote.url}: path {path!r} is not inside the repository")
    return "/".join(parts)


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author_name: str
    author_email: str
    authored_at: str  # ISO 8601 with the author's UTC offset
    committer_name: str
    committer_email: str
    committed_at: str
    subject: str


@dataclass(frozen=True)
class _Object:
    """One answer of `git cat-file --batch[-check]`: kind None means missing."""

    kind: str | None
    content: bytes = b""


def _parse_batch(data: bytes, count: int, *, with_content: bool) -> list[_Object]:
    found: list[_Object] = []
    pos = 0
    for _ in range(count):
        end = data.index(b"\n", pos)
        header = data[pos:end].decode("utf-8", "replace")
        pos = end + 1
        if header.endswith((" missing", " ambiguous")):
            found.append(_Object(None))
            continue
        _oid, kind, size_text = header.rsplit(" ", 2)
        size = int(size_text) if with_content else 0
        found.append(_Object(kind, data[pos : pos + size]))
        pos += size + 1 if with_content else 0
    return found


def _parse_log(stdout: bytes) -> list[CommitInfo]:
    commits = []
    for record in stdout.decode("utf-8", "replace").split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == len(_LOG_FIELDS):
            commits.append(CommitInfo(*fields))
    return commits


# --- trees on disk -----------------------------------------------------------------------


def _extract_tree(archive: bytes, target: Path) -> None:
    """Unpack a tar into a temp sibling of `target`, make it read-only, rename it in place.

    The rename is atomic, so a concurrent extractor (another task or process) either wins
    or finds the finished tree; nobody ever sees a half-written one.
    """
    tmp = _sibling_temp_dir(target)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            # The "data" filter refuses absolute paths and links leaving the tree.
            tar.extractall(tmp, filter="data")
        _make_read_only(tmp)
        _move_into_place(tmp, target)
    except BaseException:
        _remove_tree(tmp)
        raise


def _sibling_temp_dir(path: Path) -> Path:
    """An empty private directory next to `path`, on the same file system (atomic rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))


def _move_into_place(tmp: Path, path: Path) -> None:
    """Rename the finished `tmp` to `path`; if a concurrent writer got there first, keep
    theirs (built from the same commit or remote, so equivalent) and drop ours."""
    try:
        tmp.rename(path)
    except OSError:
        if not path.is_dir():
            raise
        _remove_tree(tmp)


def _is_dir(path: Path) -> bool:
    # One stat of a local cache path: too quick to be worth a thread hop.
    return path.is_dir()


def _make_read_only(root: Path) -> None:
    # Renderers read these trees concurrently; one that writes (helm dependency build)
    # must copy first instead of changing what other applications see.
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(0o555 if mode & 0o100 else 0o444)
        Path(dirpath).chmod(0o555)


def _remove_tree(root: Path) -> None:
    """Remove a directory made read-only by `_make_read_only`."""
    if not root.exists():
        return
    for dirpath, _dirnames, _filenames in os.walk(root):
        with contextlib.suppress(OSError):
            Path(dirpath).chmod(0o755)
    shutil.rmtree(root, ignore_errors=True)


def _remove_stale_locks(mirror: Path) -> None:
    """Remove the `*.lock` files a killed git left behind; the next fetch would fail on them.

    Only called while this process holds the mirror's lock after killing its own git.
    """
    candidates = [mirror / name for name in ("HEAD.lock", "config.lock", "packed-refs.lock")]
    candidates += [mirror / "shallow.lock", *mirror.joinpath("refs").rglob("*.lock")]
    for lock in candidates:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
            log.warning("removed stale git lock %s", lock)


@contextlib.contextmanager
def _ssh_key_file(private_key: str) -> Iterator[Path]:
    """The key in a 0600 temp file (mkstemp's mode), removed however the fetch ends."""
    fd, name = tempfile.mkstemp(prefix="tether-ssh-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # OpenSSH rejects a key whose last line has no newline ("invalid format").
            handle.write(private_key if private_key.endswith("\n") else private_key + "\n")
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _config_env(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """`git -c` without argv: GIT_CONFIG_COUNT/KEY_n/VALUE_n, seen by this process only."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def _http_auth_env(credentials: GitCredentials) -> dict[str, str]:
    # The empty helper value drops helpers from the user's config, so none of them sees
    # (or stores) these credentials; ours then answers from two environment variables.
    env = _config_env([("credential.helper", ""), ("credential.helper", _CREDENTIAL_HELPER)])
    env[_HELPER_USERNAME] = credentials.username or _TOKEN_USERNAME
    env[_HELPER_PASSWORD] = credentials.password or ""
    return env


def _ssh_command(key_file: Path, stall_seconds: int) -> str:
    options = [
        "IdentitiesOnly=yes",
        "StrictHostKeyChecking=accept-new",
        "BatchMode=yes",
        f"ConnectTimeout={stall_seconds}",
        # A silent server ends the session by itself (see _stall_env).
        f"ServerAliveInterval={max(1, stall_seconds // 3)}",
        "ServerAliveCountMax=3",
    ]
    return shlex.join(["ssh", "-i", str(key_file), *(f"-o{option}" for option in options)])


def _stall_env(stall_seconds: int) -> dict[str, str]:
    """Make git's http transport give up on a server that stops sending.

    On a timeout run_process kills git, but the transport helper it started
    (git-remote-http) keeps the output pipes open, and the kill is only complete once
    the helper is gone; this makes the helper go by itself soon after.
    """
    return {"GIT_HTTP_LOW_SPEED_LIMIT": "1", "GIT_HTTP_LOW_SPEED_TIME": str(stall_seconds)}


def _subcommand(args: Sequence[str]) -> str:
    """`fetch` of `--git-dir /x fetch ...`, for messages."""
    return args[2] if len(args) > 2 and args[0] == "--git-dir" else args[0]


def _unreachable(remote: _Remote, result: ProcessResult) -> UnreachableError:
    # Scrub the whole of stderr before picking a line, so truncation cannot cut a secret
    # in half and let the other half through.
    line = _last_line(remote.scrub(result.stderr.decode("utf-8", "replace")))
    line = line.removeprefix("fatal: ") or f"git exited with code {result.returncode}"
    lowered = line.lower()
    if any(marker in lowered for marker in _AUTH_MARKERS):
        hint = _HINT_AUTH
    elif any(marker in lowered for marker in _NOT_FOUND_MARKERS):
        hint = _HINT_NOT_FOUND
    else:
        hint = _HINT_NETWORK
    return UnreachableError(f"git remote {remote.url} unreachable: {line}", hint=hint)


# --- the adapter -------------------------------------------------------------------------


class _MirrorState:
    """Serializes fetches of one mirror and lets waiters reuse a fetch that started later."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.started = 0  # fetches started so far
        self.last_ok = 0  # sequence number of the last fetch that succeeded
        # revision -> SHA, valid until the next fetch moves refs (saves a git process per
        # compare of an app whose repository has not been fetched since).
        self.resolved: dict[str, str] = {}


class GitRepos:
    """Bare mirrors under `cache_dir/mirrors`, extracted trees under `cache_dir/trees`.

    One instance per process and event loop; its locks and semaphores belong to the loop
    that first waits on them. `timeout` bounds every single git call.
    """

    def __init__(self, cache_dir: Path, *, timeout: float = 60.0, max_concurrency: int = 4) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        # Just past the timeout: our own kill comes first and names the timeout.
        self._stall_seconds = math.ceil(timeout) + 1
        self._network = asyncio.Semaphore(max_concurrency)
        # Reads are local and quick, but a controller with hundreds of applications must
        # not start hundreds of git processes at once either.
        self._local = asyncio.Semaphore(max(8, 4 * max_concurrency))
        self._mirrors: dict[Path, _MirrorState] = {}
        self._tree_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # -- public API --

    def mirror_path(self, repo_url: str) -> Path:
        """The bare mirror of `repo_url`, named by a hash of the URL without credentials."""
        return self._mirror_of(_parse_remote(repo_url, None))

    async def fetch(self, repo_url: str, credentials: GitCredentials | None = None) -> None:
        """Create the mirror (first use) or fetch branches and tags into it, pruning."""
        remote = _parse_remote(repo_url, credentials)
        mirror = self._mirror_of(remote)
        state = self._mirrors.setdefault(mirror, _MirrorState())
        asked_at = state.started
        async with state.lock:
            if state.last_ok > asked_at:
                return  # a fetch that began after we asked has just succeeded
            state.started += 1
            sequence = state.started
            state.resolved.clear()
            await self._sync_mirror(remote, mirror)
            state.resolved.clear()
            state.last_ok = sequence

    async def resolve(
        self, repo_url: str, revision: str, *, credentials: GitCredentials | None = None
    ) -> str:
        """The full commit SHA of a branch, tag (peeled), full or short SHA, or HEAD."""
        remote = _parse_remote(repo_url, credentials)
        rev = _check_revision(remote, revision)
        mirror = await self._ensure_mirror(remote)
        state = self._mirrors.setdefault(mirror, _MirrorState())
        known = state.resolved.get(rev)
        if known is not None and not state.lock.locked():
            return known
        sha = await self._commit_of(remote, mirror, rev, shown=revision)
        if not state.lock.locked():
            state.resolved[rev] = sha
        return sha

    async def tree(
        self, repo_url: str, sha: str, *, credentials: GitCredentials | None = None
    ) -> Path:
        """A read-only directory with the whole tree of commit `sha`, extracted once."""
        remote = _parse_remote(repo_url, credentials)
        commit = _check_sha(remote, sha)
        target = self.cache_dir / "trees" / commit
        if _is_dir(target):
            return target  # works even while the remote is down
        lock = self._tree_locks.get(commit)
        if lock is None:
            lock = self._tree_locks[commit] = asyncio.Lock()
        async with lock:
            if not _is_dir(target):
                await self._extract(remote, commit, target)
        return target

    async def read_file(
        self, repo_url: str, sha: str, path: str, *, credentials: GitCredentials | None = None
    ) -> bytes:
        """The content of file `path` at revision `sha`."""
        remote = _parse_remote(repo_url, credentials)
        rev, clean = _check_revision(remote, sha), _check_path(remote, path)
        mirror = await self._ensure_mirror(remote)
        commit, entry = await self._cat_file(remote, mirror, rev, clean, with_content=True)
        if commit.kind is None:
            raise self._revision_not_found(remote, sha)
        if entry.kind is None:
            raise InputError(f"repository {remote.url} at revision {sha}: path '{path}' not found")
        if entry.kind != "blob":
            raise InputError(
                f"repository {remote.url} at revision {sha}: path '{path}' is not a file"
            )
        return entry.content

    async def path_exists(
        self, repo_url: str, sha: str, path: str, *, credentials: GitCredentials | None = None
    ) -> bool:
        """Whether `path` (file or directory) exists at revision `sha`."""
        remote = _parse_remote(repo_url, credentials)
        rev, clean = _check_revision(remote, sha), _check_path(remote, path)
        mirror = await self._ensure_mirror(remote)
        commit, entry = await self._cat_file(remote, mirror, rev, clean, with_content=False)
        if commit.kind is None:
            raise self._revision_not_found(remote, sha)
        return entry.kind is not None

    async def log(
        self,
        repo_url: str,
        sha: str,
        path: str | None = None,
        limit: int = 50,
        *,
        credentials: GitCredentials | None = None,
    ) -> list[CommitInfo]:
        """Commits reachable from `sha` (touching `path`, if given), newest first."""
        remote = _parse_remote(repo_url, credentials)
        rev = _check_revision(remote, sha)
        clean = _check_path(remote, path) if path else ""
        mirror = await self._ensure_mirror(remote)
        commit = await self._commit_of(remote, mirror, rev, shown=sha)
        args = ["log", f"--max-count={max(limit, 0)}", f"--format={_LOG_FORMAT}", commit, "--"]
        result = await self._read(remote, mirror, [*args, *([clean] if clean else [])])
        return _parse_log(self._checked(remote, result).stdout)

    async def is_ancestor(
        self,
        repo_url: str,
        ancestor: str,
        descendant: str,
        *,
        credentials: GitCredentials | None = None,
    ) -> bool:
        """Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor).

        An `ancestor` missing from the mirror is not an ancestor: the mirror holds every
        commit reachable from `descendant`, so this is the answer after a force push whose
        old commits were garbage-collected.
        """
        remote = _parse_remote(repo_url, credentials)
        old, new = _check_revision(remote, ancestor), _check_revision(remote, descendant)
        mirror = await self._ensure_mirror(remote)
        new_sha = await self._commit_of(remote, mirror, new, shown=descendant)
        old_sha = await self._rev_parse(remote, mirror, old)
        if old_sha is None:
            return False
        result = await self._read(remote, mirror, ["merge-base", "--is-ancestor", old_sha, new_sha])
        if result.returncode != 1:
            self._checked(remote, result)  # exit 1 means "no"; anything else but 0 is a failure
        return result.ok

    async def refs_digest(self, repo_url: str, *, credentials: GitCredentials | None = None) -> str:
        """A digest of every ref of the mirror (name and commit): equal digests mean a
        fetch brought nothing new, so nothing that tracks this repository needs a look."""
        remote = _parse_remote(repo_url, credentials)
        mirror = await self._ensure_mirror(remote)
        result = await self._read(
            remote, mirror, ["for-each-ref", "--format=%(objectname) %(refname)"]
        )
        refs = self._checked(remote, result).stdout
        head = await self._rev_parse(remote, mirror, "HEAD")
        return hashlib.sha256(refs + (head or "").encode()).hexdigest()

    # -- fetching --

    def _mirror_of(self, remote: _Remote) -> Path:
        digest = hashlib.sha256(remote.url.encode("utf-8")).hexdigest()[:16]
        return self.cache_dir / "mirrors" / f"{digest}.git"

    async def _ensure_mirror(self, remote: _Remote) -> Path:
        """The mirror, created first if this repository was never fetched."""
        mirror = self._mirror_of(remote)
        if not _is_dir(mirror):
            state = self._mirrors.setdefault(mirror, _MirrorState())
            async with state.lock:
                if not _is_dir(mirror):
                    await self._sync_mirror(remote, mirror)
        return mirror

    async def _sync_mirror(self, remote: _Remote, mirror: Path) -> None:
        started = time.monotonic()
        async with self._network:
            with self._remote_env(remote) as env:
                if _is_dir(mirror):
                    await self._fetch_refs(remote, mirror, env)
                    if await self._rev_parse(remote, mirror, "HEAD") is None:
                        await self._adopt_remote_head(remote, mirror, env)
                else:
                    await self._create_mirror(remote, mirror, env)
        log.debug("fetched %s in %.2fs", remote.url, time.monotonic() - started)

    async def _create_mirror(self, remote: _Remote, mirror: Path, env: dict[str, str]) -> None:
        """Build the mirror next to its final place and rename it there once complete, so
        a failed first fetch leaves nothing that looks like a mirror."""
        tmp = _sibling_temp_dir(mirror)
        try:
            init = await self._git(remote, ["init", "--bare", "--quiet", str(tmp)], env=_LOCAL_ENV)
            self._checked(remote, init)
            await self._fetch_refs(remote, tmp, env)
            await self._adopt_remote_head(remote, tmp, env)
            _move_into_place(tmp, mirror)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    async def _fetch_refs(self, remote: _Remote, mirror: Path, env: dict[str, str]) -> None:
        args = ["--git-dir", str(mirror), "fetch", "--prune", "--quiet", "--no-write-fetch-head"]
        try:
            result = await self._git(remote, [*args, "--", remote.url, *_REFSPECS], env=env)
        except UnreachableError:
            _remove_stale_locks(mirror)  # the timed-out git was killed mid-update
            raise
        if not result.ok:
            raise _unreachable(remote, result)

    async def _adopt_remote_head(self, remote: _Remote, mirror: Path, env: dict[str, str]) -> None:
        """Point the mirror's HEAD at the remote's default branch (`HEAD` as a revision)."""
        result = await self._git(
            remote, ["ls-remote", "--symref", "--", remote.url, "HEAD"], env=env
        )
        if not result.ok:
            raise _unreachable(remote, result)
        for line in result.stdout.decode("utf-8", "replace").splitlines():
            target, _, name = line.removeprefix("ref: ").partition("\t")
            if line.startswith("ref: ") and name == "HEAD" and target.startswith("refs/heads/"):
                args = ["--git-dir", str(mirror), "symbolic-ref", "HEAD", target]
                self._checked(remote, await self._git(remote, args, env=_LOCAL_ENV))
                return

    @contextlib.contextmanager
    def _remote_env(self, remote: _Remote) -> Iterator[dict[str, str]]:
        """Environment that authenticates one network git call, and nothing beyond it."""
        credentials = remote.credentials
        stall = _stall_env(self._stall_seconds)
        if credentials is None or remote.transport == "local":
            yield stall
        elif remote.transport == "http" and credentials.has_basic_auth:
            yield stall | _http_auth_env(credentials)
        elif remote.transport == "ssh" and credentials.ssh_private_key:
            with _ssh_key_file(credentials.ssh_private_key) as key_file:
                command = _ssh_command(key_file, self._stall_seconds)
                yield stall | {"GIT_SSH_COMMAND": command, "GIT_SSH_VARIANT": "ssh"}
        else:
            yield stall

    # -- reading the mirror --

    async def _extract(self, remote: _Remote, commit: str, target: Path) -> None:
        mirror = await self._ensure_mirror(remote)
        # --worktree-attributes: a bare mirror has no work tree, so this reads no
        # attributes at all, and export-ignore/export-subst in the tree cannot alter it.
        args = ["archive", "--worktree-attributes", "--format=tar", f"{commit}^{{commit}}"]
        result = await self._read(remote, mirror, args)
        if not result.ok:
            if await self._rev_parse(remote, mirror, commit) is None:
                raise self._revision_not_found(remote, commit)
            self._checked(remote, result)
        try:
            await asyncio.to_thread(_extract_tree, result.stdout, target)
        except tarfile.TarError as exc:
            raise InputError(
                f"repository {remote.url} at {commit}: {exc}",
                hint="symlinks must stay inside the repository",
            ) from None

    async def _cat_file(
        self, remote: _Remote, mirror: Path, rev: str, path: str, *, with_content: bool
    ) -> tuple[_Object, _Object]:
        """The commit `rev` and the object at `rev:path`, in one git call."""
        mode = "--batch" if with_content else "--batch-check"
        query = f"{rev}^{{commit}}\n{rev}:{path}\n".encode()
        result = await self._read(remote, mirror, ["cat-file", mode], input=query)
        commit, entry = _parse_batch(
            self._checked(remote, result).stdout, 2, with_content=with_content
        )
        return commit, entry

    async def _commit_of(self, remote: _Remote, mirror: Path, rev: str, *, shown: str) -> str:
        sha = await self._rev_parse(remote, mirror, rev)
        if sha is None:
            raise self._revision_not_found(remote, shown)
        return sha

    async def _rev_parse(self, remote: _Remote, mirror: Path, rev: str) -> str | None:
        args = ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"]
        result = await self._read(remote, mirror, args)
        return result.stdout.decode().strip() if result.ok else None

    @staticmethod
    def _revision_not_found(remote: _Remote, revision: str) -> InputError:
        return InputError(
            f"repository {remote.url}: revision '{revision}' not found",
            hint="use a branch, tag or commit of the repository (fetch first if it is new)",
        )

    # -- running git --

    async def _read(
        self, remote: _Remote, mirror: Path, args: Sequence[str], *, input: bytes | None = None
    ) -> ProcessResult:
        async with self._local:
            return await self._git(
                remote, ["--git-dir", str(mirror), *args], env=_LOCAL_ENV, input=input
            )

    async def _git(
        self,
        remote: _Remote,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        input: bytes | None = None,
    ) -> ProcessResult:
        full_env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV_VARS}
        full_env.update(_BASE_ENV)
        full_env.update(env)
        try:
            return await run_process(
                ["git", *args], timeout=self.timeout, input=input, env=full_env, inherit_env=False
            )
        except ProcessTimeout:
            raise UnreachableError(
                f"git {_subcommand(args)} of {remote.url} did not finish within {self.timeout:g}s",
                hint=_HINT_NETWORK,
            ) from None

    @staticmethod
    def _checked(remote: _Remote, result: ProcessResult) -> ProcessResult:
        """`result`, or an error for a git failure that no caller expects."""
        if result.ok:
            return result
        line = _last_line(remote.scrub(result.stderr.decode("utf-8", "replace")))
        raise TetherError(f"git {_subcommand(result.argv[1:])} failed for {remote.url}: {line}")
