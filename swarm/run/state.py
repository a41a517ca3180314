"""The live state of each subtask of a run: its result.json record, plus where its worktree is."""

from __future__ import annotations

from dataclasses import dataclass
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
