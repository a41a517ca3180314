"""`swarm status` and `swarm clean`."""

from __future__ import annotations

import json

import click
from rich.table import Table

from swarm.cli.context import Context
from swarm.errors import CleanRefused, SwarmError
from swarm.git.refs import run_branches
from swarm.run.records import RunRecords, list_runs, resolve_run
from swarm.model.usage import Usage, compact_tokens, token_cell, token_line
from swarm.review.gate import state_label
from swarm.run.status import run_status, usage_parts
from swarm.ui.safe import safe


@click.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status(obj: Context, run_id: str | None, as_json: bool) -> None:
    """Show the state of each subtask of RUN (default: the latest run)."""
    repo = obj.repo()
    rid = resolve_run(repo.root, run_id)
    status_ = run_status(RunRecords(repo.root, rid))
    if as_json:
        click.echo(json.dumps(status_.to_dict(), indent=2))
        return
    data = status_.result
    parts = usage_parts(RunRecords(repo.root, rid), data)
    table = Table(title=f"run {rid}: {safe(state_label(data) if not status_.live else data.state)}",
                  title_justify="left")
    numeric = ("files", "turns", "in/out", "cached", "cost", "time")
    for column in ("subtask", "state", *numeric):
        table.add_column(column, justify="right" if column in numeric else "left")

    def cells(usage: Usage) -> tuple[str, str, str]:
        return token_cell(usage), compact_tokens(usage.tokens_cached), f"${usage.cost_usd:.4f}"

    for st in data.subtasks:
        table.add_row(safe(st.id), safe(st.state), str(len(st.files_changed)), str(st.turns), *cells(st.usage),
                      f"{st.seconds:.1f}s")
    # The synthesis pass and the planner are not subtasks, but their tokens are the run's: shown, so the rows
    # add up to the total below (the same total as the live table's, the summary's and the report's).
    failed = bool((data.synthesis or {}).get("error"))
    states = {"synthesis": "running" if status_.live else "failed" if failed else "done", "planner": "done"}
    for name in ("synthesis", "planner"):
        if parts[name].tokens:
            table.add_row(name, states[name], "", "", *cells(parts[name]), "")
    obj.out.print(table)
    obj.out.print(f"tokens {token_line(data.usage)} · ${data.usage.cost_usd:.4f}")
    if data.state == "interrupted" and data.stop_reason:
        obj.out.print(f"run {rid} was interrupted: {safe(data.stop_reason)}")
    if data.merged_branch:
        obj.out.print(f"merged branch: {safe(data.merged_branch)}")


@click.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--all", "all_runs", is_flag=True, help="Clean every run of this repository.")
@click.option("--force", is_flag=True,
              help="Drop work not applied too; a rescue ref refs/swarm-rescue/<run> keeps it for two weeks.")
@click.option("--pool", "pool", is_flag=True, help="Empty the pool of reused worktrees (edits left in one are kept "
              "at a rescue ref first).")
@click.pass_obj
def clean(obj: Context, run_id: str | None, all_runs: bool, force: bool, pool: bool) -> None:
    """Remove the worktrees, branches and records of RUN (default: the latest run), or of --all runs.

    A run whose work is not applied (`swarm apply`) is kept unless --force;
    then its commits stay reachable from refs/swarm-rescue/<run> for two weeks
    (later cleans prune it): `git branch NAME refs/swarm-rescue/<run>` brings
    them back. A run still running is left alone. Worktrees left by killed
    runs are swept. Other runs are never touched. --pool (and --all) also
    empties the pool of reused worktrees.
    """
    from swarm.review.clean import clean_runs

    repo = obj.repo()
    if all_runs and run_id:
        raise click.UsageError("give a RUN or --all, not both")
    if pool or all_runs:  # --all leaves nothing swarm made: the pool's worktrees go too
        from swarm.env.pool import WorktreePool

        removed, busy, problems = WorktreePool(repo).empty()
        if removed or pool:
            obj.out.print(f"emptied the worktree pool: {removed} worktree(s) removed")
        if busy:
            obj.out.print(f"left {len(busy)} pool worktree(s) a running swarm holds ({', '.join(busy)})")
        if problems:
            raise SwarmError("some pool worktrees were left:\n  " + "\n  ".join(problems))
        if not (run_id or all_runs):
            return
    if all_runs:
        ids = list_runs(repo.root)
        # Branches of runs whose records are gone are swept too.
        ids += sorted({b.split("/")[1] for b in repo.branches(run_branches("*"))} - set(ids))
    else:
        ids = [resolve_run(repo.root, run_id)]  # the latest run, like every other command
    report = clean_runs(repo, ids, force=force)
    for rid, ref, kept in report.edits:
        obj.out.print(f"kept {rid}'s uncommitted edits ({safe(', '.join(kept))}) at {ref} (two weeks)")
    for rid, ref in report.rescued:
        obj.out.print(f"kept {rid}'s unapplied work at {ref} (two weeks)")
    for rid, account in report.cleaned:
        obj.out.print(f"cleaned {rid}: {account}")
    if report.swept:
        obj.out.print(f"swept {len(report.swept)} worktree folder(s) left by killed runs")
    if report.pruned:
        obj.out.print(f"pruned {len(report.pruned)} rescue ref(s) older than two weeks")
    if not ids:
        obj.out.print("nothing to clean")
    if report.refused:
        raise CleanRefused("not cleaned:\n  " + "\n  ".join(report.refused))
    if report.errors:
        raise SwarmError("some parts could not be removed:\n  " + "\n  ".join(report.errors))
