"""The model-facing tools of one worktree: read, write, edit, glob, grep, bash.

The file tools are the SDK's agent toolset (`anthropic.lib.tools.agent_toolset`),
which resolves every path, symlinks included, and refuses anything outside the
worktree. They do blocking I/O (and `grep` walks files in pure Python when
`rg` is missing), so each call runs on a worker thread to keep every other
agent's event loop moving.

On top of the SDK's own confinement, swarm refuses (as a tool error) any path
with a `.git` component, since git metadata is swarm's, and any write or edit
through a hard link (the same file may live outside the worktree) or through
a symlink that resolves outside the worktree or into `.git`.

`bash` keeps the SDK's name and input fields but is swarm's own: each command
runs in a fresh shell in its own process group, inside the bubblewrap sandbox
(swarm.env.sandbox), with the allowlisted environment, and everything it
started is killed when it returns. So no shell outlives the agent, and no
background job either. Where no sandbox works, `bash` answers with a tool
error unless the user chose `--sandbox off`: swarm never runs an agent's
command unconfined without being told to.

Every result, of every tool, passes through `redact` before the model sees it.

One set of tool objects serves every worktree of the process: building the SDK's tools (a pydantic
validator per tool) took 17 ms per agent, a second of CPU for 64 agents. The tools read their worktree at
call time from the Toolbox whose call is running (a context variable, so concurrent agents never see
each other's), and the SDK's tools read their context only when called.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
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

from swarm.agent.context import bound_read
from swarm.env.allowlist import redact
from swarm.env.sandbox import Sandbox, agent_shell_allowed, bwrap_problem
from swarm.env.shell import DEFAULT_TIMEOUT, MAX_TIMEOUT, run_shell

__all__ = ["Toolbox", "ToolOutcome"]



def _refusal() -> str:
    return (f"bash is not available: no sandbox works on this machine ({bwrap_problem()}), and swarm does not "
            "run an agent's commands unconfined unless the user chose `--sandbox off` (or the setting "
            "sandbox = \"off\"). The file tools (read, write, edit, glob, grep) still work: use them instead.")


_CURRENT: contextvars.ContextVar["Toolbox"] = contextvars.ContextVar("swarm_toolbox")


class _CurrentContext:
    """The AgentToolContext of the Toolbox whose call is running, for the shared SDK tools."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_CURRENT.get().context, name)


def _bash_tool() -> Any:
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
        if not agent_shell_allowed():
            raise ToolError(_refusal())
        timeout = min(timeout_ms / 1000.0, MAX_TIMEOUT) if timeout_ms and timeout_ms > 0 else DEFAULT_TIMEOUT
        box = _CURRENT.get()
        result = await run_shell(command, box.workdir, box.env, timeout, sandbox=box.sandbox)
        if result.timed_out:
            raise ToolError(f"bash: command timed out after {timeout:g}s (at most {MAX_TIMEOUT:g}s per command); "
                            f"its output so far:\n{result.output}")
        if result.exit_code != 0:
            raise ToolError(f"{result.output}\n[exit code {result.exit_code}]".lstrip())
        return result.output

    return beta_async_tool(name="bash", input_schema=BetaManagedAgentsAgentToolset20260401BashInput)(bash)


def _redact_block(block: Any) -> Any:
    if isinstance(block, dict) and isinstance(block.get("text"), str):
        return {**block, "text": redact(block["text"])}
    return block


@dataclass
class ToolOutcome:
    """What goes back to the model as one tool_result."""

    content: str | list[Any]
    is_error: bool


# The input fields that name a path, per file tool (glob's pattern is a path too).
_PATH_FIELDS = {"read": ("file_path",), "write": ("file_path",), "edit": ("file_path",),
                "glob": ("path", "pattern"), "grep": ("path",)}
_WRITERS = ("write", "edit")


_THREAD = threading.local()


def _run_here(coro: Any) -> Any:
    """Run a file tool's coroutine to its end on this worker thread's own event loop, made once per thread
    (`asyncio.run` made and closed a loop per call: a millisecond of each tool call, on the agents' path)."""
    loop = getattr(_THREAD, "loop", None)
    if loop is None:
        loop = _THREAD.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)


