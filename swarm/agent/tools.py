"""The model-facing tools of one worktree: read, write, edit, glob, grep, bash.

The file tools are the SDK's agent toolset (`anthropic.lib.tools.agent_toolset`),
which resolves every path, symlinks included, and refuses anything outside the
worktree. They do blocking I/O (and `grep` walks files in pure Python when
`rg` is missing), so each call runs on a worker thread to keep every other
agent's event loop moving.

`bash` keeps the SDK's name and input fields but is swarm's own: each command
runs in a fresh shell in its own process group, inside a bubblewrap sandbox
where one works (writes confined to the worktree, no network), with a scrubbed
environment, and everything it started is killed when it returns. So no shell
outlives the agent, and no background job either.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from anthropic.lib.tools import ToolError, beta_async_tool
from anthropic.lib.tools.agent_toolset import (
    AgentToolContext,
    beta_edit_tool,
    beta_glob_tool,
    beta_grep_tool,
    beta_read_tool,
    beta_write_tool,
)
from anthropic.types.beta import BetaManagedAgentsAgentToolset20260401BashInput

from swarm.env.shell import DEFAULT_TIMEOUT, run_shell

__all__ = ["Toolbox", "ToolOutcome"]



def _bash_tool(workdir: Path, env: dict[str, str], sandbox: bool) -> Any:
    async def bash(command: Optional[str] = None, restart: Optional[bool] = None,
                   timeout_ms: Optional[int] = None) -> str:
        """Run a shell command in the worktree and return its combined output.

        Each call starts a fresh shell in the worktree root: `cd` and variables
        do not carry over, and background jobs are stopped when the call returns.
        """
        if restart and not command:
            return "each command already runs in a fresh shell; nothing to restart"
        if not command:
            raise ToolError("bash: command is required")
        timeout = timeout_ms / 1000.0 if timeout_ms else DEFAULT_TIMEOUT
        result = await run_shell(command, workdir, env, timeout, sandbox=sandbox)
        if result.timed_out:
            raise ToolError(f"bash: command timed out after {timeout:g}s")
        if result.exit_code != 0:
            raise ToolError(f"{result.output}\n[exit code {result.exit_code}]".lstrip())
        return result.output

    return beta_async_tool(name="bash", input_schema=BetaManagedAgentsAgentToolset20260401BashInput)(bash)


@dataclass
class ToolOutcome:
    """What goes back to the model as one tool_result."""

    content: str | list[Any]
    is_error: bool


class Toolbox:
    """The tools of one worktree, with stable definitions (identical for every agent of a run)."""

    def __init__(self, workdir: Path, env: dict[str, str], *, sandbox: bool = True) -> None:
        self.workdir = workdir.resolve()
        ctx = AgentToolContext(workdir=str(self.workdir), env=env)
        file_tools = [beta_read_tool(ctx), beta_write_tool(ctx), beta_edit_tool(ctx),
                      beta_glob_tool(ctx), beta_grep_tool(ctx)]
        self._file_tools = {tool.name: tool for tool in file_tools}
        self._bash = _bash_tool(self.workdir, env, sandbox)
        self._tools = {**self._file_tools, "bash": self._bash}

    def definitions(self) -> list[dict[str, Any]]:
        return [dict(tool.to_dict()) for tool in self._tools.values()]

    def _relative(self, text: str) -> str:
        # glob and grep answer with absolute paths; the model (and the transcript) get worktree-relative ones.
        return text.replace(str(self.workdir) + os.sep, "")

    async def call(self, name: str, tool_input: Any) -> ToolOutcome:
        """Run one tool; any failure becomes an error result for the model, never a crash."""
        tool = self._tools.get(name)
        if tool is None:
            return ToolOutcome(f"unknown tool {name!r}; available: {', '.join(self._tools)}", True)
        try:
            if name in self._file_tools:
                result = await asyncio.to_thread(asyncio.run, tool.call(tool_input))
            else:
                result = await tool.call(tool_input)
        except ToolError as e:
            content = e.content
            return ToolOutcome(self._relative(content) if isinstance(content, str) else content, True)
        except Exception as e:  # a tool bug or bad input is data for the model
            cause = f": {e.__cause__}" if e.__cause__ else ""
            return ToolOutcome(f"{name}: {e}{cause}", True)
        if isinstance(result, str):
            result = self._relative(result)
        return ToolOutcome(result, False)
