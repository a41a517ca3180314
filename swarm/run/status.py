"""A run's state read back from its records: result.json when it ended, events.jsonl while it runs.

A run with no end recorded whose process (run.json's `pid`) is gone was
killed: its state reads `interrupted`, not `running`, and so do the subtasks
it was running.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from swarm.model.usage import Usage
from swarm.run.events import TURN, EventFold
from swarm.run.records import RunRecords
from swarm.run.result import RunResult
from swarm.run.spend import planner_usage


def process_alive(pid: Any) -> bool | None:
    """Whether `pid` is a live swarm (Python) process; None when unknown (no pid recorded)."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, though perhaps not ours
    # A pid can be reused once its process is gone: a live pid that is not a Python process is not the run.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"python" in cmdline or b"swarm" in cmdline


@dataclass
class RunStatus:
    """A run's result (or what its events say so far) and whether it is still going."""

    result: RunResult
    live: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "live": self.live}


def pass_usage(events: Iterable[dict[str, Any]], planned: Iterable[str]) -> Usage:
    """The tokens and cost of the agents outside the plan (the synthesizer, the resolvers), from their turns."""
    planned = set(planned)
    total = Usage()
    for event in events:
        if event.get("type") == TURN and event.get("subtask") not in planned:
            total.add(Usage.from_dict(event.get("usage")))
    return total


def usage_parts(records: RunRecords, result: RunResult) -> dict[str, Usage]:
    """The run's total told apart: each subtask, the synthesis pass, and the rest (the planner's calls).

    The parts add up to `result.usage`, the total every display shows.
    """
    parts = {st.id: st.usage for st in result.subtasks}
    parts["synthesis"] = pass_usage(records.events(), parts)
    told = Usage()
    for usage in parts.values():
        told.add(usage)
    parts["planner"] = result.usage.minus(told)
    return parts


def run_status(records: RunRecords) -> RunStatus:
    """The state of a run and of each subtask, whether the run ended, runs, or was killed."""
    result = RunResult.read(records)
    if result is not None:
        return RunStatus(result, live=False)
    plan = records.read_json("plan.json") or {"subtasks": []}
    fold = EventFold(records.run_id, [s["id"] for s in plan["subtasks"]])
    events = records.events()
    for event in events:
        fold.feed(event)
    result = fold.result()
    # While it runs, the total is the agents' and the synthesis pass's turns so far, as the live table adds them.
    result.usage.add(pass_usage(events, fold.subtasks))
    result.usage.add(planner_usage(records))  # and the planner's (swarm.run.spend)
    pid = (records.read_json("run.json") or {}).get("pid")
    if result.state == "running" and process_alive(pid) is False:
        # Killed: no end was recorded, and its process is gone.
        result.state = "interrupted"
        result.stop_reason = f"its process {pid} is gone (killed?); `swarm resume {records.run_id}` continues it"
        for st in result.subtasks:
            if st.state in ("running", "retrying"):
                st.state = "interrupted"
        return RunStatus(result, live=False)
    return RunStatus(result, live=True)
