"""Continuing a subtask from its work so far (resume after Ctrl-C or a kill, a retry after a failure).

The work-in-progress commit stays on the subtask's branch: the next attempt's
worktree starts at it (so the final commit is its child and nothing is
orphaned), and the agent is told what it did before instead of starting over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarm.agent.prompts import render
from swarm.git.repo import GitRepo


@dataclass(frozen=True)
class Carry:
    """Where an attempt continues from, and what its agent is told about it."""

    commit: str
    note: str


def carry_note(state: str, commit: str, files: list[str], summary: str) -> str:
    return render("worker_resume", state=state, commit=commit[:10], files=", ".join(files) or "(none)",
                  summary=summary.strip() or "(none)")


async def carry_from_record(repo: GitRepo, branch: str, record: dict[str, Any]) -> Carry | None:
    """An unfinished subtask of an earlier session, when its branch still ends at the commit it left."""
    commit, start = record.get("commit"), record.get("start_commit")
    if record.get("state") == "done" or not commit or not start or commit == start:
        return None
    head = (await repo.runner.arun("rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False)).text
    if head.strip() != commit:
        return None
    return Carry(commit, carry_note(record.get("state") or "stopped", commit, record.get("files_changed") or [],
                                    record.get("summary") or record.get("error") or ""))
