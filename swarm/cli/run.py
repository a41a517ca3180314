"""`swarm run`, `swarm plan` and `swarm resume`: from a task or a plan to a merged branch."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from swarm.cli.context import Context, keep_stdout_for_json, need_output_folder
from swarm.config import SETTINGS, default_help, price_table, run_options
from swarm.errors import BadInput, ConfigError, PlanError, SwarmError
from swarm.git.refs import run_branches
from swarm.git.repo import GitRepo
from swarm.model.client import need_client
from swarm.model.usage import usd
from swarm.plan.make import make_plan
from swarm.plan.spec import load_plan
from swarm.review.gate import Gate, result_findings
from swarm.run.execute import execute_plan
from swarm.run.preflight import notes_in_background, warm_up
from swarm.run.records import RunRecords, resolve_run
from swarm.run.result import RESULT_FILE, RunResult
from swarm.run.status import run_status
from swarm.ui.safe import safe
from swarm.ui.summary import print_plan, print_summary


def shared_run_options(func: Any) -> Any:
    """The options `run` and `resume` share."""
    options = [
        click.option("--concurrency", type=click.IntRange(1, 256), default=None, metavar="N",
                     help=f"Agents in flight at once, fewer while the API says it is overloaded "
                          f"{default_help('concurrency')}."),
        click.option("--model", default=None, metavar="NAME",
                     help=f"Model name for the agents {default_help('model')}."),
        click.option("--max-turns", type=click.IntRange(1), default=None, metavar="N",
                     help=f"Model turns per subtask; one that runs out is incomplete {default_help('max_turns')}."),
        click.option("--max-tokens", type=click.IntRange(1), default=None, metavar="N",
                     help="Output tokens per model turn (default: the model's, e.g. 64000, capped at its maximum)."),
        click.option("--effort", type=click.Choice(["low", "medium", "high", "xhigh", "max"]), default=None,
                     help="Thinking depth (default: the model's own, e.g. high on claude-sonnet-5-5)."),
        click.option("--thinking", type=click.Choice(["adaptive", "minimal"]), default=None,
                     help="adaptive (default), or minimal: the lowest setting the model accepts."),
        click.option("--max-output-tokens", type=click.IntRange(1), default=None, metavar="N",
                     help="Output tokens per subtask before it is stopped."),
        click.option("--on-failure", type=click.Choice(["best-effort", "fail-fast", "retry"]), default=None,
                     help="best-effort: merge what succeeded; fail-fast: stop everything at the first "
                          "failure; retry: run a failed subtask again in a clean worktree "
                          f"{default_help('on_failure')}."),
        click.option("--retries", type=click.IntRange(0, 10), default=None, metavar="N",
                     help=f"Extra attempts per subtask with --on-failure retry {default_help('retries')}."),
        click.option("--max-cost", type=click.FloatRange(0, min_open=True), default=None, metavar="USD",
                     help="Stop launching work and stop the agents before the run's cost passes this "
                          f"{default_help('max_cost')}."),
        click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
                     help="Where each subtask's workspace lives: this machine, or a Ray cluster node "
                          f"{default_help('executor')}."),
        click.option("--ray-address", default=None, metavar="ADDR",
                     help="The Ray cluster for --executor ray (default: the ray_address setting, RAY_ADDRESS, "
                          "else a new local instance)."),
        click.option("--sandbox", type=click.Choice(["auto", "require", "off"]), default=None,
                     help="auto: confine the agents' bash with bubblewrap where it works, refuse it where not; "
                          "require: stop unless it works; off: run it unconfined, with your rights "
                          f"{default_help('sandbox')}. `swarm doctor` says what the sandbox does here."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


EXIT_CODES = """\b
Exit codes:
  0    every subtask merged and no blocking finding remains
  1    a subtask failed, a conflict stayed open, blocking findings remain, or you answered no
  2    bad input (a plan, a flag, a setting)
  3    stopped by --max-cost (the planner's spend counts); `swarm resume RUN --max-cost <higher>`
  130  interrupted (Ctrl-C); `swarm resume RUN` continues
"""


@click.command(epilog=EXIT_CODES)
@click.argument("task", required=False)
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), help="Run this plan file (.json or .toml).")
@click.option("--each", metavar="GLOB", help="Fork-join without a planner: apply TASK to the files matching GLOB.")
@click.option("--chunks", type=click.IntRange(1, 64), default=4, show_default=True, metavar="N",
              help="With --each: number of subtasks, balanced by file size.")
@click.option("--base", default="HEAD", show_default=True, metavar="REF", help="Commit the subtasks start from.")
@click.option("--test-cmd", default=None, metavar="CMD", help="Test command for the checks (overrides the plan's).")
@click.option("--dry-run", is_flag=True, help="Print the plan with an estimate of model calls and cost; run nothing.")
@shared_run_options
@click.option("--json", "as_json", is_flag=True, help="Print result.json on stdout (progress stays on stderr).")
@click.option("-y", "--yes", is_flag=True,
              help="Do not ask before spending: on a terminal, a run whose estimate is above the "
                   f"confirm_above_usd setting asks first (built in: ${SETTINGS['confirm_above_usd'].default:.2f}).")
@click.pass_obj
def run(obj: Context, task: str | None, plan_file: str | None, each: str | None, chunks: int, base: str,
        test_cmd: str | None, dry_run: bool, as_json: bool, yes: bool, **flags: Any) -> None:
    """Plan and run TASK, or run a plan file with --plan, in the current repository.

    \b
      swarm run "Rename fetch_user to load_user everywhere"
      swarm run --plan plan.json
      swarm run "Add type hints" --each 'src/**/*.py' --chunks 4

    Each subtask gets a branch swarm/<run>/<id> and a worktree outside your
    checkout; agents run concurrently, layer by layer; their commits are merged
    in memory into swarm/<run>/merged. Your branch, index and working tree are
    never touched. Records go to .swarm/runs/<run>/. On a terminal, a run
    estimated above the confirm_above_usd setting asks before the agents start
    (--yes does not ask; scripts are never asked).
    """
    need_each_for_chunks(each)
    import_sdk_in_background()
    repo = obj.repo()
    warm_up(repo.root)  # the sandbox probe and the test Python, while the SDK imports
    if not repo.has_commits():
        raise ConfigError("the repository has no commits yet; commit your files first")
    options = run_options(repo.root, None, **flags)
    options.base = base
    try:
        repo.resolve(base)
    except SwarmError:
        raise BadInput(f"--base {base}: not a commit in this repository; give a branch, tag or commit "
                       "(e.g. --base HEAD)") from None
    plan, plan_seconds, plan_usage = make_plan(repo, task, plan_file, each, chunks, options.model, say=obj.err.print,
                                               options=options)
    plan.test_command = test_cmd or plan.test_command or options.test_command
    if dry_run:
        from swarm.plan.planner import tracked_sizes

        print_plan(obj.out, plan, options.model, prices=price_table(options),
                   sizes=dict(tracked_sizes(repo, repo.resolve(base))))
        return
    # The first line before the model client (and its SDK, over a second to import) is ready.
    obj.err.print(f"swarm: {len(plan.subtasks)} subtask(s) of \"{safe(plan.task[:60])}\"; preparing the run ...")
    notes = notes_in_background(repo, options.base, plan)  # said by the run as soon as they are known
    from swarm.cli.confirm import go_on

    said: list[bool] = []

    def say_notes() -> None:  # before a question about spending: they may change the answer
        for note in notes.result():
            obj.err.print(f"note: {safe(note)}")
        said.append(True)

    if not yes and not go_on(obj, repo, plan, options, plan_usage, before_asking=say_notes):
        sys.exit(1)  # on a terminal, above the threshold, and the answer was no
    client = need_client(plan)
    json_out = keep_stdout_for_json() if as_json and options.executor == "ray" else None
    result = execute_plan(repo, plan, client=client, options=options, console=obj.err,
                          planning=(plan_seconds, plan_usage), notes=None if said else notes)
    finish(obj, repo, result, as_json, json_out)


def need_each_for_chunks(each: str | None) -> None:
    """--chunks given without --each would be ignored: say so (exit 2) rather than drop it silently."""
    ctx = click.get_current_context()
    if not each and ctx.get_parameter_source("chunks") is not click.core.ParameterSource.DEFAULT:
        raise BadInput("--chunks goes with --each GLOB (it sets how many subtasks the files are split into); "
                       "add --each GLOB or leave --chunks out")


def import_sdk_in_background() -> None:
    """Start importing the model SDK on a thread: it takes over a second, and the plan and the repository
    can be read meanwhile (the import lock makes a later `import anthropic` wait for this one)."""
    import threading

    threading.Thread(target=_import_sdk, daemon=True, name="swarm-import-sdk").start()


def _import_sdk() -> None:
    """Import the SDK with the garbage collector paused (its thousands of new objects are no garbage: the
    collections it would run take a tenth of a second), then freeze what exists, so later collections of
    the run skip the SDK's classes."""
    import gc
    import importlib

    enabled = gc.isenabled()
    gc.disable()
    try:
        importlib.import_module("anthropic")
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def finish(obj: Context, repo: GitRepo, result: RunResult, as_json: bool, json_out: Any = None) -> None:
    """Print the result (or its JSON), say how to continue an interrupted run, and exit with its code."""
    if result.state == "interrupted":
        # Stopped and kept: another Ctrl-C while this prints and exits must not change exit 130 into death by signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if as_json:
        # result.json itself: the same object, with the secrets' values redacted as in every record.
        click.echo(json.dumps(RunRecords(repo.root, result.run_id).read_json(RESULT_FILE), indent=2), file=json_out)
        if json_out is not None:
            json_out.flush()
    else:
        print_summary(obj.out, result)
    if result.stopped_by_ceiling:
        obj.err.print(f"stopped by the cost ceiling: spent {usd(result.usage.cost_usd)} of --max-cost "
                      f"{usd(result.max_cost or 0)} (the planner's share included); work so far is committed on the "
                      f"{run_branches(result.run_id)} branches; continue with "
                      f"`swarm resume {result.run_id} --max-cost <higher>`")
    elif result.state == "interrupted":
        obj.err.print(f"stopped ({safe(result.stop_reason or 'interrupted')}): work so far is committed on the "
                      f"{run_branches(result.run_id)} branches; continue with `swarm resume {result.run_id}`")
    code = result.exit_code
    blocking = Gate.of(result_findings(result)).blocking
    if code == 0 and blocking:
        # Scripts and CI rely on the exit code: a result its own checks call broken is not a success.
        obj.err.print(f"{len(blocking)} blocking finding(s) remain after synthesis: `swarm review "
                      f"{result.run_id}` to read them; `swarm apply` refuses until they are fixed (or --force)")
        code = 1
    if code == 130:
        from swarm.runtime import exit_interrupted

        exit_interrupted(130)
    sys.exit(code)


@click.command("plan")
@click.argument("task")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), required=True,
              help="Where to write the plan: a .json or .toml file, or - for stdout (JSON).")
