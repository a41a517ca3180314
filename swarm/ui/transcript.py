"""One subtask's transcript for a person: turns, tool calls with their main argument, short results.

The transcript records (`.swarm/runs/<run>/transcripts/<id>.jsonl`) hold the
whole conversation as the model saw it. This view keeps what a reviewer reads:
each turn's text (and a short summary of its thinking), each tool call with its
main argument, the first lines of each result with errors marked, and at the
end the subtask's summary and the files it changed. Everything shown comes from
an agent, so it is escaped before it reaches a terminal or a page.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.text import Text

from swarm.ui.safe import safe_line

# The argument a person wants to see first, by tool.
MAIN_ARGUMENT = {"read": "file_path", "write": "file_path", "edit": "file_path", "glob": "pattern",
                 "grep": "pattern", "bash": "command"}
RESULT_LINES = 4
RESULT_CHARS = 300
THINKING_CHARS = 240


@dataclass
class ToolCall:
    """One tool call and what came back."""

    name: str
    argument: str
    result: str = ""
    is_error: bool = False
    answered: bool = False


@dataclass
class Turn:
    """One assistant turn: its text, its thinking, its tool calls."""

    number: int
    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    stop_reason: str | None = None


@dataclass
class Transcript:
    """The turns of one subtask, the messages it was given, and any command it ran."""

    turns: list[Turn] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # user messages: the task, follow-ups
    commands: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tools_called(self) -> list[str]:
        return [call.name for turn in self.turns for call in turn.calls]

    @property
    def final_text(self) -> str:
        for turn in reversed(self.turns):
            if turn.text:
                return turn.text[-1]
        return ""


def clean(text: str) -> str:
    """Agent text made safe for a terminal, line by line (swarm.ui.safe): escapes shown, secrets redacted."""
    return "\n".join(safe_line(line) for line in text.split("\n"))


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # a tool_result's content as blocks
        return "\n".join(str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in value)
    return json.dumps(value, default=str)


def main_argument(name: str, tool_input: Any) -> str:
    """The one argument that says what a call did: the path read, the command run, the pattern searched."""
    if not isinstance(tool_input, dict):
        return ""
    key = MAIN_ARGUMENT.get(name)
    if key and tool_input.get(key) is not None:
        return str(tool_input[key])
    for value in tool_input.values():
        if isinstance(value, str):
            return value
    return json.dumps(tool_input, default=str)[:120] if tool_input else ""


def short(text: str, lines: int = RESULT_LINES, chars: int = RESULT_CHARS) -> str:
    """The first lines of `text`, cut to `chars`, saying how much was left out."""
    all_lines = text.strip().splitlines()
    kept = "\n".join(all_lines[:lines])
    if len(kept) > chars:
        kept = kept[:chars].rstrip() + "…"
    rest = len(all_lines) - lines
    return kept + (f"\n… {rest} more line(s)" if rest > 0 else "")


def parse(entries: Iterable[dict[str, Any]]) -> Transcript:
    """Fold transcript records into turns, pairing each tool call with its result."""
    transcript = Transcript()
    pending: dict[str, ToolCall] = {}
    for entry in entries:
        role = entry.get("role")
        content = entry.get("content")
        if role == "command":
            transcript.commands.append({"command": clean(str(entry.get("command", ""))),
                                        "exit_code": entry.get("exit_code"),
                                        "output": clean(str(entry.get("output", "")))})
        elif role == "assistant":
            turn = Turn(len(transcript.turns) + 1, stop_reason=entry.get("stop_reason"))
            for block in content if isinstance(content, list) else []:
                kind = block.get("type")
                if kind == "text" and str(block.get("text", "")).strip():
                    turn.text.append(clean(str(block["text"]).strip()))
                elif kind == "thinking" and str(block.get("thinking", "")).strip():
                    turn.thinking.append(clean(str(block["thinking"]).strip()))
                elif kind == "tool_use":
                    name = clean(str(block.get("name")))
                    call = ToolCall(name, clean(main_argument(name, block.get("input"))))
                    pending[str(block.get("id"))] = call
                    turn.calls.append(call)
            transcript.turns.append(turn)
        elif role == "user":
            if isinstance(content, str):
                transcript.messages.append(clean(content))
                continue
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "tool_result":
                    call = pending.pop(str(block.get("tool_use_id")), None)
                    if call is not None:
                        call.result = clean(_plain(block.get("content", "")))
                        call.is_error = bool(block.get("is_error"))
                        call.answered = True
                elif block.get("type") == "text" and str(block.get("text", "")).strip():
                    transcript.messages.append(clean(str(block["text"])))
    return transcript


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


def render(transcript: Transcript, *, subtask: str, record: dict[str, Any] | None = None) -> RenderableType:
    """The transcript as rich renderables, every agent-written string escaped."""
    parts: list[RenderableType] = []
    record = record or {}
    state = record.get("state", "")
    parts.append(Text.from_markup(f"[bold]subtask {escape(subtask)}[/bold]"
                                  + (f"  ({escape(str(state))})" if state else "")))
    if transcript.messages:
        lines = [ln for ln in transcript.messages[0].splitlines() if ln.strip() and not ln.startswith("Subtask:")]
        parts.append(Text.from_markup(f"[dim]{escape(_one_line(lines[0] if lines else '', 300))}[/dim]"))
    for follow_up in transcript.messages[1:]:
        parts.append(Text.from_markup(f"\n[bold cyan]follow-up:[/bold cyan] {escape(_one_line(follow_up, 300))}"))
    for command in transcript.commands:
        parts.append(Text.from_markup(f"\n[bold]$ {escape(str(command.get('command', '')))}[/bold]  "
                                      f"[dim]exit {escape(str(command.get('exit_code')))}[/dim]"))
        parts.append(Text(short(str(command.get("output", "")), lines=12, chars=2000)))
    for turn in transcript.turns:
        parts.append(Text.from_markup(f"\n[bold]turn {turn.number}[/bold]"
                                      + (f" [dim]({escape(turn.stop_reason)})[/dim]"
                                         if turn.stop_reason not in (None, "tool_use", "end_turn") else "")))
        for thought in turn.thinking:
            parts.append(Text.from_markup(f"  [dim italic]thinking: {escape(_one_line(thought, THINKING_CHARS))}"
                                          "[/dim italic]"))
        for text in turn.text:
            parts.append(Text("  " + text.replace("\n", "\n  ")))
        for call in turn.calls:
            mark = "[red]✗[/red]" if call.is_error else "[green]→[/green]"
            parts.append(Text.from_markup(f"  [yellow]{escape(call.name)}[/yellow] "
                                          f"{escape(_one_line(call.argument, 160))}"))
            if call.answered:
                body = short(call.result) or "(no output)"
                parts.append(Text.from_markup(f"    {mark} " + escape(body).replace("\n", "\n      ")))
            else:
                parts.append(Text.from_markup("    [dim](no result recorded)[/dim]"))
    summary = clean(str(record.get("summary") or transcript.final_text))
    parts.append(Text.from_markup(f"\n[bold]summary[/bold]: {escape(summary) if summary else '[dim](none)[/dim]'}"))
    files = record.get("files_changed") or []
    parts.append(Text.from_markup(f"[bold]files changed[/bold] ({len(files)}): "
                                  + (escape(clean(", ".join(files))) if files else "[dim]none[/dim]")))
    if record.get("error"):
        parts.append(Text.from_markup(f"[red]error[/red]: {escape(clean(str(record['error'])))}"))
    return Group(*parts)


def render_html(transcript: Transcript) -> str:
    """The same view as HTML, for the report (collapsed by the caller in a <details>)."""
    e = html.escape
    out: list[str] = []
    for message in transcript.messages[1:]:
        out.append(f'<p class="meta">follow-up: {e(_one_line(message, 300))}</p>')
    for command in transcript.commands:
        out.append(f'<p class="mono">$ {e(str(command.get("command", "")))} (exit {e(str(command.get("exit_code")))})</p>'
                   f'<pre class="code">{e(short(str(command.get("output", "")), lines=12, chars=2000))}</pre>')
    for turn in transcript.turns:
        out.append(f'<div class="turn"><div class="meta">turn {turn.number}</div>')
        for thought in turn.thinking:
            out.append(f'<p class="meta"><i>thinking: {e(_one_line(thought, THINKING_CHARS))}</i></p>')
        for text in turn.text:
            out.append(f"<p>{e(text)}</p>")
        for call in turn.calls:
            cls = "bad" if call.is_error else "ok"
            out.append(f'<div class="mono"><b>{e(call.name)}</b> {e(_one_line(call.argument, 160))}</div>'
                       f'<pre class="code {cls}">{e(short(call.result) if call.answered else "(no result)")}</pre>')
        out.append("</div>")
    return "\n".join(out) or '<p class="none">no transcript</p>'
