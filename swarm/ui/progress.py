"""Progress while a run goes, on stderr: a live table on a terminal, plain lines elsewhere. Never both.

On a terminal, one row per subtask (state, turns, last tool, files changed,
tokens, cost, elapsed) with the run's totals below, redrawn in place; notes
print above it; the table goes away when the run ends and the summary takes
its place. Without a terminal (CI logs, pipes): one plain line per state
change. stdout stays free for `--json`. The console is passed in, so tests
capture either form.

The coordinator calls `state` on state changes, `note` for run-level news, and
`activity(subtask, kind, **data)` with what it records in events.jsonl:
`turn` (usage=...), `tool` (name=..., path=...), or `files` (paths=[...]).
`swarm watch` feeds the same calls from a run's records.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from swarm.ui.safe import safe, safe_text

STATE_STYLE = {"queued": "dim", "running": "cyan", "done": "green", "failed": "red", "skipped": "yellow",
               "cancelled": "yellow", "merged": "green", "conflict": "red", "retrying": "yellow",
               "incomplete": "yellow"}
FINAL = ("done", "incomplete", "failed", "skipped", "cancelled", "conflict")
WRITING_TOOLS = ("write", "edit")
NUMERIC = ("turns", "files", "tokens in/out", "cost", "elapsed")


@dataclass
class Row:
    """What the table shows of one subtask."""

    id: str
    state: str = "queued"
    turns: int = 0
    last_tool: str = ""
    files: set[str] = field(default_factory=set)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    started: float | None = None
    ended: float | None = None
    detail: str = ""


def waiting_text(data: dict[str, Any]) -> str:
    """What a subtask waits for: "waiting: rate limited (retry in 3s)"."""
    return f"waiting: {data.get('reason') or 'rate limited'} (retry in {float(data.get('seconds') or 0):.0f}s)"


def _tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


class Board:
    """The live state of a run's subtasks, fed by state changes and activity, drawn as a table.

    Thread-safe: the live display redraws from its own thread while the run feeds it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rows: dict[str, Row] = {}
        self.started = clock()
        self.title = ""
        self._lock = threading.Lock()

    def row(self, subtask: str) -> Row:
        with self._lock:
            return self.rows.setdefault(subtask, Row(subtask))

    def state(self, subtask: str, state: str, detail: str = "", at: float | None = None, **data: Any) -> None:
        at = self.clock() if at is None else at
        row = self.row(subtask)
        with self._lock:
            if state == "running" and row.state != "running":
                row.started, row.ended = at, None
            elif state in FINAL and row.started is not None and row.ended is None:
                row.ended = at
            row.state, row.detail = state, detail
            if data.get("files_changed") is not None:
                row.files = set(data["files_changed"])

    def activity(self, subtask: str, kind: str, **data: Any) -> None:
        row = self.row(subtask)
        with self._lock:
            if row.state == "queued" and kind in ("turn", "tool"):
                # Work with no state change recorded (the synthesis pass): it runs.
                row.state, row.started = "running", self.clock()
            if kind == "waiting":
                row.detail = waiting_text(data)
            elif kind == "turn":
                if row.detail.startswith("waiting:"):
                    row.detail = ""
                usage = data.get("usage") or {}
                row.turns += 1
                row.input_tokens += (usage.get("input_tokens") or 0) + (usage.get("cache_read_input_tokens") or 0) \
                    + (usage.get("cache_creation_input_tokens") or 0)
                row.output_tokens += usage.get("output_tokens") or 0
                row.cost += usage.get("cost_usd") or 0.0
            elif kind == "tool":
                row.last_tool = str(data.get("name") or "")
                path = data.get("path")
                if path and row.last_tool in WRITING_TOOLS and not data.get("is_error"):
                    row.files.add(str(path))
            elif kind == "files":
                row.files = set(data.get("paths") or [])
            elif kind == "file":
                row.files.add(str(data["path"]))

    def finish(self, state: str) -> None:
        """The run ended: rows still running ended with it."""
        now = self.clock()
        with self._lock:
            for row in self.rows.values():
                if row.state == "running":
                    row.state = "done" if state == "done" else "stopped"
                    row.ended = now

    def _elapsed(self, row: Row, now: float) -> str:
        if row.started is None:
            return ""
        return f"{(row.ended if row.ended is not None else now) - row.started:.1f}s"

    def __rich__(self) -> RenderableType:
        now = self.clock()
        table = Table(title=self.title or None, title_justify="left", expand=False, pad_edge=False)
        for name in ("subtask", "state", "turns", "last tool", "files", "tokens in/out", "cost", "elapsed", ""):
            table.add_column(name, justify="right" if name in NUMERIC else "left", no_wrap=True,
                             overflow="ellipsis", max_width=48 if name == "" else None)
        with self._lock:
            rows = list(self.rows.values())
            for r in rows:
                style = STATE_STYLE.get(r.state, "")
                table.add_row(safe(r.id), safe_text(r.state, style), str(r.turns), safe(r.last_tool),
                              str(len(r.files)), f"{_tokens(r.input_tokens)}/{_tokens(r.output_tokens)}",
                              f"${r.cost:.4f}", self._elapsed(r, now),
                              safe_text(r.detail, "red" if r.state in ("failed", "conflict") else "dim"))
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.state] = counts.get(r.state, 0) + 1
        states = " · ".join(f"{n} {s}" for s, n in counts.items())
        totals = Text.from_markup(
            f"[bold]total[/bold] {states or 'no subtasks yet'}   tokens {sum(r.input_tokens for r in rows):,} in / "
            f"{sum(r.output_tokens for r in rows):,} out   ${sum(r.cost for r in rows):.4f}   "
            f"{now - self.started:.1f}s")
        return Group(table, totals)


