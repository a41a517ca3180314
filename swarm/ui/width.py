"""How wide output is: the terminal's width on a terminal; piped, every line whole.

rich lays tables and rules out to the console's width, and a console that is
not a terminal is 80 columns: a file name, a task or a summary piped to a file
or to `grep` came out cut ("src/very_long…"). `whole_lines` gives such a
console room for any line; `Heading` and `Fit` keep the two things that would
stretch to that room (a rule, an expanding table) as wide as their content.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

# Room enough for any line a person would pipe; not unbounded, as rich pads some cells to the width.
PIPED_WIDTH = 10_000
# A rule under a heading, piped: as wide as a terminal's would be, or as its title.
PIPED_RULE = 80


def whole_lines(console: Console) -> Console:
    """`console`, made as wide as any line when it does not write to a terminal (a pipe, a file)."""
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    return console


class Heading:
    """A rule with a title: the console's width on a terminal; piped, 80 columns or the title's width."""

    def __init__(self, title: str | Text, style: str = "") -> None:
        self.title = title
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        if not console.is_terminal:
            width = min(width, max(PIPED_RULE, cell_len(str(self.title)) + 4))
        yield from console.render(Rule(self.title, align="left", style=self.style), options.update_width(width))


class Fit:
    """A table that fills a terminal's width (`expand`); piped, as wide as its cells, none of them cut."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not console.is_terminal:
            self.table.expand = False
        yield self.table


class Packed:
    """Short items side by side, as many a line as the width holds (one line when piped), indented."""

    def __init__(self, items: list[Text], indent: int = 2, gap: int = 2) -> None:
        self.items, self.indent, self.gap = items, indent, gap

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = Text(" " * self.indent)
        for item in self.items:
            if line.cell_len > self.indent:
                if line.cell_len + self.gap + item.cell_len > options.max_width:
                    yield line
                    line = Text(" " * self.indent)
                else:
                    line.append(" " * self.gap)
            line.append_text(item)
        if line.cell_len > self.indent:
            yield line
