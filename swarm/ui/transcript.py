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
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.text import Text

from swarm.agent.summary import WorkLog
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
    notes: list[str] = field(default_factory=list)  # what the agent was told just before (its turn budget)


@dataclass
class Session:
    """One conversation of the subtask's agent: the first, one after a resume or a retry, or a follow-up
    (`swarm continue`); its turns are `Transcript.turns[start:end]`."""

    kind: str  # "start", "restart" or "follow-up"
    message: str
    start: int
    end: int | None = None


@dataclass
class Transcript:
    """The turns of one subtask, the messages it was given, and any command it ran."""

    turns: list[Turn] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # user messages: the task, follow-ups, notes
    commands: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)  # in the order they ran

    def session_turns(self, session: Session) -> list[Turn]:
        return self.turns[session.start:session.end]

    def work_line(self) -> str:
        """What every tool call of every session did, as an agent's summary says it when it wrote none."""
        work = WorkLog()
        for turn in self.turns:
            for call in turn.calls:
                work.add(call.name, {"file_path": call.argument}, call.is_error)
        return work.describe()

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
    ended = False  # the last assistant turn ended the conversation: a message now is a follow-up
    notes: list[str] = []

    def given(message: str) -> None:
        """A message the agent was given: a conversation's first, a follow-up, or a note within one."""
        transcript.messages.append(message)
        kind = "start" if not transcript.sessions else "restart" if message.startswith("Subtask:") else \
            "follow-up" if ended else None
        if kind is None:
            notes.append(message)
            return
        if transcript.sessions:
            transcript.sessions[-1].end = len(transcript.turns)
        transcript.sessions.append(Session(kind, message, len(transcript.turns)))

    for entry in entries:
        role = entry.get("role")
        content = entry.get("content")
        if role == "command":
            transcript.commands.append({"command": clean(str(entry.get("command", ""))),
                                        "exit_code": entry.get("exit_code"),
                                        "output": clean(str(entry.get("output", "")))})
        elif role == "assistant":
            if not transcript.sessions:
                transcript.sessions.append(Session("start", "", 0))
            turn = Turn(len(transcript.turns) + 1, stop_reason=entry.get("stop_reason"), notes=notes)
            notes = []
            ended = entry.get("stop_reason") in ("end_turn", "stop_sequence")
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
                given(clean(content))
                ended = False
                continue
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "tool_result":
                    call = pending.pop(str(block.get("tool_use_id")), None)
                    if call is not None:
                        call.result = clean(_plain(block.get("content", "")))
                        call.is_error = bool(block.get("is_error"))
                        call.answered = True
                elif block.get("type") == "text" and str(block.get("text", "")).strip():
                    given(clean(str(block["text"])))
            ended = False
    return transcript


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


NO_SUMMARY = re.compile(r"\(The agent wrote no summary\.\) It [^\n]*\.$")


def _task_line(message: str) -> str:
    lines = [ln for ln in message.splitlines() if ln.strip() and not ln.startswith("Subtask:")]
    return _one_line(lines[0].removeprefix("Title: ") if lines else "", 300)


def session_title(session: Session) -> str:
    """A session's header: how it began, and with what."""
    if session.kind == "follow-up":
        return f"follow-up: {_one_line(session.message, 300)}"
    if session.kind == "restart":  # a resume or a retry; told of its work so far when it had some
        return "started again from its work so far" if "Your work so far" in session.message else "started over"
    return _task_line(session.message) or "started"


def _render_turn(turn: Turn) -> list[RenderableType]:
    parts: list[RenderableType] = []
    for note in turn.notes:
        parts.append(Text.from_markup(f"\n  [dim]note: {escape(_one_line(note, 300))}[/dim]"))
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
    return parts


def render(transcript: Transcript, *, subtask: str, record: dict[str, Any] | None = None) -> RenderableType:
    """The transcript as rich renderables, every agent-written string escaped."""
    parts: list[RenderableType] = []
    record = record or {}
    state = record.get("state", "")
    parts.append(Text.from_markup(f"[bold]subtask {escape(subtask)}[/bold]"
                                  + (f"  ({escape(str(state))})" if state else "")))
    several = len(transcript.sessions) > 1
    if transcript.sessions and not several:
        parts.append(Text.from_markup(f"[dim]{escape(_task_line(transcript.sessions[0].message))}[/dim]"))
    for command in transcript.commands:
        parts.append(Text.from_markup(f"\n[bold]$ {escape(str(command.get('command', '')))}[/bold]  "
                                      f"[dim]exit {escape(str(command.get('exit_code')))}[/dim]"))
        parts.append(Text(short(str(command.get("output", "")), lines=12, chars=2000)))
    for n, session in enumerate(transcript.sessions, 1):
        if several:
            parts.append(Text.from_markup(f"\n[bold cyan]── session {n}: {escape(session_title(session))}"
                                          "[/bold cyan]"))
        for turn in transcript.session_turns(session):
            parts.extend(_render_turn(turn))
    summary = clean(str(record.get("summary") or transcript.final_text))
    # A summary the agent did not write tells its last session's calls only: told again from every session's.
    summary = NO_SUMMARY.sub(transcript.work_line(), summary) if transcript.turns else summary
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
    for command in transcript.commands:
        out.append(f'<p class="mono">$ {e(str(command.get("command", "")))} (exit {e(str(command.get("exit_code")))})</p>'
                   f'<pre class="code">{e(short(str(command.get("output", "")), lines=12, chars=2000))}</pre>')
    sessions = {s.start: (n, s) for n, s in enumerate(transcript.sessions, 1)} if len(transcript.sessions) > 1 else {}
    for index, turn in enumerate(transcript.turns):
        if index in sessions:
            n, session = sessions.pop(index)
            out.append(f'<p class="meta"><b>session {n}: {e(session_title(session))}</b></p>')
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
