"""Keeping a conversation inside the model's context window.

Two bounds. Per call: a tool result is bounded where it is made (`bash` output
keeps head and tail; a file read over `READ_LIMIT` is cut with a note saying how
to read the rest). Per conversation: before each request the prompt's size is
estimated (characters, calibrated by the token counts the API reports); past
`threshold` of the window, the oldest tool results are replaced by a one-line
note naming the call (tool and arguments stay in the assistant turns, which are
never touched, thinking blocks included), newest kept, until the prompt is back
under half the threshold. Clearing in one sweep rather than one result at a time
keeps the cached prefix valid for many turns in between.

A 400 "prompt is too long" means the window is smaller than believed (a proxy,
an older model): the window is learned from the message and one sweep runs before
the request is retried once.
"""

from __future__ import annotations

import json
from typing import Any

from swarm.agent.prompts import render

READ_LIMIT = 64 * 1024
CHARS_PER_TOKEN = 4.0
MIN_CLEARABLE = 400  # results shorter than their note are not worth clearing


def bound_read(text: str, file_path: str, first_line: int = 1, limit: int = READ_LIMIT) -> str:
    """A file read cut to `limit` characters at a line end, with a note on how to read the rest."""
    if len(text) <= limit:
        return text
    shown = text[:limit]
    shown = shown[: shown.rfind("\n") + 1] or shown
    lines = shown.count("\n")
    last = first_line + lines - 1
    total = text.count("\n") + first_line
    return (f"{shown}[swarm: cut here; the read returned {len(text):,} characters and the first {limit // 1024} KiB "
            f"(lines {first_line}-{last}) are shown. Read the rest with read(file_path={file_path!r}, "
            f"view_range=[{last + 1}, {min(total, last + lines)}]) and so on, or grep for what you need.]")


def _describe(tool_use: dict[str, Any]) -> str:
    args = json.dumps(tool_use.get("input", {}), ensure_ascii=False)
    return f"{tool_use.get('name', '?')}({args[:200] + ('...' if len(args) > 200 else '')})"


class ContextWindow:
    """The window of one conversation and the sweep that keeps it inside."""

    def __init__(self, window: int, *, threshold: float = 0.5) -> None:
        self.window = window
        self.threshold = threshold
        self.chars_per_token = CHARS_PER_TOKEN
        self.cleared = 0

    def size(self, prefix_chars: int, messages: list[dict[str, Any]]) -> int:
        """The estimated prompt size in tokens."""
        return int((prefix_chars + len(json.dumps(messages, default=str))) / self.chars_per_token)

    def calibrate(self, prefix_chars: int, messages: list[dict[str, Any]], prompt_tokens: int) -> None:
        """Learn characters per token from what the API counted for the prompt just sent."""
        chars = prefix_chars + len(json.dumps(messages, default=str))
        if prompt_tokens > 100:
            self.chars_per_token = max(1.5, min(8.0, chars / prompt_tokens))

    def learn(self, limit: int | None) -> None:
        """The API said the window is `limit` tokens."""
        if limit:
            self.window = min(self.window, limit)

    def fit(self, prefix_chars: int, messages: list[dict[str, Any]], *, force: bool = False) -> int:
        """Clear old tool results when the prompt is past the threshold (or `force`); return how many."""
        if not force and self.size(prefix_chars, messages) <= self.threshold * self.window:
            return 0
        target = self.threshold * self.window / 2
        calls = {b["id"]: b for m in messages if m["role"] == "assistant" and isinstance(m["content"], list)
                 for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_use"}
        holders = [m for m in messages if m["role"] == "user" and isinstance(m["content"], list)
                   and any(b.get("type") == "tool_result" for b in m["content"])]
        count = 0
        for message in holders[:-1]:  # the newest results are what the model is working on
            if self.size(prefix_chars, messages) <= target:
                break
            blocks = []
            for block in message["content"]:
                if block.get("type") == "tool_result" and len(json.dumps(block.get("content", ""))) > MIN_CLEARABLE:
                    call = calls.get(block.get("tool_use_id"), {})
                    block = {**block, "content": render("context_cleared", call=_describe(call)).strip()}
                    count += 1
                blocks.append(block)
            message["content"] = blocks
        self.cleared += count
        return count
