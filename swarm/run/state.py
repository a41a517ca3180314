"""The live state of each subtask of a run (what result.json shows of it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm.model.usage import Usage


@dataclass
class SubtaskRun:
    """The live state of one subtask; `to_dict` is its record in result.json."""

    id: str
    branch: str
    worktree: Path
    state: str = "queued"
    start_commit: str | None = None
    commit: str | None = None
    files_changed: list[str] = field(default_factory=list)
    merged: bool = False
    summary: str = ""
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    turns: int = 0
    seconds: float = 0.0
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "branch": self.branch, "commit": self.commit,
                "start_commit": self.start_commit, "worktree": str(self.worktree),
                "files_changed": self.files_changed, "merged": self.merged, "summary": self.summary,
                "error": self.error, "usage": self.usage.to_dict(), "turns": self.turns,
                "seconds": round(self.seconds, 2), "attempts": self.attempts}

    def restore(self, record: dict[str, Any]) -> None:
        """Take back a finished subtask's record from an earlier session of the run."""
        self.state, self.commit, self.start_commit = "done", record["commit"], record.get("start_commit")
        self.files_changed = list(record.get("files_changed", []))
        self.summary = record.get("summary", "")
        self.usage = Usage.from_dict(record.get("usage"))
        self.turns, self.seconds = record.get("turns", 0), record.get("seconds", 0.0)
        self.attempts = record.get("attempts", 1)
