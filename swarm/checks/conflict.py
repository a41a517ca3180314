"""Textual conflicts: branches `git merge-tree` could not merge, as findings.

A conflict the resolver could not settle says why its attempt was refused,
where that attempt is kept, and the two ways on: take the attempt
(`swarm review --keep resolver:FILE`) or resolve the file by hand
(`swarm review --resolve FILE`, edit, then `swarm review --keep hand:FILE`).
"""

from __future__ import annotations

import shlex

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding
from swarm.merge.fold import Conflict

KIND = "conflict"


def check(ctx: CheckContext) -> list[Finding]:
    """One finding per conflicted file, naming every subtask involved."""
    findings = []
    for c in ctx.conflicts:
        left_out = c.subtasks[-1] if c.subtasks else "a subtask"
        others = " and ".join(c.subtasks[:-1]) or "earlier merges"
        state = "resolved" if c.resolved else f"{left_out} was left out of the merged branch"
        extra = {} if c.resolved else {"resolve_by_hand": f"swarm review --resolve {shlex.quote(c.file)}"}
        message = f"{c.file}: {left_out} conflicts with {others} (the same lines changed); {state}"
        if not c.resolved:
            message += _ways_on(c)
        if c.rejected is not None:
            extra.update(rejected=c.rejected, attempt=c.attempt, attempt_branch=c.attempt_branch)
        findings.append(Finding(KIND, list(c.subtasks), [c.file], message,
                                severity="warning" if c.resolved else "error", extra=extra))
    return findings


def _ways_on(c: Conflict) -> str:
    """What the resolver tried and why it was refused; how to take its attempt or resolve by hand."""
    path = shlex.quote(c.file)
    text = ""
    if c.rejected is not None:
        text += f"; the resolver's attempt was refused ({c.rejected})"
        if c.attempt_branch:
            text += (f" and is kept on {c.attempt_branch} (`git show {c.attempt_branch}:{path}`); "
                     f"`swarm review --keep resolver:{path}` takes it")
    return text + (f"; to resolve it by hand: `swarm review --resolve {path}` makes a worktree with the "
                   f"conflict markers, then `swarm review --keep hand:{path}` takes your edit")
