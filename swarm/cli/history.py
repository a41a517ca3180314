"""`swarm runs` and `swarm show`: what ran here, and what one agent did."""

from __future__ import annotations

import json
import os

import click
from rich.markup import escape

from swarm.cli.context import Context
from swarm.errors import SelectionError
from swarm.model.usage import compact_tokens
from swarm.run.history import age, list_summaries
from swarm.run.records import RunRecords, resolve_run
from swarm.run.status import run_status


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.pass_obj
def runs(obj: Context, as_json: bool) -> None:
    """List this repository's runs, newest first: id, task, state, age, subtasks, cost, applied."""
    repo = obj.repo()
    summaries = list_summaries(repo.root)
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in summaries], indent=2))
        return
    if not summaries:
        obj.out.print("no runs in this repository yet; start one with `swarm run \"TASK\"`")
        return
    rows = [(s.run_id, " ".join(s.task.split()), s.state, age(s.started), f"{s.done}/{s.subtasks}",
             f"{compact_tokens(s.tokens_in)}/{compact_tokens(s.tokens_out)}", compact_tokens(s.tokens_cached),
             f"${s.cost_usd:.4f}", "yes" if s.applied else "no") for s in summaries]
    header = ("run", "task", "state", "age", "subtasks", "in/out", "cached", "cost", "applied")
    # On a narrow terminal the cached column goes first, then the task gives way; piped, the task is cut at 60.
    width = obj.out.width if obj.out.is_terminal else 200
    keep = list(range(len(header)))
    if width < 100:
        keep.remove(6)
    header = tuple(header[i] for i in keep)
    rows = [tuple(row[i] for i in keep) for row in rows]
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    room = width - sum(widths) + widths[1] - 2 * (len(header) - 1)
    widths[1] = max(len("task"), min(widths[1], 60, room))
    right = {i for i, name in enumerate(header) if name in ("age", "subtasks", "in/out", "cached", "cost")}

    def line(cells: tuple[str, ...]) -> str:
        out = []
        for i, cell in enumerate(cells):
            if len(cell) > widths[i]:
                cell = cell[: widths[i] - 1] + "…"
            out.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    obj.out.print(f"[bold]{escape(line(header))}[/bold]")
    for row in rows:
        obj.out.print(escape(line(row)), soft_wrap=True)


@click.command()
@click.argument("args", nargs=-1, metavar="[RUN] SUBTASK")
@click.option("--no-pager", is_flag=True, help="Print straight to the terminal instead of through a pager.")
@click.pass_obj
def show(obj: Context, args: tuple[str, ...], no_pager: bool) -> None:
    """Show what one subtask's agent did: each turn's text, each tool call and a short result,
    then its summary and the files it changed. RUN defaults to the latest run.

    \b
      swarm show core            subtask core of the latest run
      swarm show 20261201 core   of the run whose id starts with 20261201
    """
    from swarm.ui.transcript import parse, render

    if not 1 <= len(args) <= 2:
        raise click.UsageError("give SUBTASK, or RUN SUBTASK (e.g. `swarm show core`)")
    run_id, subtask = (None, args[0]) if len(args) == 1 else args
    repo = obj.repo()
    rid = resolve_run(repo.root, run_id)
    records = RunRecords(repo.root, rid)
    by_id = {s.id: s.to_dict() for s in run_status(records).result.subtasks}
    if subtask not in by_id:
        raise SelectionError(f"run {rid} has no subtask {subtask!r}; its subtasks: {', '.join(by_id) or '(none)'}")
    view = render(parse(records.transcript_entries(subtask)), subtask=subtask, record=by_id[subtask])
    if obj.out.is_terminal and not no_pager:
        os.environ.setdefault("LESS", "FRX")
        with obj.out.pager(styles=True):
            obj.out.print(view)
    else:
        obj.out.print(view)
