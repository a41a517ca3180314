"""The first message of a subtask's worker agent: its subtask, its siblings, and any work it did before."""

from __future__ import annotations

from swarm.agent.prompts import render
from swarm.plan.spec import Plan, Subtask


def siblings(plan: Plan, subtask: Subtask) -> str:
    lines = [f"- {s.id}: {s.title or s.instructions[:80]} (files: {', '.join(s.files) or 'unspecified'})"
             for s in plan.subtasks if s.id != subtask.id]
    return "\n".join(lines) or "(none)"


def first_message(plan: Plan, subtask: Subtask, carried: str | None = None) -> str:
    """DESIGN.md's worker message: it begins with `Subtask: <id>`; a note on earlier work comes last."""
    first = render("worker_task", id=subtask.id, title=subtask.title or subtask.id, task=plan.task,
                   shared=plan.shared or "(none)", instructions=subtask.instructions or subtask.title,
                   files=", ".join(subtask.files) or "(not restricted)", siblings=siblings(plan, subtask))
    return f"{first.rstrip()}\n\n{carried}" if carried else first
