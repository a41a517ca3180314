"""The live state of each subtask of a run: its result.json record, plus where its worktree is."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from swarm.run.result import SubtaskResult


@dataclass
class SubtaskRun(SubtaskResult):
    """The live state of one subtask; `to_dict` is its record in result.json."""

    worktree: Path = Path()

    def restore(self, record: SubtaskResult) -> None:
        """Take back a finished subtask's record from an earlier session of the run."""
        self.state, self.commit, self.start_commit = "done", record.commit, record.start_commit
        self.files_changed = list(record.files_changed)
        self.summary = record.summary
        self.usage = record.usage
        self.turns, self.seconds = record.turns, record.seconds
        self.attempts = record.attempts or 1


@dataclass
class PhaseMarks:
    """When each phase of a run (worktrees, agents) first and last did something: result.json's timings."""

    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.monotonic())
        self.marks[name + "_end"] = time.monotonic()

    def span(self, name: str, started: float) -> float:
        """Seconds from the phase's first mark (the run's start, for worktrees) to its last."""
        if name not in self.marks:
            return 0.0
        first = min(self.marks[name], started) if name == "worktrees" else self.marks[name]
        return round(self.marks[name + "_end"] - first, 3)
