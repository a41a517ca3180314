"""result.json as a typed record: `RunResult` writes it and reads it back; nothing else spells its keys.

DESIGN.md fixes the keys others rely on (more may be added). A live run builds
one from its subtask states; `status`, `review`, `apply`, the reports and the
demo read one back with `RunResult.read`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarm.errors import BudgetExceeded
from swarm.model.usage import Usage

if TYPE_CHECKING:
    from swarm.run.records import RunRecords

RESULT_FILE = "result.json"
END_STATES = ("done", "failed", "interrupted")


@dataclass
class SubtaskResult:
    """One subtask's entry in result.json's `subtasks`."""

    id: str
    branch: str = ""
    worktree: str | Path = ""
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
    # Only while a run goes (folded from events.jsonl): what it is doing now.
    detail: str = ""
    last_tool: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "state": self.state, "branch": self.branch, "commit": self.commit,
                "start_commit": self.start_commit, "worktree": str(self.worktree),
                "files_changed": list(self.files_changed), "merged": self.merged, "summary": self.summary,
                "error": self.error, "usage": self.usage.to_dict(), "turns": self.turns,
                "seconds": round(self.seconds, 2), "attempts": self.attempts}
        if self.detail:
            data["detail"] = self.detail
        if self.last_tool:
            data["last_tool"] = self.last_tool
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SubtaskResult":
        known = {f.name for f in fields(cls)} - {"usage", "files_changed"}
        return cls(**{k: v for k, v in data.items() if k in known}, usage=Usage.from_dict(data.get("usage")),
                   files_changed=list(data.get("files_changed") or []))


@dataclass
class RunResult:
    """result.json: how a run ended, each subtask's record, the merge, the checks and the synthesis."""

    run_id: str
    state: str
    base_commit: str = ""
    merged_branch: str = ""
    merged_commit: str | None = None
    subtasks: list[SubtaskResult] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    contradictions: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    timings: dict[str, float] = field(default_factory=dict)
    stop_reason: str | None = None
    task: str = ""
    on_failure: str | None = None
    max_cost: float | None = None
    finished: str | None = None
    model: str | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    synthesis: dict[str, Any] | None = None
    # `usage` is the run's whole spend, over all its sessions (swarm.run.spend); these tell it apart.
    planner_usage: Usage = field(default_factory=Usage)
    usage_by_session: list[dict[str, Any]] = field(default_factory=list)
    process: dict[str, Any] = field(default_factory=dict)  # the swarm process that ran it (process_facts)

    # -- reading ---------------------------------------------------------------------

    def subtask(self, subtask_id: str) -> SubtaskResult | None:
        return next((s for s in self.subtasks if s.id == subtask_id), None)

    @property
    def open_conflicts(self) -> list[dict[str, Any]]:
        return [c for c in self.conflicts if not c.get("resolved")]

    @property
    def stopped_by_ceiling(self) -> bool:
        """The run's --max-cost stopped it before every subtask was done (`swarm resume` continues it)."""
        return self.state != "done" and str(self.stop_reason or "").startswith(BudgetExceeded.PREFIX)

    @property
    def exit_code(self) -> int:
        """DESIGN.md's exit codes: 0 all merged, 1 a subtask failed or conflicted, 3 stopped by --max-cost,
        130 interrupted."""
        if self.stopped_by_ceiling:
            return 3
        if self.state == "interrupted":
            return 130
        return 0 if self.state == "done" and not self.open_conflicts else 1

    @property
    def synthesis_summary(self) -> str:
        return str((self.synthesis or {}).get("summary") or "")

    # -- the file --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "state": self.state, "stop_reason": self.stop_reason, "task": self.task,
                "base_commit": self.base_commit, "on_failure": self.on_failure, "max_cost": self.max_cost,
                "merged_branch": self.merged_branch, "merged_commit": self.merged_commit,
                "finished": self.finished, "model": self.model,
                "subtasks": [s.to_dict() for s in self.subtasks], "conflicts": self.conflicts,
                "findings": self.findings, "contradictions": self.contradictions, "usage": self.usage.to_dict(),
                "timings": self.timings, "checks": self.checks, "synthesis": self.synthesis,
                "planner_usage": self.planner_usage.to_dict(), "usage_by_session": self.usage_by_session,
                "process": self.process}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        known = {f.name for f in fields(cls)} - {"subtasks", "usage", "planner_usage"}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("merged_branch", f"swarm/{data['run_id']}/merged")
        for name in ("conflicts", "findings", "contradictions", "timings", "checks", "usage_by_session", "process"):
            if values.get(name) is None:
                values.pop(name, None)
        if not isinstance(values.get("synthesis"), (dict, type(None))):
            values["synthesis"] = None
        return cls(**values, subtasks=[SubtaskResult.from_dict(s) for s in data.get("subtasks", [])],
                   usage=Usage.from_dict(data.get("usage")), planner_usage=Usage.from_dict(data.get("planner_usage")))

    def write(self, records: "RunRecords") -> Path:
        return records.write_json(RESULT_FILE, self.to_dict())

    @classmethod
    def read(cls, records: "RunRecords") -> "RunResult | None":
        """The run's result.json, or None while the run goes (or when it was killed)."""
        data = records.read_json(RESULT_FILE)
        return None if data is None else cls.from_dict(data)

