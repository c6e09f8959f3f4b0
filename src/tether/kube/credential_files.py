"""Where the kubernetes client's loader keeps a kubeconfig's inline credentials (client
key and certificate, CA) while this process runs.

The loader writes `*-data` to files because TLS wants paths; by default into the system
temp directory, removed only by an atexit handler. A process that ends without running
atexit handlers (the controller's hard exit after a signal, with watch threads still
blocked in I/O) left them there: a client key per run. They go into a private directory
of this process instead (mode 0700), removed at exit and by `remove()` just before a hard
exit; only a SIGKILL leaves it behind.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile

_made: list[str] = []  # this process's directory, once made


def directory() -> str:
    """This process's directory for credential files (made on first use)."""
    if not _made:
        _made.append(tempfile.mkdtemp(prefix="tether-kube-"))
        atexit.register(remove)
    return _made[0]


def remove() -> None:
    """Remove the credential files (at the process's end: clients made earlier lose them)."""
    for path in _made:
        shutil.rmtree(path, ignore_errors=True)
