"""Progress while a run goes, on stderr: a live table on a terminal, plain lines elsewhere. Never both.

On a terminal, one row per subtask (state, turns, files changed, tokens in/out
and cached, cost, time, what it does) and one for the synthesis pass, with the
run's totals and what runs now (the checks, the synthesis) below, redrawn in
place and never wider than the terminal; notes print above it; the table goes
away when the run ends and the summary takes its place. Without a terminal (CI logs, pipes): one plain line per state
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
from typing import Any, Callable, Iterable

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.table import Table
from rich.text import Text

from swarm.model.usage import Usage, compact_tokens, token_cell, token_line
from swarm.ui.safe import safe, safe_text

STATE_STYLE = {"queued": "dim", "running": "cyan", "done": "green", "failed": "red", "skipped": "yellow",
               "cancelled": "yellow", "merged": "green", "conflict": "red", "retrying": "yellow",
               "incomplete": "yellow"}
FINAL = ("done", "incomplete", "failed", "skipped", "cancelled", "conflict")
WRITING_TOOLS = ("write", "edit")
SYNTHESIS = "synthesis"
# The columns, and which are numbers (right-aligned, never cut); the subtask and "doing" give way to the width.
COLUMNS = ("subtask", "state", "turns", "files", "in/out", "cached", "cost", "time", "doing")
NUMERIC = ("turns", "files", "in/out", "cached", "cost", "time")


@dataclass
class Row:
    """What the table shows of one subtask (or of the synthesis pass)."""

    id: str
    state: str = "queued"
    turns: int = 0
    last_tool: str = ""
    files: set[str] = field(default_factory=set)
    usage: Usage = field(default_factory=Usage)
    started: float | None = None
    ended: float | None = None
    detail: str = ""

    @property
    def doing(self) -> str:
        return self.detail or (f"tool: {self.last_tool}" if self.last_tool and self.state == "running" else "")


def waiting_text(data: dict[str, Any]) -> str:
    """What a subtask waits for: "waiting: rate limited (retry in 3s)"."""
    return f"waiting: {data.get('reason') or 'rate limited'} (retry in {float(data.get('seconds') or 0):.0f}s)"


def pass_detail(agent: str) -> str:
    """What the synthesis row says of the agent behind it: the synthesizer, or a resolver."""
    if agent.startswith("resolve-"):
        return f"resolver: the conflict of {agent[len('resolve-'):]}"
    return "synthesizer" if agent == SYNTHESIS else agent


class Board:
    """The live state of a run's subtasks, fed by state changes and activity, drawn as a table.

    Work from agents outside the plan (the synthesizer, a conflict's resolver) goes to one `synthesis`
    row. Thread-safe: the live display redraws from its own thread while the run feeds it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rows: dict[str, Row] = {}
        self.earlier = Usage()  # spent before the agents began: the planner
        self.planned: set[str] = set()
        self.started = clock()
        self.title = ""
        self.phase = ""
        self._lock = threading.Lock()

    def plan(self, subtasks: list[str]) -> None:
        """The plan's subtasks: every other agent's work is the synthesis pass's."""
        self.planned.update(subtasks)
        for sid in subtasks:
            self.row(sid)

    def _key(self, subtask: str) -> str:
        return subtask if not self.planned or subtask in self.planned else SYNTHESIS

    def row(self, subtask: str) -> Row:
        """The row of `subtask` (the synthesis row for an agent outside the plan), made on first use."""
        key = self._key(subtask)
        with self._lock:
            return self.rows.setdefault(key, Row(key))

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
            if row.id == SYNTHESIS and kind in ("turn", "tool"):
                # The synthesis pass records no state of its own: its agents' work says it runs, and which.
                if row.state != "running":
                    row.state, row.started, row.ended = "running", self.clock(), None
                row.detail = pass_detail(subtask)
            elif row.state == "queued" and kind in ("turn", "tool"):
                row.state, row.started = "running", self.clock()
            if kind == "waiting":
                row.detail = waiting_text(data)
            elif kind == "turn":
                if row.detail.startswith("waiting:"):
                    row.detail = ""
                row.turns += 1
                row.usage.add(Usage.from_dict(data.get("usage")))
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
            self.phase = ""
            for row in self.rows.values():
                if row.state == "running":
                    row.state = "done" if state == "done" else "stopped"
                    row.ended = now
                    if row.id == SYNTHESIS:
                        row.detail = ""

    def total(self) -> Usage:
        """The tokens and cost of every row, the synthesis pass's included, and what was spent before
        the agents (`earlier`: the planner), so the total agrees with the run's final line."""
        with self._lock:
            total = Usage()
            total.add(self.earlier)
            for row in self.rows.values():
                total.add(row.usage)
            return total

    def _elapsed(self, row: Row, now: float) -> str:
        if row.started is None:
            return ""
        return f"{(row.ended if row.ended is not None else now) - row.started:.1f}s"

    def _cells(self, row: Row, now: float) -> dict[str, Any]:
        return {"subtask": safe(row.id), "state": safe_text(row.state, STATE_STYLE.get(row.state, "")),
                "turns": str(row.turns), "files": str(len(row.files)), "in/out": token_cell(row.usage),
                "cached": compact_tokens(row.usage.tokens_cached), "cost": f"${row.usage.cost_usd:.4f}",
                "time": self._elapsed(row, now),
                "doing": safe_text(row.doing, "red" if row.state in ("failed", "conflict") else "dim")}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        now = self.clock()
        with self._lock:
            rows = sorted(self.rows.values(), key=lambda r: r.id == SYNTHESIS)  # the synthesis row last
            cells = [self._cells(r, now) for r in rows]
        # A column empty in every row says nothing: it is left out.
        names = [n for n in COLUMNS if n not in ("doing", "time") or any(c[n].plain if isinstance(c[n], Text)
                                                                          else c[n] for c in cells)]
        widths = {n: max([cell_len(n)] + [cell_len(c[n].plain if isinstance(c[n], Text) else c[n])
                                           for c in cells]) for n in names}
        # The numbers keep their width; the subtask's name, then what it does, give way to the console's.
        # Two spaces between columns (a padding and the box's blank divider), none at the edges.
        room = options.max_width - 2 * (len(names) - 1) - sum(w for n, w in widths.items() if n in NUMERIC + ("state",))
        limits = {"subtask": max(7, min(widths["subtask"], room - min(widths.get("doing", 0), room // 2)
                                        if "doing" in names else room))}
        if "doing" in names:
            limits["doing"] = max(5, room - limits["subtask"])
        table = Table(title=self.title or None, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                      pad_edge=False, padding=(0, 1, 0, 0), expand=False)
        for name in names:
            table.add_column(name, justify="right" if name in NUMERIC else "left", no_wrap=True,
                             overflow="ellipsis", max_width=limits.get(name))
        for c in cells:
            table.add_row(*(c[n] for n in names))
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.state] = counts.get(r.state, 0) + 1
        states = " · ".join(f"{n} {s}" for s, n in counts.items())
        total = self.total()
        lines = [Text.from_markup(f"[bold]total[/bold] {states or 'no subtasks yet'} · {now - self.started:.1f}s"),
                 Text(f"tokens {token_line(total)} · ${total.cost_usd:.4f}")]
        if self.phase:
            lines.append(Text(safe(self.phase), style="cyan"))
        for line in lines:  # one line each, never wider than the console (a live display cannot wrap)
            line.truncate(options.max_width, overflow="ellipsis")
        yield Group(table, *lines)


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
        self.board.plan(subtasks)
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

    def phase(self, message: str) -> None:
        """What the run does now, besides the agents (the checks, the synthesis): the table's status line;
        a plain line without a terminal."""
        if message == self.board.phase:
            return
        self.board.phase = message
        if message and not self.live:
            self.note(message)


def checks_phase(kinds: Iterable[str], test_command: str | None, running: Iterable[str] = (),
                 waiting: bool = False) -> str:
    """The status line while the checks run: "checks: test (running the merged tests: pytest), symbol, …".

    The tests come first when they run: they are what takes the time.
    """
    names = [k for k in kinds if k != "test"]
    doing = sorted(set(running), key=lambda at: at != "base")  # two runs of the merged tests read as one
    if doing:
        names.insert(0, f"test (running the {' and the '.join(doing)} tests: {test_command})")
    elif waiting:
        names.insert(0, f"test (waiting for the base's tests: {test_command})")
    elif test_command:
        names.append("test")
    return f"checks: {', '.join(names)}…"
