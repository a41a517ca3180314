"""One subtask's work in its workspace: the worker agent (its first message, its loop) or its command."""

from __future__ import annotations

from typing import Any, Callable

from swarm.agent.loop import Agent
from swarm.agent.prompts import render, template
from swarm.agent.stops import OutOfTurns
from swarm.config import RunOptions, agent_settings
from swarm.errors import SwarmError
from swarm.model.catalog import PriceTable
from swarm.model.gate import ModelGate
from swarm.model.usage import Usage
from swarm.plan.spec import Plan, Subtask
from swarm.run.executor import Tools, Workspace


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


async def run_agent(client: Any, tools: Tools, first: str, *, options: RunOptions, prices: PriceTable,
                    gate: ModelGate, usage: Usage, events: Callable[..., None],
                    transcript: Callable[[dict[str, Any]], None],
                    history: list[dict[str, Any]] | None = None) -> tuple[str, bool]:
    """Drive one worker agent with the workspace's tools; (its summary, whether it finished in its turns).

    With `history` (an earlier conversation, as sent), `first` is the follow-up message that continues it.
    """
    agent = Agent(client, model=options.model, system=template("worker_system").strip(), toolbox=tools,
                  settings=agent_settings(options), prices=prices, gate=gate, events=events, transcript=transcript)
    agent.usage = usage  # earlier attempts count too; status readers see tokens grow
    try:
        if history is not None:
            agent.messages = history
            result = await agent.proceed(first)
        else:
            result = await agent.run(first)
    except OutOfTurns as end:
        return end.summary, False
    return result.summary, True


async def run_command(workspace: Workspace, subtask: Subtask, timeout: float,
                      transcript: Callable[[dict[str, Any]], None]) -> str:
    """Run a command subtask in its workspace; its summary, or a SwarmError when it fails or times out."""
    assert subtask.command is not None
    result = await workspace.run_command(subtask.command, timeout)
    transcript({"role": "command", "command": subtask.command, "exit_code": result.exit_code,
                "output": result.output})
    tail = result.output.strip().splitlines()[-5:]
    summary = f"`{subtask.command}` exited {result.exit_code}" + (":\n" + "\n".join(tail) if tail else "")
    if result.timed_out:
        raise SwarmError(f"command timed out after {timeout:g}s: {subtask.command}")
    if result.exit_code != 0:
        raise SwarmError(f"command exited {result.exit_code}: {subtask.command}")
    return summary