def _guard(workdir: Path, name: str, tool_input: Any) -> None:
    """Refuse what the file tools must not touch: git metadata, and writes that would land outside."""
    if not isinstance(tool_input, dict):
        return
    for key in _PATH_FIELDS.get(name, ()):
        value = tool_input.get(key)
        if not isinstance(value, str) or not value:
            continue
        if ".git" in Path(value).parts:
            raise ToolError(f"{name}: {value!r} is inside .git: git metadata belongs to swarm, not to the agent")
        if key != "file_path":
            continue
        target = Path(value) if Path(value).is_absolute() else workdir / value
        real = Path(os.path.realpath(target))
        if not real.is_relative_to(workdir) or ".git" in real.relative_to(workdir).parts:
            raise ToolError(f"{name}: {value!r} resolves to {real}, outside the worktree (a symlink?)")
        if name in _WRITERS and real.is_file() and real.stat().st_nlink > 1:
            raise ToolError(f"{name}: {value!r} is a hard link (the same file has another name, maybe outside "
                            "the worktree); writing through it is refused: delete it and write a new file")


@functools.cache
def _shared_tools() -> dict[str, Any]:
    """The tools, built once per process, in the order the model sees them."""
    ctx: Any = _CurrentContext()
    tools = [beta_read_tool(ctx), beta_write_tool(ctx), beta_edit_tool(ctx), beta_glob_tool(ctx),
             beta_grep_tool(ctx), _bash_tool()]
    return {tool.name: tool for tool in tools}


FILE_TOOLS = ("read", "write", "edit", "glob", "grep")


@functools.cache
def tool_definitions() -> tuple[dict[str, Any], ...]:
    """What every Toolbox's `definitions()` says, known before any worktree exists (they name no path)."""
    return tuple(dict(tool.to_dict()) for tool in _shared_tools().values())


class Toolbox:
    """The tools of one worktree, with stable definitions (identical for every agent of a run)."""

    def __init__(self, workdir: Path, env: dict[str, str], *, sandbox: Sandbox | None = None) -> None:
        """`env` is the allowlisted environment (swarm.env.allowlist.tool_env); `sandbox` the shell's layout
        (by default worked out from the worktree now, before any agent ran in it)."""
        self.workdir = workdir.resolve()
        self.env = {**env, "SWARM_WORKTREE": env.get("SWARM_WORKTREE", str(self.workdir))}
        self.context = AgentToolContext(workdir=str(self.workdir), env=self.env)
        self.sandbox = sandbox or Sandbox(self.workdir)
        self._tools = _shared_tools()

    def definitions(self) -> list[dict[str, Any]]:
        return [dict(tool.to_dict()) for tool in self._tools.values()]

    def _relative(self, text: str) -> str:
        # glob and grep answer with absolute paths; the model (and the transcript) get worktree-relative ones.
        return text.replace(str(self.workdir) + os.sep, "")

    async def call(self, name: str, tool_input: Any) -> ToolOutcome:
        """Run one tool; any failure becomes an error result for the model, never a crash.

        What comes back is redacted: no withheld variable's value reaches the model.
        """
        outcome = await self._call(name, tool_input)
        if isinstance(outcome.content, str):
            outcome.content = redact(outcome.content)
        else:
            outcome.content = [_redact_block(block) for block in outcome.content]
        return outcome

    async def _call(self, name: str, tool_input: Any) -> ToolOutcome:
        token = _CURRENT.set(self)  # the shared tools work in this worktree (copied into the worker thread)
        try:
            return await self._dispatch(name, tool_input)
        finally:
            _CURRENT.reset(token)

    async def _dispatch(self, name: str, tool_input: Any) -> ToolOutcome:
        tool = self._tools.get(name)
        if tool is None:
            return ToolOutcome(f"unknown tool {name!r}; available: {', '.join(self._tools)}", True)
        try:
            if name in FILE_TOOLS:
                _guard(self.workdir, name, tool_input)
                result = await asyncio.to_thread(_run_here, tool.call(tool_input))
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
            if name == "read" and isinstance(tool_input, dict):
                # A whole large file would fill the context window in one call: cut it, say how to read on.
                view = tool_input.get("view_range") or [1]
                result = bound_read(result, str(tool_input.get("file_path", "")), int(view[0] or 1))
        return ToolOutcome(result, False)
