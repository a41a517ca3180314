"""Where a subtask's workspace lives: the executor seam.

The coordinator hands an executor a subtask's branch and start commit and gets
back a `Workspace`: the tools an agent calls (or a shell for a command
subtask) and a way to commit what was done onto the subtask's branch in the
user's repository. Nothing else in a run knows which executor made it: the
agent loop, its model calls, records, merge, checks and synthesis are the same.

    local   a worktree of the user's repository on this machine (the default)
    ray     a repository on a Ray cluster node (swarm/run/ray_executor.py)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from swarm.agent.tools import Toolbox, ToolOutcome
from swarm.env.shell import ShellResult, run_shell
from swarm.git.repo import GitRepo


class Tools(Protocol):
    """What the agent loop needs of its tools."""

    def definitions(self) -> list[dict[str, Any]]: ...

    async def call(self, name: str, tool_input: Any) -> ToolOutcome: ...


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


class LocalWorkspace:
    """A worktree of the user's repository, checked out on the subtask's branch."""

    def __init__(self, repo: GitRepo, path: Path, env: dict[str, str]) -> None:
        self.repo = repo
        self.path = path
        self.env = env
        self.tools: Tools = Toolbox(path, env)

    async def run_command(self, command: str, timeout: float) -> ShellResult:
        return await run_shell(command, self.path, self.env, timeout)

    async def commit(self, message: str) -> str | None:
        return await self.repo.commit_all(self.path, message)

    async def close(self) -> None:
        """The worktree stays: review, resume and `swarm clean` need it."""


class LocalExecutor:
    """Subtasks as asyncio tasks on this machine, each in its own worktree."""

    name = "local"

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo

    async def open(self, subtask_id: str, branch: str, start_commit: str, path: Path,
                   env: dict[str, str]) -> LocalWorkspace:
        await self.repo.add_worktree(path, branch, start_commit)
        return LocalWorkspace(self.repo, path, env)

    async def shutdown(self) -> None:
        return None


def make_executor(repo: GitRepo, name: str, *, address: str | None = None, hosts: int = 1) -> Executor:
    """The executor the `executor` setting names; `hosts` workspace hosts are started at once on a cluster."""
    if name == "ray":
        from swarm.run.ray_executor import RayExecutor  # Ray itself is imported there, as an optional extra

        executor = RayExecutor(repo, address)
        executor.prestart(hosts)
        return executor
    return LocalExecutor(repo)
