"""The runs of a repository, newest first, as `swarm runs` lists them."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from swarm.run.records import RunRecords, list_runs
from swarm.run.status import run_status


@dataclass
class RunSummary:
    """One line of `swarm runs`."""

    run_id: str
    task: str
    state: str
    started: float | None
    subtasks: int
    done: int
    cost_usd: float
    applied: bool
    tokens_in: int = 0
    tokens_cached: int = 0
    tokens_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _started(records: RunRecords, info: dict[str, Any]) -> float | None:
    text = info.get("started")
    if text:
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            pass
    plan = records.dir / "plan.json"
    return plan.stat().st_mtime if plan.exists() else None


def summarize(records: RunRecords) -> RunSummary:
    """What one run is: from result.json when it ended, its events while it runs or after a kill."""
    info = records.read_json("run.json") or {}
    plan = records.read_json("plan.json") or {}
    result = run_status(records).result
    return RunSummary(
        run_id=records.run_id, task=str(result.task or plan.get("task") or ""), state=result.state,
        started=_started(records, info), subtasks=len(result.subtasks),
        done=sum(1 for s in result.subtasks if s.state == "done"), cost_usd=float(result.usage.cost_usd),
        applied=records.read_json("applied.json") is not None, tokens_in=result.usage.tokens_in,
        tokens_cached=result.usage.tokens_cached, tokens_out=result.usage.output_tokens)


def list_summaries(root: Path) -> list[RunSummary]:
    """Every run of the repository at `root`, newest first."""
    return [summarize(RunRecords(root, rid)) for rid in reversed(list_runs(root))]


def age(started: float | None, now: float | None = None) -> str:
    """'3m', '2h', '5d': how long ago a run started."""
    if started is None:
        return "?"
    seconds = max(0.0, (now or time.time()) - started)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"

