"""`swarm continue`: a follow-up message to one subtask's agent, then merge, checks and synthesis again."""

from __future__ import annotations

import click

from swarm.cli.context import Context


@click.command("continue")
@click.argument("args", nargs=-1, metavar="[RUN] SUBTASK TEXT")
@click.option("--fresh", is_flag=True, help="Start the subtask over: its original instructions plus TEXT.")
@click.option("--json", "as_json", is_flag=True, help="Print the new result.json on stdout.")
@click.pass_obj
def continue_command(obj: Context, args: tuple[str, ...], fresh: bool, as_json: bool) -> None:
    """Give SUBTASK's agent a follow-up message TEXT and go on from its branch (RUN: the latest run).

    The agent's conversation goes on where it ended, in a worktree at its
    branch; its new commit goes on that branch; then the merge, the checks and
    the synthesis run again for the run, giving a new merged commit (the
    earlier ones stay in .swarm/runs/<run>/followups.json). The other
    subtasks are kept as they are.

    \b
      swarm continue core "Also rename the helper in tests/"
      swarm continue 20261201 docs "Link the new page from the index"
      swarm continue --fresh core "Keep the old name as an alias"
    """
    from swarm.cli.run import finish
    from swarm.config import run_options
    from swarm.model.client import need_client
    from swarm.plan.spec import load_plan
    from swarm.run.followup import FollowUp, continue_subtask
    from swarm.run.records import RunRecords, resolve_run
    from swarm.ui.progress import Progress

    if len(args) not in (2, 3):
        raise click.UsageError('give SUBTASK TEXT, or RUN SUBTASK TEXT (e.g. `swarm continue core "Also ..."`)')
    run_id, subtask, text = (None, *args) if len(args) == 2 else args
    if not text.strip():
        raise click.UsageError("TEXT is empty: say what the agent should do next")
    repo = obj.repo()
    rid = resolve_run(repo.root, run_id)
    info = RunRecords(repo.root, rid).read_json("run.json") or {}
    options = run_options(repo.root, info.get("options"))
    records = RunRecords(repo.root, rid, secrets=options.secrets)
    plan = load_plan(records.dir / "plan.json")
    client = need_client(plan)
    with Progress(obj.err) as progress:
        result = continue_subtask(repo, records, plan, FollowUp(subtask, text, fresh), client=client,
                                  options=options, progress=progress)
    finish(obj, repo, result, as_json)
