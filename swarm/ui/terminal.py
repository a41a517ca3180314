"""The review in a terminal: findings and checks first, then the diff by subtask and file, and the `-i` walk.

Every hunk carries a badge with the subtask that made it ("synthesis" for the
synthesis edits); subtasks left out of the merge by a conflict are shown in
red; parts a review dropped are shown dimmed and struck.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from swarm.merge.diffs import FilePatch, Hunk, printable
from swarm.review.selection import Change, RunReview, Selection, check_rows, hunk_key, path_matches
from swarm.run.result import RunResult
from swarm.ui.safe import safe as escape, safe_line, safe_text
from swarm.ui.width import Fit, Heading, Packed

PALETTE = ["cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta"]


def owner_style(review: RunReview, owner: str) -> str:
    if owner == "synthesis":
        return "bold white on purple4"
    index = review.owners.index(owner) if owner in review.owners else 0
    return f"bold black on {PALETTE[index % len(PALETTE)]}"


def badge(review: RunReview, owner: str) -> Text:
    return Text(f" {safe_line(owner)} ", style=owner_style(review, owner))


def _findings(result: RunResult, rechecked: list[dict[str, Any]] | None,
              checks: Any = None) -> list[RenderableType]:
    out: list[RenderableType] = [Heading("checks and findings", "bold")]
    rows = check_rows(checks if checks is not None else result.checks)
    if rows:
        marks = {"pass": "[green]✓[/green]", "fail": "[red]✗[/red]", "error": "[red]![/red]"}
        # As many checks a line as the width holds (a terminal of 80 columns, or whole lines when piped).
        out.append(Packed([Text.from_markup(f"{marks.get(status, '[dim]-[/dim]')} {escape(name)}")
                           for name, status, _ in rows]))
        for name, status, detail in rows:
            if status in ("skipped", "error") and detail:
                out.append(safe_text(f"    {name} {status}: {detail}", "dim"))
    findings = rechecked if rechecked is not None else result.findings
    if rechecked is not None:
        out.append(Text("  (checks re-run on the reviewed result)", style="dim"))
    for f in findings:
        where = ", ".join(f.get("files", []))
        who = ", ".join(f.get("subtasks", []))
        out.append(Text.from_markup(f"  [bold yellow]![/bold yellow] [bold]{escape(f.get('kind', 'finding'))}"
                                    f"[/bold] [dim]{escape(who)}{' · ' + escape(where) if where else ''}[/dim]\n"
                                    f"    {escape(f.get('message', ''))}"))
    for c in result.contradictions:
        status = c.get("status", "open")
        colour = "green" if status == "fixed" else "red"
        out.append(Text.from_markup(f"  [{colour}]{escape(status)}[/{colour}] [bold]contradiction[/bold] "
                                    f"[dim]{escape(', '.join(c.get('subtasks', [])))}[/dim]\n"
                                    f"    {escape(c.get('description', ''))}\n"
                                    f"    [dim]resolution:[/dim] {escape(c.get('resolution', '') or '(none)')}"))
    if not findings and not result.contradictions:
        out.append(Text("  no findings", style="dim"))
    for c in result.conflicts:
        fate = "resolved" if c.get("resolved") else f"{c['subtasks'][-1]} left out of the merged result"
        out.append(Text.from_markup(f"  [bold red]conflict[/bold red] {escape(c['file'])}: "
                                    f"{escape(' and '.join(c['subtasks']))} [red]({escape(fate)})[/red]"))
    return out


def _subtask_table(review: RunReview, selection: Selection | None) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", expand=True)
    for column in ("subtask", "state", "in result", "files", "+/-", "summary"):
        table.add_column(column, overflow="ellipsis", no_wrap=True, ratio=1 if column == "summary" else None)
    changes = {c.owner: c for c in review.changes}
    for st in review.result.subtasks:
        change = changes.get(st.id)
        if change is None:
            inside = "[dim]no[/dim]"
        elif selection is not None:
            inside = "yes" if selection.keeps_owner(st.id) else "[yellow]dropped[/yellow]"
        else:
            inside = "yes" if change.merged else "[red]no: conflict[/red]"
        added = sum(f.added for f in change.files) if change else 0
        removed = sum(f.removed for f in change.files) if change else 0
        summary = (st.summary or st.error or "").strip().splitlines()
        table.add_row(badge(review, st.id), escape(st.state), inside, str(len(change.files) if change else 0),
                      f"[green]+{added}[/green] [red]-{removed}[/red]", escape(summary[0] if summary else ""))
    if "synthesis" in changes:
        change = changes["synthesis"]
        table.add_row(badge(review, "synthesis"), "done", "yes" if selection is None or
                      selection.keeps_owner("synthesis") else "[yellow]dropped[/yellow]", str(len(change.files)),
                      f"[green]+{sum(f.added for f in change.files)}[/green] "
                      f"[red]-{sum(f.removed for f in change.files)}[/red]", escape(change.summary or change.title))
    return table


def hunk_text(review: RunReview, change: Change, fp: FilePatch, hunk: Hunk | None, kept: bool = True) -> Text:
    """One hunk with its subtask's badge, coloured like a diff."""
    text = Text()
    text.append_text(badge(review, change.owner))
    if hunk is None:
        what = "binary file" if fp.binary else fp.kind
        text.append(f" {what} {safe_line(fp.path)}" + (f" (from {safe_line(fp.old_path)})" if fp.old_path else "")
                    + "\n", style="bold")
    else:
        text.append(" " + safe_line(printable(hunk.header).rstrip("\n")) + "\n", style="cyan")
        for line in hunk.lines:
            line = safe_line(printable(line).rstrip("\n"))
            style = {"+": "green", "-": "red", "\\": "dim"}.get(line[:1], "")
            text.append(line + "\n", style=style)
    if not kept:
        text.stylize("dim strike")
    return text


