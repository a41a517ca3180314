"""Textual conflicts: branches `git merge-tree` could not merge, as findings."""

from __future__ import annotations

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding

KIND = "conflict"


def check(ctx: CheckContext) -> list[Finding]:
    """One finding per conflicted file, naming every subtask involved."""
    findings = []
    for c in ctx.conflicts:
        left_out = c.subtasks[-1] if c.subtasks else "a subtask"
        others = " and ".join(c.subtasks[:-1]) or "earlier merges"
        state = "resolved" if c.resolved else f"{left_out} was left out of the merged branch"
        findings.append(Finding(KIND, list(c.subtasks), [c.file],
                                f"{c.file}: {left_out} conflicts with {others} (the same lines changed); {state}",
                                severity="warning" if c.resolved else "error"))
    return findings
