"""How the current models (Claude Sonnet 5.5 and its peers) differ from a lenient endpoint.

The scripted server applies these rules by default, so the code under test meets
what the real model does:

- forced tool use (`tool_choice` of type `tool` or `any`) is a 400;
- `thinking: {"type": "disabled"}` and `budget_tokens` thinking are 400s;
  `between_tools` is the lowest setting, refused at effort `xhigh` and `max`;
- `max_tokens` above the model's 128K output is a 400;
- every reply to a request with thinking on starts with a signed thinking
  block, and text written between tool calls comes back inside thinking
  blocks; a thinking block sent back altered (or a tool-using turn sent back
  without its thinking blocks) is a 400;
- a prompt over the script's `context_window` is a 400 "prompt is too long".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from typing import Any

MAX_OUTPUT = 128_000
EFFORTS = ("low", "medium", "high", "xhigh", "max")


def tokens(value: Any) -> int:
    # Roughly four characters a token: good enough for budgets and displays.
    return len(json.dumps(value)) // 4 + 1


def prompt_tokens(body: dict[str, Any]) -> int:
    """The whole prompt's size as this server counts it: messages, system and tools."""
    return tokens(body.get("messages", [])) + tokens(body.get("system") or "") + tokens(body.get("tools") or [])


class Rules:
    """The checks and the reply shape of the current model; one per server (it signs with its own key)."""

    def __init__(self, context_window: int | None = None) -> None:
        self.context_window = context_window
        self._key = hashlib.sha256(str(id(self)).encode()).digest()
        self._lock = threading.Lock()
        # tool_use id -> signatures of the thinking blocks of the turn that made it
        self._turn_signatures: dict[str, list[str]] = {}
        # signatures of thinking blocks sent with their text left out (display "omitted")
        self._omitted: set[str] = set()

    # -- signatures ------------------------------------------------------------------

    def sign(self, model: str, first_user: str, thinking: str) -> str:
        # Tied to the model and the conversation (its first user message), as the real signatures are.
        mac = hmac.new(self._key, f"{model}\0{first_user}\0{thinking}".encode(), hashlib.sha256)
        return base64.b64encode(mac.digest()).decode()

    def remember(self, content: list[dict[str, Any]]) -> None:
        signatures = [b["signature"] for b in content if b.get("type") == "thinking"]
        with self._lock:
            for block in content:
                if block.get("type") == "tool_use":
                    self._turn_signatures[block["id"]] = signatures

    # -- requests --------------------------------------------------------------------

    def check(self, body: dict[str, Any], first_user: str) -> str | None:
        """The 400 message for a request the current model refuses, or None."""
        choice = body.get("tool_choice") or {}
        if choice.get("type") in ("tool", "any"):
            return (f"tool_choice: forced tool use (type {choice['type']!r}) is not supported on this model; "
                    "use tool_choice auto or leave it out")
        thinking = body.get("thinking") or {}
        effort = (body.get("output_config") or {}).get("effort")
        if effort is not None and effort not in EFFORTS:
            return f"output_config.effort: {effort!r} is not one of {', '.join(EFFORTS)}"
        kind = thinking.get("type")
        if kind == "disabled":
            return ("thinking.type: 'disabled' is not supported on this model; the lowest setting is "
                    "{\"type\": \"between_tools\"}")
        if kind == "enabled" or "budget_tokens" in thinking:
            return "thinking: budget_tokens is not supported on this model; use adaptive thinking and effort"
        if kind not in (None, "adaptive", "between_tools"):
            return f"thinking.type: {kind!r} is not supported on this model"
        if kind == "between_tools" and effort in ("xhigh", "max"):
            return f"thinking.type: 'between_tools' is not supported at effort {effort!r}; use adaptive thinking"
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            return "max_tokens: a positive integer is required"
        if max_tokens > MAX_OUTPUT:
            return f"max_tokens: {max_tokens} > {MAX_OUTPUT}, which is the maximum allowed for this model"
        problem = self._check_thinking_blocks(body, first_user)
        if problem:
            return problem
        if self.context_window is not None:
            size = prompt_tokens(body)
            if size > self.context_window:
                return f"prompt is too long: {size} tokens > {self.context_window} maximum"
        return None

    def _check_thinking_blocks(self, body: dict[str, Any], first_user: str) -> str | None:
        model = str(body.get("model", ""))
        for i, message in enumerate(body.get("messages") or []):
            if not isinstance(message, dict) or message.get("role") != "assistant":
                continue
            content = message.get("content")
            if not isinstance(content, list):
                continue
            sent = []
            for j, block in enumerate(content):
                if not isinstance(block, dict) or block.get("type") != "thinking":
                    continue
                expected = self.sign(model, first_user, str(block.get("thinking", "")))
                signature = str(block.get("signature", ""))
                # An omitted-display block carries no text: its signature stands for the hidden thinking.
                if signature != expected and not self._issued_omitted(signature):
                    return f"messages.{i}.content.{j}: invalid signature in thinking block"
                sent.append(signature)
            with self._lock:
                issued = [self._turn_signatures[b["id"]] for b in content
                          if isinstance(b, dict) and b.get("type") == "tool_use" and b.get("id") in self._turn_signatures]
            if issued and issued[0] != sent:
                return (f"messages.{i}: the thinking blocks of an assistant turn must be passed back unchanged "
                        "with the rest of it")
        return None

    def _issued_omitted(self, signature: str) -> bool:
        with self._lock:
            return signature in self._omitted

    # -- replies -----------------------------------------------------------------------

    def shape(self, body: dict[str, Any], first_user: str, content: list[dict[str, Any]],
              turn: int) -> list[dict[str, Any]]:
        """Scripted blocks as the current model returns them: thinking first, text between tools as thinking."""
        thinking = body.get("thinking") or {"type": "adaptive"}
        shown = thinking.get("type") == "between_tools" or thinking.get("display") == "summarized"
        model = str(body.get("model", ""))
        uses_tools = any(b.get("type") == "tool_use" for b in content)
        out: list[dict[str, Any]] = []
        if thinking.get("type") != "between_tools":
            out.append(self._thinking(model, first_user, f"Deciding what to do on turn {turn}.", shown))
        for block in content:
            if uses_tools and block.get("type") == "text":
                out.append(self._thinking(model, first_user, str(block.get("text", "")), shown))
            else:
                out.append(block)
        return out

    def _thinking(self, model: str, first_user: str, text: str, shown: bool) -> dict[str, Any]:
        if shown:
            return {"type": "thinking", "thinking": text, "signature": self.sign(model, first_user, text)}
        signature = self.sign(model, first_user, "\0omitted\0" + text)
        with self._lock:
            self._omitted.add(signature)
        return {"type": "thinking", "thinking": "", "signature": signature}


def cut_tool_input(block: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A tool call cut off mid-input: the block with what parses of its input, and the raw text sent."""
    from jiter import from_json

    raw = json.dumps(block.get("input", {}))
    cut = raw[: max(1, len(raw) // 2)]
    try:
        partial = from_json(cut.encode(), partial_mode="trailing-strings")
    except ValueError:
        partial = {}
    return dict(block, input=partial if isinstance(partial, dict) else {}), cut
