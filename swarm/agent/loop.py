"""One agent: a short loop of model turns and tool calls in its worktree.

The loop keeps the whole history on our side (no server-side threads), so any
Messages-API endpoint works. The system prompt and tool definitions are the
same for every worker of a run and carry `cache_control`, so the shared prefix
is written to the cache once and read by every other agent; the conversation is
cached turn by turn with a breakpoint on the newest message.

Each turn streams (a long turn never meets a non-streaming time limit) and is
handled by its stop reason, as the SDK's own tool runner does: `tool_use` runs
the tools; `pause_turn` sends the turn back to be continued; `end_turn` and
`stop_sequence` end the agent; `refusal` fails it; `max_tokens` never runs a
cut-off tool call (the turn is asked again once with the model's largest
output, else the model is told its call was cut); `model_context_window_exceeded`
clears old tool results and goes on. Assistant turns go back exactly as they
came, thinking blocks included. The loop ends by exception when it is not a plain
end of turn (`swarm.agent.stops`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Callable

from anthropic import AsyncAnthropic

from swarm.agent.budget import TurnBudget
from swarm.agent.context import ContextWindow
from swarm.agent.prompts import render
from swarm.agent.stops import OutOfTurns, Refused, StoppedEarly, Submitted
from swarm.agent.summary import WorkLog, summary_of
from swarm.agent.tools import Toolbox
from swarm.errors import LimitsExceeded
from swarm.model.catalog import PriceTable, model_info, request_params
from swarm.model.errors import PromptTooLong
from swarm.model.gate import ModelGate
from swarm.model.usage import Usage, cost_of

EPHEMERAL = {"type": "ephemeral"}
EventSink = Callable[..., None]
MAX_PAUSES = 20  # continuations of one paused turn before it counts as stuck


@dataclass
class AgentResult:
    """How an agent ended by itself: its summary and its stop reason."""

    summary: str
    turns: int
    stop_reason: str | None


@dataclass
class AgentSettings:
    """What a run decides about its agents' requests (from the settings and flags)."""

    max_turns: int = 100
    max_tokens: int | None = None  # None: the model's default (tens of thousands, capped at its maximum)
    effort: str | None = None  # None: the model's default
    thinking: str = "adaptive"
    max_output_tokens: int | None = None
    context_window: int | None = None  # None: the model's window
    context_threshold: float = 0.5


