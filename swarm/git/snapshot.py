"""A worktree staged while its agent waits for the model: the commit at the agent's end is one object.

An agent's tools change its worktree only during a tool call (a shell's
background jobs end with the call: the sandbox's PID namespace goes with it).
So once a round of tool calls that may write is over and the worktree has
been quiet for `delay` seconds, the agent is waiting for its next reply, and
the worktree is staged then: `git add -A`, its tree, and the diff from where
the subtask began. When the agent ends without another change, its commit is
that tree with the subtask's message, written by swarm (swarm.git.objects),
and the branch is moved to it: one git process instead of four, none of them
a walk of the worktree. Any tool call that may write makes the staged state
stale, and a stale (or failed) one is never used: the commit is then made the
usual way, from the worktree as it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from swarm.errors import GitError
from swarm.git.repo import GitRepo, Staged

__all__ = ["READ_ONLY", "Snapshots"]

# Tools that never change a worktree's content (a sparse worktree may check a tracked file out for them:
# its content is the commit's, so the tree is the same).
READ_ONLY = frozenset({"read", "glob", "grep"})


@dataclass
class _Snapshot:
    generation: int
    staged: Staged
    tree: str
    branch_ref: str
    head: str


class Snapshots:
    """Stages one worktree between its agent's tool rounds; commits from the staged state when it still holds."""

    def __init__(self, repo: GitRepo, worktree: Path, start: str, *, delay: float = 0.5,
                 trusted: Callable[[], bool] = lambda: True) -> None:
        """`start`: the commit the subtask's diff is measured from. `trusted()`: whether nothing can change the
        worktree outside a tool call (False for an unconfined shell, whose background jobs may outlive it)."""
        self.repo = repo
        self.worktree = worktree
        self.start = start
        self.delay = delay
        self._trusted = trusted
        self.generation = 0
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None
        self._snapshot: _Snapshot | None = None
        self._shell_ran = False

    async def call(self, name: str, run: Callable[[], Awaitable[Any]]) -> Any:
        """Run one tool call (`run`), never alongside a staging (both use the index)."""
        self._cancel_timer()
        if self._running is not None:
            await asyncio.shield(self._running)
        writes = name not in READ_ONLY
        self._shell_ran |= name == "bash"
        async with self._lock:
            if writes:
                self.generation += 1
            try:
                return await run()
            finally:
                if writes:
                    self.generation += 1
                if self._snapshot is None or self._snapshot.generation != self.generation:
                    self._schedule()

    def _schedule(self) -> None:
        self._cancel_timer()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self.delay, self._fire, self.generation)

    async def stop(self) -> None:
        """No staging after this (the worktree is given back); one under way is waited for."""
        self._cancel_timer()
        self.generation += 1
        if self._running is not None:
            await asyncio.shield(self._running)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self, generation: int) -> None:
        self._timer = None
        if generation == self.generation and self._running is None:
            self._running = asyncio.get_running_loop().create_task(self._stage(generation))

    async def _stage(self, generation: int) -> None:
        try:
            async with self._lock:
                if generation != self.generation:
                    return
                staged = await self.repo.stage_all(self.worktree)
                where = self.repo.in_worktree(self.worktree)
                head = self.repo.head_ref(where)
                if head is None:
                    return
                tree = (await where.arun("write-tree")).text.strip()
                if tree != (await self.repo.trees([self.start]))[self.start]:
                    self.repo.remember_diff(self.start, tree, await self.repo.diff(self.start, tree))
                self._snapshot = _Snapshot(generation, staged, tree, *head)
        except (GitError, OSError):
            self._snapshot = None  # the commit is made from the worktree as it is
        finally:
            self._running = None

    async def commit(self, message: str) -> str | None:
        """Commit every change of the worktree on its branch (None when nothing changed): from the staged
        state when no tool changed anything since, else from the worktree as it is."""
        self._cancel_timer()
        if self._running is not None:
            await asyncio.shield(self._running)
        snap = self._snapshot
        writer = await self.repo.writer()
        usable = snap is not None and snap.generation == self.generation and writer is not None and \
            not (self._shell_ran and not self._trusted()) and \
            self.repo.head_ref(self.repo.in_worktree(self.worktree)) == (snap.branch_ref, snap.head)
        if not usable:
            return await self.repo.commit_all(self.worktree, message)
        assert snap is not None and writer is not None
        if snap.tree == (await self.repo.trees([snap.head]))[snap.head] and not snap.staged.tampered:
            return None
        commit = writer.commit(snap.tree, [snap.head], snap.staged.message(message))  # a small file
        await self.repo.runner.arun("update-ref", snap.branch_ref, commit, snap.head)
        self.repo.remember(commit, snap.tree)
        return commit
