"""What the scripted model answers: routing a request to its script, and the scripted turn.

A script is a plain JSON-loadable dict::

    {"workers": {"core": [TURN, ...]},      # by the `Subtask: <id>` line of the first user message
     "planner": PLAN | [PLAN, ...],         # a submit_plan input per round; a string answers in text
     "synthesizer": [TURN, ...], "resolver": [TURN, ...],
     "delay": 0.0,                          # default delay before every reply
     "context_window": 40000}               # optional: prompts over this many tokens are refused

    TURN = {"content": [...blocks...], "delay": 0.2,
            "stop": "pause_turn" | "refusal" | "max_tokens" | "model_context_window_exceeded" | "stop_sequence",
            "needs_tokens": 90000,           # cut at max_tokens (mid tool call) when the request allows fewer
            "refusal": "why"}                # the explanation a refusal carries

Which turn answers a request is decided by the request alone (role from the
first user message and tools, turn index = number of assistant messages), so
the server keeps no conversation state and concurrent agents cannot interfere.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FALLBACK_SYNTHESIS = {"summary": "No further changes.", "contradictions": []}
STOPS = ("end_turn", "pause_turn", "refusal", "max_tokens", "model_context_window_exceeded", "stop_sequence")


def load_script(path: str | Path) -> dict[str, Any]:
    """Read a script from a JSON file."""
    with open(path, encoding="utf-8") as fh:
        script = json.load(fh)
    if not isinstance(script, dict):
        raise ValueError(f"{path}: a script must be a JSON object")
    return script


def first_user_text(messages: list[Any]) -> str:
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        for block in content or []:
            if isinstance(block, dict) and block.get("type") == "text":
                return str(block.get("text", ""))
        return ""
    return ""


def _offers(body: dict[str, Any], name: str) -> bool:
    return any(isinstance(t, dict) and t.get("name") == name for t in body.get("tools") or [])


def route(body: dict[str, Any]) -> tuple[str, str | None, int]:
    """Return (role, subtask key or None, turn index) for a request body."""
    messages = body.get("messages") or []
    turn = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
    if _offers(body, "submit_plan"):
        return "planner", None, turn
    first_line = first_user_text(messages).strip().splitlines()[:1]
    line = first_line[0].strip() if first_line else ""
    if line.startswith("Subtask:"):
        return "worker", line[len("Subtask:"):].strip(), turn
    if _offers(body, "submit_synthesis"):
        return ("resolver" if line.startswith("Resolve conflict") else "synthesizer"), None, turn
    return "unknown", None, turn


def tool_use(name: str, input_: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": name, "input": input_}


@dataclass
class Turn:
    """One scripted reply: its blocks, how long to wait, and how it stops."""

    content: list[dict[str, Any]]
    delay: float = 0.0
    stop: str | None = None  # None: tool_use when it calls a tool, else end_turn
    needs_tokens: int | None = None
    refusal: str | None = None


def _text(value: str, delay: float) -> Turn:
    return Turn([{"type": "text", "text": value}], delay)


def scripted_turn(script: dict[str, Any], role: str, key: str | None, turn: int) -> Turn:
    """The turn that answers this request (malformed scripts raise, for a 500 that says so)."""
    default_delay = float(script.get("delay", 0.0) or 0.0)
    if role == "planner":
        # A list of plans answers the planner's rounds in order (a repair round gets the next one).
        plans = script.get("planner", {"subtasks": []})
        if isinstance(plans, list):
            plans = plans[min(turn, len(plans) - 1)]
        if isinstance(plans, str):
            return _text(plans, default_delay)
        return Turn([tool_use("submit_plan", copy.deepcopy(plans))], default_delay)
    if role == "worker":
        workers = script.get("workers", {})
        if key not in workers:
            return _text(f"No script for subtask {key}.", default_delay)
        turns = workers[key]
    elif role in ("synthesizer", "resolver"):
        turns = script.get(role, [])
    else:
        return _text("No script for this request.", default_delay)
    if turn >= len(turns):
        if role == "worker":
            return _text("Done.", default_delay)
        return Turn([tool_use("submit_synthesis", dict(FALLBACK_SYNTHESIS))], default_delay)
    entry = turns[turn]
    blocks = copy.deepcopy(entry.get("content", []))
    for block in blocks:
        # Fresh ids every time: the SDK and the agents pair tool_result by id.
        if block.get("type") == "tool_use" and not block.get("id"):
            block["id"] = f"toolu_{uuid.uuid4().hex[:24]}"
            block.setdefault("input", {})
    stop = entry.get("stop")
    if stop is not None and stop not in STOPS:
        raise ValueError(f"unknown stop {stop!r}; one of {', '.join(STOPS)}")
    return Turn(blocks, float(entry.get("delay", default_delay) or 0.0), stop, entry.get("needs_tokens"),
                entry.get("refusal"))
