"""The evaluation worker: a separate Python process that runs user-supplied jq.

Started by `tether.sandbox.pool` as `python -m tether.sandbox.worker`. It reads jobs from
stdin and writes results to the stdout it was started with, each as a frame: 8 bytes of
big-endian length, then a pickle. It imports only pure code (tether.core) and holds no
credentials, client or file handle of the controller; a job that loops or allocates
without end is stopped from outside (the parent kills this process), never from within.

Jobs: ("compare", desired, live, predicted, ignore_specs, strict) -> AppDiff;
("health", objects, health_rule_specs) -> list[ResourceHealth | None].
Answers: ("ok", value) or ("error", message, hint). A failure of the worker's own making
is reported as an error answer, so the parent never sees a traceback.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

HEADER = struct.Struct(">Q")


def read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    data = stream.read(size)
    return data if len(data) == size else None


def write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def _compare(
    desired: Sequence[dict[str, Any]],
    live: Mapping[Any, dict[str, Any]],
    predicted: Mapping[Any, dict[str, Any]],
    ignore_specs: Sequence[Mapping[str, Any]],
    strict_manual_edits: bool = False,
) -> Any:
    from tether.core.diff import compare_app
    from tether.core.ignore import parse_ignore_rules

    rules = parse_ignore_rules(ignore_specs)
    return compare_app(desired, live, predicted, rules, strict_manual_edits=strict_manual_edits)


def _health(objects: Sequence[dict[str, Any]], rule_specs: Sequence[Mapping[str, Any]]) -> Any:
    from tether.core.health import assess_health, parse_health_rules

    rules = parse_health_rules(rule_specs, where="health rules")
    return [assess_health(obj, rules) for obj in objects]


def _takeover(*args: Any) -> Any:
    from tether.core.managers import takeover_for

    return takeover_for(*args)


def handle(job: tuple[Any, ...]) -> tuple[Any, ...]:
    from tether.errors import TetherError

    try:
        if job[0] == "compare":
            return ("ok", _compare(*job[1:]))
        if job[0] == "health":
            return ("ok", _health(*job[1:]))
        if job[0] == "takeover":
            return ("ok", _takeover(*job[1:]))
        if job[0] == "ping":
            return ("ok", "pong")
        return ("error", f"unknown job {job[0]!r}", None)
    except TetherError as exc:
        return ("error", exc.message, exc.hint)
    except MemoryError:
        return ("error", "evaluation ran out of memory", None)
    except RecursionError:
        return ("error", "evaluation nested too deeply", None)
    except Exception as exc:  # the job's input, not tether, is at fault: say what failed
        return ("error", f"evaluation failed: {type(exc).__name__}", None)


def main() -> None:
    # Frames go to the stdout this process was given; anything else that prints (jq's
    # `debug`, a stray print) lands on stderr and cannot corrupt the protocol.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    inp = sys.stdin.buffer
    # Import the evaluation code before the first job: its cost is the start-up's.
    import tether.core.diff
    import tether.core.health  # noqa: F401

    while True:
        frame = read_frame(inp)
        if frame is None:
            return  # the parent closed the pipe: done
        try:
            job = pickle.loads(frame)
            answer = handle(job)
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            data = pickle.dumps(("error", f"evaluation failed: {type(exc).__name__}", None))
        write_frame(out, data)


if __name__ == "__main__":
    main()
