"""Where a subtask's workspace lives: the executor seam.

The coordinator hands an executor a subtask's branch and start commit and gets
back a `Workspace`: the tools an agent calls (or a shell for a command
subtask) and a way to commit what was done onto the subtask's branch in the
user's repository. Nothing else in a run knows which executor made it: the
agent loop, its model calls, records, merge, checks and synthesis are the same.

    local   a worktree of the user's repository on this machine (the default), from the pool
            of reused worktrees (swarm.env.pool) and prepared by the worktree recipe (swarm.env.recipe)
    ray     a repository on a Ray cluster node (swarm/run/ray_executor.py)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

from swarm.agent.tools import Toolbox, ToolOutcome, tool_definitions
from swarm.config import RunOptions
from swarm.env.sandbox import Sandbox, sandbox_available
from swarm.env.shell import ShellResult, run_shell
from swarm.env.pool import PoolSlot, WorktreePool
from swarm.env.ports import ports_folder
from swarm.env.prepare import prepare_worktree
from swarm.env.python import python_env
from swarm.env.recipe import WorktreeRecipe, load_recipe
from swarm.env.sparse import SparseTools, count_tracked, sparse_patterns, wants_sparse
from swarm.git.repo import GitRepo
from swarm.git.snapshot import Snapshots
from swarm.plan.spec import Plan
from swarm.run import events
from swarm.run.records import RunRecords


class Tools(Protocol):
    """What the agent loop needs of its tools."""

    def definitions(self) -> list[dict[str, Any]]: ...

    async def call(self, name: str, tool_input: Any) -> ToolOutcome: ...


class OpeningTools:
    """An agent's tools while its workspace is still being made: its first model call need not wait.

    The definitions are known without a worktree; a tool call waits for the workspace (and fails the
    subtask with the workspace's error, a failed `setup` say, when it could not be made).
    """

    def __init__(self, opening: "asyncio.Task[Workspace]") -> None:
        self._opening = opening

    def definitions(self) -> list[dict[str, Any]]:
        return [dict(d) for d in tool_definitions()]

    async def call(self, name: str, tool_input: Any) -> ToolOutcome:
        workspace = await asyncio.shield(self._opening)  # a cancelled call leaves the opening to its owner
        return await workspace.tools.call(name, tool_input)


class Workspace(Protocol):
    """One subtask's place to work, wherever it is."""

    tools: Tools

    async def run_command(self, command: str, timeout: float) -> ShellResult: ...

    async def commit(self, message: str) -> str | None:
        """Commit every change on the subtask's branch (in the user's repository); None when nothing changed."""
        ...

    async def close(self) -> None: ...


class Executor(Protocol):
    """Opens workspaces; `name` is what the run's first line and result.json say."""

    name: str

    async def open(self, subtask_id: str, branch: str, start_commit: str, path: Path,
                   env: dict[str, str]) -> Workspace: ...

    async def shutdown(self) -> None: ...


class SnapshotTools:
    """A workspace's tools, each call through its `Snapshots` (swarm.git.snapshot): staged between rounds."""

    def __init__(self, tools: Tools, snapshots: Snapshots) -> None:
        self.tools = tools
        self.snapshots = snapshots

    def definitions(self) -> list[dict[str, Any]]:
        return self.tools.definitions()

    async def call(self, name: str, tool_input: Any) -> ToolOutcome:
        return await self.snapshots.call(name, lambda: self.tools.call(name, tool_input))


class LocalWorkspace:
    """A worktree of the user's repository, checked out on the subtask's branch, made a dev environment."""

    def __init__(self, repo: GitRepo, path: Path, env: dict[str, str],
                 on_close: Callable[[], Awaitable[None]] | None = None, *, start: str | None = None) -> None:
        """With `start` (the commit it is on), the worktree is staged while its agent waits for the model."""
        self.repo = repo
        self.path = path
        self.env = env
        self.tools: Tools = Toolbox(path, env)
        self._on_close = on_close
        self.committed = False
        self.snapshots = Snapshots(repo, path, start, trusted=sandbox_available) if start else None

    async def run_command(self, command: str, timeout: float) -> ShellResult:
        # Sandboxed like setup and the agents' shell: the worktree holds what agents wrote (and a pooled
        # slot what earlier agents left in ignored files), which must not run with the user's rights.
        return await run_shell(command, self.path, self.env, timeout, sandbox=Sandbox(self.path))

    async def commit(self, message: str) -> str | None:
        self.committed = False
        if self.snapshots is not None:
            commit = await self.snapshots.commit(message)
        else:
            commit = await self.repo.commit_all(self.path, message)
        self.committed = True  # everything in the worktree is in a commit now (or there was nothing)
        return commit

    async def close(self) -> None:
        """Give back the ports (and the pool slot); the worktree's branch keeps the subtask's commit."""
        if self.snapshots is not None:
            await self.snapshots.stop()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close()


class LocalExecutor:
    """Subtasks as asyncio tasks on this machine, each in its own worktree, prepared by the worktree recipe.

    `records` (the run's) receive the output of `setup` commands; `recipe` defaults to the repository's
    `[tool.swarm.worktree]` (swarm.env.recipe).
    """

    name = "local"

    def __init__(self, repo: GitRepo, *, records: RunRecords | None = None, recipe: WorktreeRecipe | None = None,
                 pool: WorktreePool | None = None, plan: Plan | None = None, sparse: str = "off",
                 sparse_threshold: int = 5000) -> None:
        self.repo = repo
        self.records = records
        self._recipe = recipe
        self.pool = pool
        self.plan = plan
        self.sparse = sparse
        self.sparse_threshold = sparse_threshold
        self._tracked: dict[str, tuple[int, list[str]]] = {}

    async def _sparse_patterns(self, subtask_id: str, start: str) -> list[str] | None:
        """The sparse set of the subtask's worktree, or None for a full checkout (swarm.env.sparse)."""
        if self.plan is None or self.sparse == "off":
            return None
        if start not in self._tracked:
            self._tracked[start] = await count_tracked(self.repo.runner, start)
        count, tracked = self._tracked[start]
        subtask = next((s for s in self.plan.subtasks if s.id == subtask_id), None)
        if subtask is None or not subtask.files or not wants_sparse(self.sparse, self.sparse_threshold, count):
            return None
        patterns = sparse_patterns(subtask.files, self.plan.shared, tracked)
        return None if patterns == ["/*"] else patterns

    @property
    def recipe(self) -> WorktreeRecipe:
        if self._recipe is None:
            self._recipe = load_recipe(self.repo.root)
        return self._recipe

    async def open(self, subtask_id: str, branch: str, start_commit: str, path: Path,
                   env: dict[str, str]) -> LocalWorkspace:
        sparse = await self._sparse_patterns(subtask_id, start_commit)
        slot = await self._take(subtask_id, branch, start_commit, path, sparse) if self.pool is not None else None
        where = slot.path if slot is not None else path
        if slot is None:
            await self.repo.worktrees.add(path, start_commit, branch=branch, sparse=sparse)
        try:
            python = await asyncio.to_thread(python_env, self.repo.root, env.get("PATH"))
            prepared = await prepare_worktree(
                self.recipe, python, source=self.repo.root, worktree=where, subtask=subtask_id, base_env=env,
                ports_dir=ports_folder(), stamp_dir=self.repo.worktrees.admin_dir(where),
                common_dir=self.repo.common_dir, log=lambda *a: self._log_setup(subtask_id, *a))
        except BaseException:
            if slot is not None:
                await self._give_back(slot, path)
            raise

        async def release() -> None:
            prepared.release()
            if slot is not None:
                await self._give_back(slot, path, workspace.committed)

        workspace = LocalWorkspace(self.repo, where, prepared.env, release, start=start_commit)
        if sparse:
            admin = self.repo.worktrees.admin_dir(where)
            assert admin is not None
            workspace.tools = SparseTools(workspace.tools, self.repo.in_worktree(where), admin, where.resolve(),
                                          self._tracked[start_commit][1])
        assert workspace.snapshots is not None
        workspace.tools = SnapshotTools(workspace.tools, workspace.snapshots)
        return workspace

    async def _take(self, subtask_id: str, branch: str, start: str, path: Path,
                    sparse: list[str] | None) -> PoolSlot:
        """A pool slot on `branch` at `start`; the run's path for the subtask links to it while it is held."""
        assert self.pool is not None
        if path.is_symlink():
            path.unlink()
        elif path.exists():  # a worktree of this subtask from before the pool (a resumed run)
            await self.repo.aremove_worktree(path)
        slot = self.pool.acquire()
        try:
            await slot.take(branch.split("/")[1] if branch.count("/") >= 2 else "pool", subtask_id, branch, start,
                            sparse)
        except BaseException:
            await slot.give_back()
            raise
        if slot.rescued and self.records is not None:
            self.records.event(events.SETUP, subtask=subtask_id, command="(pool)", exit_code=0, seconds=0,
                               detail=f"a dirty pool slot's edits were kept on {slot.rescued} before reuse")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(slot.path, target_is_directory=True)
        return slot

    async def _give_back(self, slot: PoolSlot, path: Path, committed: bool = False) -> None:
        if path.is_symlink():
            path.unlink()  # never left pointing at a slot another subtask takes next
        await slot.give_back(committed)

    def _log_setup(self, subtask_id: str, command: str, output: str, code: int, seconds: float) -> None:
        if self.records is None:
            return
        self.records.event(events.SETUP, subtask=subtask_id, command=command, exit_code=code,
                           seconds=round(seconds, 3))
        log = self.records.dir / "setup" / f"{subtask_id}.log"
        previous = log.read_text(encoding="utf-8") if log.exists() else ""
        self.records.write_text(f"setup/{subtask_id}.log", f"{previous}$ {command}\n{output}\n[exit {code}]\n")

    async def shutdown(self) -> None:
        return None


def local_executor(repo: GitRepo, records: RunRecords | None, options: RunOptions,
                   plan: Plan | None = None) -> LocalExecutor:
    """The local executor a run's settings ask for: pooled worktrees unless `worktree_pool` is off,
    sparse ones from each subtask's scope past `sparse_threshold` files (`sparse`)."""
    pool = WorktreePool(repo, options.pool_disk_mb) if options.worktree_pool else None
    return LocalExecutor(repo, records=records, pool=pool, plan=plan, sparse=options.sparse,
                         sparse_threshold=options.sparse_threshold)


def make_executor(repo: GitRepo, options: RunOptions, *, records: RunRecords | None = None,
                  plan: Plan | None = None, hosts: int = 1) -> Executor:
    """The executor the `executor` setting names; on a cluster, `hosts` workspace hosts are started at once."""
    if options.executor == "ray":
        from swarm.run.ray_executor import RayExecutor  # Ray itself is imported there, as an optional extra

        executor = RayExecutor(repo, options.ray_address)
        executor.prestart(hosts)
        return executor
    return local_executor(repo, records, options, plan)
