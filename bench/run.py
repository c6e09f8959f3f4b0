"""`make bench`: run every benchmark; each prints its numbers and its ratio to a baseline."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    apply,
    cli_list,
    compare,
    dashboard,
    dr,
    drift_latency,
    fleet,
    manual_edits,
    notify_down,
    sync,
)

BENCHMARKS = [
    apply.main,
    compare.main,
    manual_edits.main,
    dashboard.main,
    sync.main,
    dr.main,
    drift_latency.main,
    notify_down.main,
    fleet.main,
    cli_list.main,
]

if __name__ == "__main__":
    for bench in BENCHMARKS:
        bench()
