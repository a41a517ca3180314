"""Progress while a run goes: one plain line per state change, on stderr.

stdout stays free for `--json`. A console can be passed in so tests capture output.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.markup import escape

STATE_STYLE = {"queued": "dim", "running": "cyan", "done": "green", "failed": "red", "skipped": "yellow",
               "cancelled": "yellow", "merged": "green", "conflict": "red"}


class Progress:
    """Prints state changes as they happen, prefixed by the time since the run began."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.quiet = quiet
        self.started = time.monotonic()

    def _stamp(self) -> str:
        return f"[dim]{time.monotonic() - self.started:6.1f}s[/dim]"

    def state(self, subtask: str, state: str, detail: str = "") -> None:
        if self.quiet:
            return
        style = STATE_STYLE.get(state, "")
        text = f"{self._stamp()} {escape(subtask):<14} [{style}]{state:<9}[/{style}]" if style else \
            f"{self._stamp()} {escape(subtask):<14} {state:<9}"
        self.console.print(f"{text} {escape(detail)}".rstrip())

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"{self._stamp()} {escape(message)}")