def file_heading(change: Change, fp: FilePatch, conflicted: bool) -> Text:
    name = safe_line(fp.path) + (f" (renamed from {safe_line(fp.old_path)})" if fp.old_path else "")
    heading = Text(f"  {name}", style="bold red" if conflicted else "bold")
    heading.append(f"  {fp.kind}  ", style="dim")
    heading.append(f"+{fp.added}", style="green")
    heading.append(f" -{fp.removed}", style="red")
    if conflicted:
        heading.append("  CONFLICT", style="bold white on red")
    return heading


def _in_scope(change: Change, fp: FilePatch, subtasks: Iterable[str], files: Iterable[str]) -> bool:
    subtasks, files = list(subtasks), list(files)
    if subtasks and change.owner not in subtasks:
        return False
    return not files or any(path_matches(pattern, p) for pattern in files for p in fp.paths)


def render_review(review: RunReview, *, selection: Selection | None = None, subtasks: Iterable[str] = (),
                  files: Iterable[str] = (), reviewed: dict[str, Any] | None = None) -> Group:
    """The whole review as one renderable (narrowed to some subtasks or files when given).

    `reviewed` is review.json: when its checks were re-run, their findings replace the merged result's.
    """
    subtasks, files = list(subtasks), list(files)
    result = review.result
    head = Text.from_markup(
        f"[bold]swarm review[/bold] {review.run_id}  ·  {escape(result.state)}\n"
        f"base {review.base[:10]}  ·  merged {escape(result.merged_branch)} ({review.tip[:10]})")
    parts: list[RenderableType] = [head]
    if result.task:
        parts.append(safe_text(f"task: {result.task}", "italic"))
    if reviewed:
        parts.append(Text.from_markup(f"[bold]reviewed[/bold]: {escape(reviewed.get('description', ''))} → "
                                      f"{escape(reviewed.get('reviewed_branch', ''))} "
                                      f"({reviewed.get('reviewed_commit', '')[:10]}); `swarm apply` takes it"))
    rerun = bool(reviewed and reviewed.get("checks_rerun"))
    parts += _findings(result, reviewed.get("findings") if rerun and reviewed else None,
                       reviewed.get("checks") if rerun and reviewed else None)
    parts += [Heading("subtasks", "bold"), Fit(_subtask_table(review, selection))]
    shown = 0
    for change in review.changes:
        in_scope = [fp for fp in change.files if _in_scope(change, fp, subtasks, files)]
        if not in_scope:
            continue
        conflict_files = {c["file"] for c in change.conflicts}
        title = Text()
        title.append_text(badge(review, change.owner))
        title.append(f" {safe_line(change.title or '')}")
        if change.conflicts:
            others = sorted({s for c in change.conflicts for s in c["subtasks"] if s != change.owner})
            title.append(f"  left out by a conflict with {safe_line(', '.join(others))}", style="bold red")
        if selection is not None and not selection.keeps_owner(change.owner):
            title.append("  dropped", style="yellow")
        parts.append(Heading(title, "red" if change.conflicts else "dim"))
        if change.summary:
            # One escaped line per line of the summary, behind a gutter: an agent's text never passes for swarm's.
            parts.append(Text("\n".join("│ " + safe_line(line) for line in change.summary.strip().splitlines()),
                              style="italic dim"))
        for fp in in_scope:
            parts.append(file_heading(change, fp, fp.path in conflict_files))
            units: list[Hunk | None] = list(fp.hunks) or [None]
            for hunk in units:
                kept = selection is None or (selection.keeps_hunk(change.owner, fp.path, hunk.index) if hunk
                                             else selection.keeps_file(change.owner, fp.path))
                parts.append(hunk_text(review, change, fp, hunk, kept))
                shown += 1
    if not shown:
        parts.append(Text("no changes match" if subtasks or files else "the run changed nothing", style="dim"))
    return Group(*parts)