class Progress:
    """Shows a run's progress: a live `Board` on a terminal, plain state lines otherwise.

    Use it as a context manager (or call `close`) so the live table stops cleanly.
    """

    def __init__(self, console: Console | None = None, quiet: bool = False, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console or Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.quiet = quiet
        self.live = (self.console.is_terminal if live is None else live) and not quiet
        self.clock = clock
        self.started = clock()
        self.board = Board(clock)
        self._display: Live | None = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _ensure_live(self) -> None:
        if self.live and self._display is None:
            self._display = Live(self.board, console=self.console, refresh_per_second=4, transient=True,
                                 redirect_stdout=False, redirect_stderr=False)
            self._display.start()

    def close(self) -> None:
        """Stop the live table (it leaves the screen; the caller prints the summary)."""
        if self._display is not None:
            self._display.stop()
            self._display = None

    def begin(self, title: str, subtasks: list[str], started: float | None = None) -> None:
        """Show every subtask from the start, queued, under a title."""
        self.board.title = title
        if started is not None:
            self.started = self.board.started = started
        for sid in subtasks:
            self.board.row(sid)
        self._ensure_live()

    def _stamp(self, at: float | None = None) -> str:
        return f"[dim]{(self.clock() if at is None else at) - self.started:6.1f}s[/dim]"

    def state(self, subtask: str, state: str, detail: str = "", at: float | None = None, **data: Any) -> None:
        """A subtask changed state (`data` may carry files_changed)."""
        self.board.state(subtask, state, detail, at, **data)
        if self.quiet:
            return
        if self.live:
            self._ensure_live()
            return
        style = STATE_STYLE.get(state, "")
        text = f"{self._stamp(at)} {safe(subtask):<14} [{style}]{safe(state):<9}[/{style}]" if style else \
            f"{self._stamp(at)} {safe(subtask):<14} {safe(state):<9}"
        self.console.print(f"{text} {safe(detail)}".rstrip())

    def activity(self, subtask: str, kind: str, **data: Any) -> None:
        """A model turn (`usage=`), a tool call (`name=`, `path=`) or the files changed (`paths=`)."""
        self.board.activity(subtask, kind, **data)
        if kind == "waiting" and not self.quiet and not self.live:
            self.console.print(f"{self._stamp()} {safe(subtask):<14} {safe(waiting_text(data))}")

    def file(self, subtask: str, change: str, path: str, at: float | None = None) -> None:
        """A file changed in a subtask's worktree (shown by `swarm watch`, as it happens)."""
        self.board.activity(subtask, "file", path=path)
        if not self.quiet:
            self.console.print(f"{self._stamp(at)} {safe(subtask):<14} [magenta]{safe(change):<9}[/magenta] "
                               f"{safe(path)}")

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"{self._stamp()} {safe(message)}")
