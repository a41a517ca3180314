"""Who broke a test the merge broke: the failing tests, run again on single branches and on pairs.

Blame by imports names a test's author and the modules it imports directly;
a test that fails because another subtask changed behaviour further down is
blamed on its author alone. Here the failing test ids run again (the test
command with the ids appended) on each subtask's branch alone, and, when no
branch alone fails them, on the in-memory merge of the test's author with
each other subtask: the branch, or the pair, whose combination fails them is
the cause. Runs go through the test check's runner (temporary worktrees),
two at a time.
"""

from __future__ import annotations

import asyncio
import posixpath
import shlex
from dataclasses import dataclass
from typing import Awaitable, Callable

from swarm.checks.context import CheckContext
from swarm.checks.model import TestOutcome

MAX_RUNS = 24  # a ceiling on extra test runs per regression, so a wide plan stays affordable
_PROSE = (".md", ".rst", ".txt", ".adoc")


@dataclass
class Blame:
    """Subtasks whose changes together break the tests, and how that was shown."""

    subtasks: list[str]
    how: str


def _code_changers(ctx: CheckContext) -> list[str]:
    """Subtasks that changed something other than prose: only they can change what a test sees."""
    return [c.id for c in ctx.changes
            if any(not posixpath.basename(p).lower().endswith(_PROSE) for p in c.paths())]


async def bisect(ctx: CheckContext, runner: Callable[..., Awaitable[TestOutcome]], command: str, timeout: float, ids: list[str],
                 authors: list[str]) -> Blame | None:
    """Run `ids` where needed and say which branch alone, or which pair, fails them (None: not shown)."""
    suspects = _code_changers(ctx)
    if not suspects:
        return None
    narrowed = command + " " + " ".join(shlex.quote(i) for i in ids)
    gate = asyncio.Semaphore(2)

    async def fails(commit: str) -> bool:
        async with gate:
            outcome: TestOutcome = await runner(ctx.repo, commit, narrowed, timeout)
        return bool(set(ids) & outcome.failed)

    singles = suspects[:MAX_RUNS]
    alone = await asyncio.gather(*(fails(ctx.change(s).commit) for s in singles))
    culprits = [s for s, bad in zip(singles, alone, strict=True) if bad]
    if culprits:
        return Blame(ctx.sort_ids(culprits), f"they fail on the branch of {', '.join(culprits)} alone")
    if len(suspects) == 2:  # the only pair is the merge itself, known to fail
        return Blame(ctx.sort_ids(suspects), f"they pass on {suspects[0]}'s and {suspects[1]}'s branches alone "
                     "and fail on their merge")
    firsts = [a for a in authors if a in suspects] or suspects
    pairs = [(a, b) for a in firsts for b in suspects if b != a][: max(MAX_RUNS - len(singles), 0)]
    commits = []
    for a, b in pairs:
        merge = await ctx.repo.merge_tree(ctx.change(a).commit, ctx.change(b).commit)
        commits.append(await ctx.repo.commit_tree(merge.tree, [ctx.change(a).commit, ctx.change(b).commit],
                                                  f"bisect {a}+{b}") if merge.clean else None)
    results = await asyncio.gather(*(fails(c) for c in commits if c is not None))
    it = iter(results)
    broken = [pair for pair, c in zip(pairs, commits, strict=True) if c is not None and next(it)]
    if not broken:
        return None
    ids_ = ctx.sort_ids({s for pair in broken for s in pair})
    shown = "; ".join(f"{a} + {b}" for a, b in broken)
    return Blame(ids_, f"they pass on every branch alone and fail on the merge of {shown}")
