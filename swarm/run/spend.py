"""What a run has spent, across all its sessions: the first `swarm run`, every `swarm resume` and `swarm continue`.

A session's own objects (the coordinator's subtask states, its synthesizer) know
only what that session spent, and a killed session leaves no result at all. Its
events do not go away: every model turn of every agent (workers, resolvers,
synthesizers) is a `turn` event with its usage in events.jsonl, which each
session appends to, and the planner's usage is kept in run.json. So the run's
cost is read from there: the planner plus every turn ever recorded. A session
begins at its `run` event with state `running`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from swarm.model.usage import Usage
from swarm.run.events import RUN, TURN
from swarm.run.records import RunRecords
from swarm.run.result import RunResult

PLANNER_KEY = "planner_usage"  # in run.json, and in result.json


def planner_usage(records: RunRecords) -> Usage:
    """The planner's tokens and cost (nothing for a run of a plan file)."""
    return Usage.from_dict((records.read_json("run.json") or {}).get(PLANNER_KEY))


@dataclass
class Spend:
    """A run's spend so far: in all, by subtask (its every attempt of every session), and by session."""

    planner: Usage = field(default_factory=Usage)
    subtasks: dict[str, Usage] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> Usage:
        total = Usage()  # the planner is in the first session's
        for session in self.sessions:
            total.add(session["usage"])
        return total

    def of(self, subtask_id: str) -> Usage:
        """A copy of what the subtask has spent so far (a live state adds to it)."""
        return Usage.from_dict(self.subtasks.get(subtask_id, Usage()).to_dict())

    def by_session(self) -> list[dict[str, Any]]:
        """result.json's `usage_by_session`: each session's kind, start and usage (the planner's in the first)."""
        return [{**s, "usage": s["usage"].to_dict()} for s in self.sessions]


def spend_of(events: Iterable[dict[str, Any]], planner: Usage | None = None) -> Spend:
    """Fold a run's events into its spend; `planner` is the planner's usage (run.json's)."""
    spend = Spend(planner=planner or Usage())
    followup = False
    for event in events:
        kind = event.get("type")
        if kind == "followup":
            followup = True
        elif kind == RUN and event.get("state") == "running":
            first = not spend.sessions
            spend.sessions.append({"session": len(spend.sessions) + 1, "ts": event.get("ts"),
                                   "kind": "run" if first else "continue" if followup else "resume",
                                   "usage": Usage()})
            if first:
                spend.sessions[0]["usage"].add(spend.planner)
            followup = False
        elif kind == TURN:
            usage = Usage.from_dict(event.get("usage"))
            if not spend.sessions:  # records older than the session marks: one session
                spend.sessions.append({"session": 1, "ts": event.get("ts"), "kind": "run", "usage": Usage()})
            spend.sessions[-1]["usage"].add(usage)
            sid = event.get("subtask")
            if isinstance(sid, str):
                spend.subtasks.setdefault(sid, Usage()).add(usage)
    if spend.planner.tokens and not spend.sessions:
        spend.sessions.append({"session": 1, "ts": None, "kind": "run", "usage": Usage.from_dict(
            spend.planner.to_dict())})
    return spend


def run_spend(records: RunRecords) -> Spend:
    """Everything spent on the run so far, from its records."""
    return spend_of(records.events(), planner_usage(records))


def settle_usage(result: RunResult, records: RunRecords) -> None:
    """Set `result`'s usage to everything spent on the run (every session's), with the planner's and each
    session's apart."""
    spend = run_spend(records)
    result.usage, result.planner_usage, result.usage_by_session = spend.total, spend.planner, spend.by_session()
