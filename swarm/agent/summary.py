"""An agent's summary: its final text, or, when the model left none, what it did.

Current models put text written between tool calls inside thinking blocks, so
a turn may have no text block at all; the summary is then the model's last
words from a thinking block, and failing that a line built from its tool
calls. It is never empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WRITING = ("write", "edit")


@dataclass
class WorkLog:
    """The tool calls an agent made, for a summary the model did not write."""

    written: list[str] = field(default_factory=list)
    commands: int = 0
    reads: int = 0
    errors: int = 0

    def add(self, name: str, tool_input: dict[str, Any], is_error: bool) -> None:
        if is_error:
            self.errors += 1
        elif name in WRITING and tool_input.get("file_path"):
            path = str(tool_input["file_path"])
            if path not in self.written:
                self.written.append(path)
        elif name == "bash":
            self.commands += 1
        else:
            self.reads += 1

    def describe(self) -> str:
        parts = []
        if self.written:
            shown = ", ".join(self.written[:8]) + (f" and {len(self.written) - 8} more" if len(self.written) > 8 else "")
            parts.append(f"changed {shown}")
        if self.commands:
            parts.append(f"ran {self.commands} command{'s' if self.commands != 1 else ''}")
        if self.reads:
            parts.append(f"made {self.reads} read or search call{'s' if self.reads != 1 else ''}")
        what = "; ".join(parts) if parts else "made no tool calls"
        return f"(The agent wrote no summary.) It {what}."


def _texts(message: dict[str, Any], kind: str) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content] if kind == "text" else []
    key = "thinking" if kind == "thinking" else "text"
    return [str(b.get(key) or "").strip() for b in content or [] if isinstance(b, dict) and b.get("type") == kind
            and str(b.get(key) or "").strip()]


def summary_of(messages: list[dict[str, Any]], work: WorkLog) -> str:
    """The last assistant turn's text; else its (or an earlier turn's) last thinking words; else the work log."""
    assistant = [m for m in messages if m.get("role") == "assistant"]
    if assistant:
        texts = _texts(assistant[-1], "text")
        if texts:
            return texts[-1]
    for message in reversed(assistant[-3:]):
        thoughts = _texts(message, "thinking")
        if thoughts:
            return thoughts[-1] + "\n\n" + work.describe()
    return work.describe()