HELP = """y - keep this hunk
n - drop this hunk
a - keep this hunk and the rest of this file
d - drop this hunk and the rest of this file
q - stop here; hunks not seen yet are kept
? - this help"""


def walk(console: Console, review: RunReview, selection: Selection, ask: Callable[[str], str], *,
         subtasks: Iterable[str] = (), files: Iterable[str] = ()) -> Selection:
    """Ask hunk by hunk, like `git add -p`, and return the selection with the answers applied."""
    subtasks, files = list(subtasks), list(files)
    units = [(c, fp, h) for c, fp, h in review.hunks()
             if selection.keeps_file(c.owner, fp.path) and _in_scope(c, fp, subtasks, files)
             and (h is None or selection.keeps_hunk(c.owner, fp.path, h.index))]
    sticky: dict[tuple[str, str], str] = {}
    last_file = None
    for n, (change, fp, hunk) in enumerate(units, 1):
        where = (change.owner, fp.path)
        if where in sticky:
            answer = sticky[where]
        else:
            if where != last_file:
                console.print(file_heading(change, fp, fp.path in {c["file"] for c in change.conflicts}))
                last_file = where
            console.print(hunk_text(review, change, fp, hunk), end="")
            answer = ""
            while answer not in ("y", "n", "a", "d", "q"):
                answer = ask(f"({n}/{len(units)}) keep this {'hunk' if hunk else 'file'} from "
                             f"{safe_line(change.owner)} [y,n,a,d,q,?]? ").strip().lower()[:1]
                if answer == "?":
                    console.print(HELP)
            if answer == "q":
                console.print(f"stopped: the {len(units) - n + 1} hunk(s) not answered are kept")
                break
            if answer in ("a", "d"):
                sticky[where] = "y" if answer == "a" else "n"
                answer = sticky[where]
        if answer == "n":
            if hunk is None:
                selection.dropped_files.add(where)
            else:
                selection.dropped_hunks.add(hunk_key(change.owner, fp.path, hunk.index))
    return selection