def cached_system(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": EPHEMERAL}]


def cached_tools(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tools = [dict(d) for d in definitions]
    if tools:
        tools[-1]["cache_control"] = EPHEMERAL
    return tools


def with_turn_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of the history with a cache breakpoint on the newest message (never on a thinking block)."""
    sent = copy.copy(messages)
    last = dict(sent[-1])
    content = last["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    content = [dict(block) for block in content]
    marked = [i for i, b in enumerate(content) if b.get("type") not in ("thinking", "redacted_thinking")]
    if marked:
        content[marked[-1]]["cache_control"] = EPHEMERAL
    last["content"] = content
    sent[-1] = last
    return sent


def _add_text(messages: list[dict[str, Any]], text: str) -> None:
    """Add text to the conversation: to the last user message when there is one (after tool results)."""
    last = messages[-1]
    if last["role"] == "user":
        content = last["content"] if isinstance(last["content"], list) else [{"type": "text", "text": last["content"]}]
        last["content"] = [*content, {"type": "text", "text": text}]
    else:
        messages.append({"role": "user", "content": text})


class Agent:
    """A model, a system prompt and a toolbox, driven until the model ends its turn."""

    def __init__(self, client: AsyncAnthropic, *, model: str, system: str, toolbox: Toolbox,
                 settings: AgentSettings | None = None, prices: PriceTable | None = None,
                 gate: ModelGate | None = None, events: EventSink | None = None,
                 transcript: Callable[[dict[str, Any]], None] | None = None,
                 extra_tools: list[dict[str, Any]] | None = None) -> None:
        self.client = client
        self.model = model
        self.system = system
        self.toolbox = toolbox
        self.settings = settings or AgentSettings()
        self.price = (prices or PriceTable()).price(model)
        self.gate = gate or ModelGate(1, client=client, model=model)
        self.events = events or (lambda *a, **k: None)
        self.transcript = transcript or (lambda entry: None)
        self.tools = cached_tools(toolbox.definitions() + (extra_tools or []))
        self.usage = Usage()
        self.messages: list[dict[str, Any]] = []
        self.budget = TurnBudget(self.settings.max_turns)
        info = model_info(model)
        self.context = ContextWindow(self.settings.context_window or info.window,
                                     threshold=self.settings.context_threshold)
        self.max_output = info.max_output
        self.work = WorkLog()
        self._prefix_chars = len(system) + len(json.dumps(self.tools))
        self._last_output = 0
        self._sent_max_tokens = 0

    # -- one request -------------------------------------------------------------------

    def _estimate(self, max_tokens: int) -> float:
        """A generous guess at the next call's cost, for the run's cost ceiling."""
        prompt = self.context.size(self._prefix_chars, self.messages)
        # Output like the last turn's, with room to grow; a first turn is guessed at 512 tokens.
        expected_out = min(max_tokens, max(512, 2 * self._last_output))
        return cost_of(self.price, input_tokens=prompt, output_tokens=expected_out)

    def _params(self, max_tokens: int | None = None) -> dict[str, Any]:
        return request_params(self.model, effort=self.settings.effort, thinking=self.settings.thinking,
                              max_tokens=max_tokens or self.settings.max_tokens)

    async def _request(self, params: dict[str, Any]) -> Any:
        """One streamed request through the gate; a too-long prompt clears old results and is tried once more."""
        async def call() -> Any:
            async with self.client.messages.stream(model=self.model, system=cached_system(self.system),
                                                   tools=self.tools, messages=with_turn_breakpoint(self.messages),
                                                   **params) as stream:
                return await stream.get_final_message()

        def waiting(reason: str, seconds: float) -> None:
            self.events("waiting", reason=reason, seconds=round(seconds, 1))

        self.context.fit(self._prefix_chars, self.messages)
        for attempt in range(2):
            try:
                response = await self.gate.call(call, estimate=self._estimate(params["max_tokens"]), waiting=waiting)
            except PromptTooLong as e:
                self.context.learn(e.limit)
                if attempt or not self.context.fit(self._prefix_chars, self.messages, force=True):
                    raise
                self.events("context", cleared=self.context.cleared, window=self.context.window)
                continue
            turn_usage = self.usage.add_response(response.usage, self.price)
            self.context.calibrate(self._prefix_chars, self.messages, turn_usage.context_tokens)
            self._last_output = turn_usage.output_tokens
            self.gate.charge(turn_usage.cost_usd)
            self.events("turn", stop_reason=response.stop_reason, usage=turn_usage.to_dict())
            return response
        raise AssertionError("unreachable")

    async def step(self) -> Any:
        """One model turn, appended to the history; a turn cut in a tool call is asked again with more room."""
        limit = self.settings.max_output_tokens
        if limit is not None and self.usage.output_tokens >= limit:
            raise LimitsExceeded(f"used its {limit} output tokens")
        params = self._params()
        response = await self._request(params)
        cut_call = response.stop_reason == "max_tokens" and any(b.type == "tool_use" for b in response.content)
        if cut_call and params["max_tokens"] < self.max_output:
            # The cut reply is dropped, never run: the same turn again, with the model's largest output.
            self.events("output_cut", max_tokens=params["max_tokens"], retry_with=self.max_output)
            params = self._params(self.max_output)
            response = await self._request(params)
        content = [block.model_dump(exclude_none=True) for block in response.content]
        self.messages.append({"role": "assistant", "content": content})
        self.transcript({"role": "assistant", "content": content, "stop_reason": response.stop_reason,
                         "usage": self.usage.to_dict()})
        self._sent_max_tokens = params["max_tokens"]
        return response

    # -- tools -------------------------------------------------------------------------

    async def handle_tool(self, block: Any) -> dict[str, Any]:
        """Run one tool_use block and build its tool_result. Subclasses add their own tools."""
        outcome = await self.toolbox.call(block.name, block.input)
        tool_input = block.input if isinstance(block.input, dict) else {}
        self.work.add(block.name, tool_input, outcome.is_error)
        self.events("tool", name=block.name, is_error=outcome.is_error, path=tool_input.get("file_path"))
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.id, "content": outcome.content}
        if outcome.is_error:
            result["is_error"] = True
        return result

    async def _run_tools(self, response: Any, *, cut: bool = False) -> None:
        """Answer every tool call of the turn; a cut-off call gets an error result instead of running."""
        results: list[dict[str, Any]] = []
        submitted: Submitted | None = None
        calls = [b for b in response.content if b.type == "tool_use"]
        for block in calls:
            if cut and block is calls[-1]:
                note = render("output_cut", max_tokens=self._sent_max_tokens).strip()
                results.append({"type": "tool_result", "tool_use_id": block.id, "is_error": True, "content": note})
                continue
            try:
                results.append(await self.handle_tool(block))
            except Submitted as end:  # answered like any call, so the conversation stays whole for `proceed`
                results.append({"type": "tool_result", "tool_use_id": block.id,
                                "content": "Received. swarm commits your edits and re-runs the checks."})
                submitted = end
        self.messages.append({"role": "user", "content": results})
        self.transcript({"role": "user", "content": results})
        if submitted is not None:
            raise submitted

    # -- the loop ----------------------------------------------------------------------

    async def run(self, first_message: str) -> AgentResult:
        """Drive the agent to its end. Raises OutOfTurns, Submitted, Refused or an API error otherwise."""
        first = f"{first_message.rstrip()}\n\n{self.budget.opening()}"
        self.messages = [{"role": "user", "content": first}]
        self.transcript({"role": "user", "content": first})
        return await self._loop()

    async def proceed(self, message: str) -> AgentResult:
        """Continue a finished conversation with more to do (e.g. the checks' findings after a round)."""
        _add_text(self.messages, message)
        self.transcript({"role": "user", "content": message})
        return await self._loop()

    async def _loop(self) -> AgentResult:
        pauses = 0
        while True:
            if self.budget.spent:
                await self._last_turn()
            response = await self.step()
            stop = response.stop_reason
            if stop == "pause_turn":
                # The server paused a long turn: sent back as it is, it is continued; no tool runs.
                pauses += 1
                if pauses > MAX_PAUSES:
                    raise StoppedEarly(f"the model paused the same turn {MAX_PAUSES} times without finishing it")
                self.events("pause")
                continue
            pauses = 0
            self.budget.used += 1
            if stop in ("end_turn", "stop_sequence"):
                return AgentResult(summary_of(self.messages, self.work), self.budget.used, stop)
            if stop == "refusal":
                details = getattr(response, "stop_details", None)
                reason = getattr(details, "explanation", None) or getattr(details, "category", None)
                raise Refused(f"the model refused to continue{': ' + reason if reason else ''}")
            if stop in ("max_tokens", "model_context_window_exceeded"):
                if stop == "model_context_window_exceeded":
                    self.context.fit(self._prefix_chars, self.messages, force=True)
                    self.events("context", cleared=self.context.cleared, window=self.context.window)
                if any(b.type == "tool_use" for b in response.content):
                    await self._run_tools(response, cut=True)
                else:
                    _add_text(self.messages, render("output_cut", max_tokens=self._sent_max_tokens).strip())
            elif stop == "tool_use":
                await self._run_tools(response)
            else:
                raise StoppedEarly(f"the model stopped with an unknown stop reason {stop!r}")
            note = self.budget.note()
            if note:
                _add_text(self.messages, note.strip())

    async def _last_turn(self) -> None:
        """At the cap: one more turn, without running tools, for the model to say what it did."""
        _add_text(self.messages, self.budget.final().strip())
        self.transcript({"role": "user", "content": self.budget.final().strip()})
        response = await self.step()
        if response.stop_reason == "tool_use":
            # Unanswered calls would make the history invalid for a later `proceed`.
            results = [{"type": "tool_result", "tool_use_id": b.id, "is_error": True,
                        "content": "not run: the turn budget is spent"}
                       for b in response.content if b.type == "tool_use"]
            self.messages.append({"role": "user", "content": results})
        raise OutOfTurns(summary_of(self.messages, self.work), self.budget.used)
