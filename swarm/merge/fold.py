"""Folding subtask branches into one integration commit, in memory.

Each branch is merged with `git merge-tree --write-tree` onto the result so
far, in plan order; no working tree or index is touched. A branch that
conflicts is left out and reported with the files and the subtasks involved;
the others still merge.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from swarm.git.repo import GitRepo
from swarm.merge.disjoint import fold_disjoint


@dataclass
class Conflict:
    """A file two or more subtasks changed on the same lines; the last of `subtasks` is the one merged last.

    When a resolver tried and its result was refused, `rejected` says why and
    `attempt` is the commit (on the branch `attempt_branch`) holding what it left.
    """

    file: str
    subtasks: list[str]
    resolved: bool = False
    rejected: str | None = None
    attempt: str | None = None
    attempt_branch: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.file, "subtasks": self.subtasks, "resolved": self.resolved}
        if self.rejected is not None:
            data.update(rejected=self.rejected, attempt=self.attempt, attempt_branch=self.attempt_branch)
        return data


@dataclass
class Rejected:
    """A resolver's result that verification refused: why, and the commit keeping what it left."""

    reason: str
    attempt: str | None = None
    branch: str | None = None


@dataclass
class FoldResult:
    commit: str
    merged: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


Resolver = Callable[[str, str, str, list[str], list[str]], Awaitable["str | Rejected | None"]]


async def fold(repo: GitRepo, base: str, branches: list[tuple[str, str]],
               touched: dict[str, list[str]] | None = None, label: str = "swarm",
               resolve: Resolver | None = None) -> FoldResult:
    """Merge `(subtask_id, commit)` pairs onto `base` in order.

    `touched` maps subtask ids to the files they changed, to name which merged
    subtasks a conflict involves besides the one that could not merge. With
    `resolve(current, subtask, commit, files, others)`, a conflict is handed to
    a resolver first; the merge commit it returns is taken, and None (or a
    `Rejected` attempt, recorded on the conflicts) leaves the conflict reported
    and the subtask out.
    """
    touched = touched or {}
    result = FoldResult(commit=base)
    # A fast-forward merges to the subtask's own tree: only then is ancestry worth a git process.
    trees = await repo.trees(sorted({commit for _, commit in branches if commit != base} | {base}))
    writer = await repo.writer()
    if writer is not None and sum(commit != base for _, commit in branches) >= 2:
        fast = await asyncio.to_thread(fold_disjoint, repo.runner, writer, base, trees[base], branches, trees, label)
        if fast is not None:
            repo.remember(fast[0], fast[1])
            return FoldResult(commit=fast[0], merged=fast[2])
    for sid, commit in branches:
        if commit == base:
            result.merged.append(sid)
            continue
        outcome = await repo.merge_tree(result.commit, commit)
        if not outcome.clean:
            files = outcome.conflicted_files or ["(unknown file)"]
            conflicts = [Conflict(file=path, subtasks=[*(m for m in result.merged if path in touched.get(m, [])), sid])
                         for path in files]
            resolved = None
            if resolve is not None:
                others = sorted({s for c in conflicts for s in c.subtasks if s != sid})
                resolved = await resolve(result.commit, sid, commit, files, others)
            if isinstance(resolved, Rejected):
                for conflict in conflicts:
                    conflict.rejected = _reason_for(resolved.reason, conflict.file)
                    conflict.attempt, conflict.attempt_branch = resolved.attempt, resolved.branch
                resolved = None
            for conflict in conflicts:
                conflict.resolved = resolved is not None
            result.conflicts.extend(conflicts)
            if resolved is None:
                continue
            result.commit = resolved
            result.merged.append(sid)
            continue
        if outcome.tree == trees.get(commit) and await repo.is_ancestor(result.commit, commit):
            # Nothing to merge into: the integration moves up to this subtask's commit.
            result.commit = commit
        else:
            result.commit = await repo.commit_tree(outcome.tree, [result.commit, commit],
                                                   f"{label}: merge subtask {sid}")
        result.merged.append(sid)
    return result



def _reason_for(reason: str, path: str) -> str:
    """The parts of a rejection that are about `path` (all of it when none names it)."""
    parts = [p for p in reason.split("; ") if p.startswith(f"{path}:")]
    return "; ".join(parts) or reason
