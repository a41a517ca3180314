"""One worker agent: a short loop of model turns and tool calls in its worktree.

The loop keeps the whole history on our side (no server-side threads), so any
Messages-API endpoint works. The system prompt and tool definitions are the
same for every worker of a run and carry `cache_control`, so the shared prefix
is written to the cache once and read by every other agent; the conversation is
cached turn by turn with a breakpoint on the newest message.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from anthropic import AsyncAnthropic

from swarm.errors import LimitsExceeded
from swarm.model.gate import ModelGate
from swarm.model.usage import Usage, price_of
from swarm.agent.tools import Toolbox

EPHEMERAL = {"type": "ephemeral"}
EventSink = Callable[..., None]


@dataclass
class AgentResult:
    """How an agent ended: its summary (last text), turns and usage."""

    summary: str
    turns: int
    usage: Usage
    stop_reason: str | None
    tool_calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def cached_system(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": EPHEMERAL}]


def cached_tools(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tools = [dict(d) for d in definitions]
    if tools:
        tools[-1]["cache_control"] = EPHEMERAL
    return tools


def with_turn_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of the history with a cache breakpoint on the newest message only."""
    sent = copy.copy(messages)
    last = dict(sent[-1])
    content = last["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    content = [dict(block) for block in content]
    content[-1]["cache_control"] = EPHEMERAL
    last["content"] = content
    sent[-1] = last
    return sent


def last_text(blocks: list[Any]) -> str:
    texts = [b.text for b in blocks if getattr(b, "type", None) == "text" and b.text.strip()]
    return texts[-1].strip() if texts else ""


class Agent:
    """A model, a system prompt and a toolbox, driven until the model ends its turn."""

    def __init__(self, client: AsyncAnthropic, *, model: str, system: str, toolbox: Toolbox,
                 max_turns: int = 40, max_tokens: int = 8192, max_output_tokens: int | None = None,
                 gate: ModelGate | None = None, events: EventSink | None = None,
                 transcript: Callable[[dict[str, Any]], None] | None = None,
                 extra_tools: list[dict[str, Any]] | None = None) -> None:
        self.client = client
        self.model = model
        self.system = system
        self.toolbox = toolbox
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.max_output_tokens = max_output_tokens
        self.gate = gate or ModelGate(1)
        self.events = events or (lambda *a, **k: None)
        self.transcript = transcript or (lambda entry: None)
        self.tools = cached_tools(toolbox.definitions() + (extra_tools or []))
        self.usage = Usage()
        self.messages: list[dict[str, Any]] = []
        self._last_output = 0
        self.turns_used = 0
        self.tool_calls = 0
        self.stop_requested = False

    def _estimate(self) -> float:
        """A generous guess at the next call's cost, for the run's cost ceiling."""
        chars = len(self.system) + len(json.dumps(self.tools)) + len(json.dumps(self.messages, default=str))
        price_in, price_out = price_of(self.model)
        # Output like the last turn's, with room to grow; a first turn is guessed at 512 tokens.
        expected_out = min(self.max_tokens, max(512, 2 * self._last_output))
        return (chars / 4 * price_in + expected_out * price_out) / 1_000_000

    async def step(self) -> Any:
        """One model turn; returns the response message."""
        if self.max_output_tokens is not None and self.usage.output_tokens >= self.max_output_tokens:
            raise LimitsExceeded(f"used its {self.max_output_tokens} output tokens")
        response = await self.gate.call(lambda: self.client.messages.create(
            model=self.model, max_tokens=self.max_tokens, system=cached_system(self.system),
            tools=self.tools, messages=with_turn_breakpoint(self.messages)), estimate=self._estimate())
        turn_usage = self.usage.add_response(response.usage, self.model)
        self._last_output = turn_usage.output_tokens
        self.gate.charge(turn_usage.cost_usd)
        content = [block.model_dump(exclude_none=True) for block in response.content]
        self.messages.append({"role": "assistant", "content": content})
        self.transcript({"role": "assistant", "content": content, "stop_reason": response.stop_reason,
                         "usage": turn_usage.to_dict()})
        self.events("turn", stop_reason=response.stop_reason, usage=turn_usage.to_dict())
        return response

    async def handle_tool(self, block: Any) -> dict[str, Any]:
        """Run one tool_use block and build its tool_result. Subclasses add their own tools."""
        outcome = await self.toolbox.call(block.name, block.input)
        self.events("tool", name=block.name, is_error=outcome.is_error,
                    path=(block.input or {}).get("file_path") if isinstance(block.input, dict) else None)
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.id, "content": outcome.content}
        if outcome.is_error:
            result["is_error"] = True
        return result

    def finished(self, response: Any) -> bool:
        """Whether this response ends the agent (a worker ends with end_turn)."""
        return response.stop_reason != "tool_use"

    async def run(self, first_message: str) -> AgentResult:
        """Drive the agent to its end; raise LimitsExceeded when turns run out."""
        self.messages = [{"role": "user", "content": first_message}]
        self.transcript({"role": "user", "content": first_message})
        return await self._loop()

    async def proceed(self, message: str) -> AgentResult:
        """Continue a finished conversation with more to do (e.g. the checks' findings after a round)."""
        last = self.messages[-1]
        if last["role"] == "user":  # after a tool result: the text joins that turn
            content = last["content"] if isinstance(last["content"], list) else \
                [{"type": "text", "text": last["content"]}]
            last["content"] = [*content, {"type": "text", "text": message}]
        else:
            self.messages.append({"role": "user", "content": message})
        self.transcript({"role": "user", "content": message})
        self.stop_requested = False
        return await self._loop()

    async def _loop(self) -> AgentResult:
        self.stop_requested = False
        for turn in range(1, self.max_turns + 1):
            self.turns_used += 1
            response = await self.step()
            if self.finished(response):
                if response.stop_reason == "max_tokens":
                    raise LimitsExceeded(f"the model hit max_tokens ({self.max_tokens}) on turn {turn}")
                return AgentResult(last_text(response.content), self.turns_used, self.usage,
                                   response.stop_reason, self.tool_calls)
            results = []
            for block in response.content:
                if block.type == "tool_use":
                    self.tool_calls += 1
                    results.append(await self.handle_tool(block))
            if not results:
                raise LimitsExceeded(f"stop_reason {response.stop_reason!r} without a tool call on turn {turn}")
            self.messages.append({"role": "user", "content": results})
            self.transcript({"role": "user", "content": results})
            if self.stop_requested:  # a tool (such as submit_synthesis) ended the pass
                return AgentResult(last_text(response.content), self.turns_used, self.usage,
                                   response.stop_reason, self.tool_calls)
        raise LimitsExceeded(f"no end after {self.max_turns} turns")