@click.option("--each", metavar="GLOB", help="Split by files matching GLOB instead of asking the planner.")
@click.option("--chunks", type=click.IntRange(1, 64), default=4, show_default=True, metavar="N",
              help="With --each: number of subtasks, balanced by file size.")
@click.option("--model", default=None, metavar="NAME", help=f"Model name for the planner {default_help('model')}.")
@click.pass_obj
def plan_command(obj: Context, task: str, output: str, each: str | None, chunks: int, model: str | None) -> None:
    """Write the plan for TASK to a file, for you to read and edit; then `swarm run --plan FILE`.

    A plan the planner could not make valid is written all the same, with
    its problems listed (exit 1): fix them in the file, then run it.
    """
    from swarm.errors import InvalidPlan
    from swarm.model.catalog import DEFAULT_MODEL
    from swarm.plan.spec import dump_plan

    need_each_for_chunks(each)
    to_stdout = output == "-"
    if not to_stdout and not output.endswith((".json", ".toml")):
        raise PlanError("the plan file must end in .json or .toml (or give -o - for stdout)")
    if not to_stdout:
        need_output_folder(output, "-o")
    repo = obj.repo()
    from swarm.config import load_config

    model = model or load_config(repo.root).get("model") or DEFAULT_MODEL
    toml = output.endswith(".toml")
    try:
        plan, _, _ = make_plan(repo, task, None, each, chunks, model, say=obj.err.print)
    except InvalidPlan as invalid:
        # Two paid planner calls made this: keep it for the user to fix instead of asking again.
        _write_plan(output, dump_plan(invalid.data, toml=toml))
        problems = str(invalid).splitlines()[:-1]  # the last line's advice is replaced by the one below
        obj.err.print("[red]error[/red]: " + "\n".join(safe(line) for line in problems))
        where = "the plan above" if to_stdout else output
        obj.err.print(f"wrote {where} as the planner left it; fix the problems, then: "
                      f"swarm run --plan {'FILE' if to_stdout else output}")
        sys.exit(1)
    _write_plan(output, dump_plan(plan, toml=toml))
    if to_stdout:
        return
    print_plan(obj.out, plan, model)
    obj.out.print(f"wrote {output}; edit it, then: swarm run --plan {output}")


