"""A run's state read back from its records: result.json when it ended, events.jsonl while it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarm.run.events import EventFold
from swarm.run.records import RunRecords
from swarm.run.result import RunResult


@dataclass
class RunStatus:
    """A run's result (or what its events say so far) and whether it is still going."""

    result: RunResult
    live: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "live": self.live}


def run_status(records: RunRecords) -> RunStatus:
    """The state of a run and of each subtask, whether the run ended, runs, or was killed."""
    result = RunResult.read(records)
    if result is not None:
        return RunStatus(result, live=False)
    plan = records.read_json("plan.json") or {"subtasks": []}
    fold = EventFold(records.run_id, [s["id"] for s in plan["subtasks"]])
    for event in records.events():
        fold.feed(event)
    return RunStatus(fold.result(), live=True)
