"""Facts about the swarm process itself, for the records: which process ran a run, how it started, what
memory it took."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["process_facts"]

WARM_START = False  # True in a command forked by the warm process (swarm.warm sets it)


def process_facts() -> dict[str, Any]:
    """The process running now: its pid, whether the warm process served it, its peak resident memory so far."""
    import resource

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"pid": os.getpid(), "warm_start": WARM_START, "peak_rss_mb": round(peak_kb / 1024, 1)}