def _write_plan(output: str, text: str) -> None:
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")


@click.command(epilog=EXIT_CODES)
@click.argument("run_id", metavar="[RUN]", required=False)
@shared_run_options
@click.option("--json", "as_json", is_flag=True, help="Print result.json on stdout.")
@click.pass_obj
def resume(obj: Context, run_id: str | None, as_json: bool, **flags: Any) -> None:
    """Continue an interrupted, stopped or killed RUN (default: the latest run).

    Finished subtasks are kept; the others run again in clean worktrees; then
    the merge and the rest follow. Flags given here override the run's settings
    (e.g. a higher --max-cost).
    """
    repo = obj.repo()
    rid = resolve_run(repo.root, run_id)
    records = RunRecords(repo.root, rid)
    info = records.read_json("run.json") or {}
    plan = load_plan(records.dir / "plan.json")
    state = run_status(records).result
    previous = {s.id: s for s in state.subtasks}
    if state.state == "done" and all(s.merged for s in state.subtasks):
        obj.out.print(f"run {rid} is complete: nothing to resume")
        return
    options = run_options(repo.root, info.get("options"), **flags)
    client = need_client(plan)
    from swarm.review.clean import rescue_edits

    # Unfinished subtasks start over in clean worktrees: first keep what a killed agent left uncommitted.
    ref, kept, errors = rescue_edits(repo, rid, "`swarm resume`")
    if errors:
        raise SwarmError("not resumed: " + "; ".join(errors))
    if ref:
        obj.err.print(f"kept uncommitted edits of {safe(', '.join(kept))} at {ref}")
    obj.err.print(f"resuming {rid}: {sum(1 for s in previous.values() if s.state == 'done')} of "
                  f"{len(previous)} subtasks kept")
    json_out = keep_stdout_for_json() if as_json and options.executor == "ray" else None
    result = execute_plan(repo, plan, client=client, options=options, console=obj.err, run_id=rid,
                          previous=previous, base=info.get("base_commit"))
    finish(obj, repo, result, as_json, json_out)
