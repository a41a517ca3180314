"""The command line: builds the objects, wires them together, prints. Nothing else."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .errors import CleanRefused, ConfigError, SwarmError
from .gitrepo import GitRepo
from .plan import Plan, load_plan
from .progress import Progress
from .records import RunRecords, list_runs, new_run_id, resolve_run
from .status import run_status
from .environment import scrubbed_env

CONTEXT = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "SWARM"}


class Context:
    """What every command shares: the consoles (tests swap them) and the repository, found lazily."""

    def __init__(self, repo_path: str) -> None:
        self.repo_path = repo_path
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(file=sys.stderr, highlight=False, soft_wrap=True)

    def repo(self) -> GitRepo:
        return GitRepo.discover(self.repo_path)


def _fail(error: SwarmError) -> click.ClickException:
    exc = click.ClickException(str(error))
    exc.exit_code = error.exit_code
    return exc


@click.group(context_settings=CONTEXT)
@click.option("-C", "repo_path", default=".", metavar="PATH", help="Run as if started in PATH (the repository).")
@click.version_option(package_name="swarm")
@click.pass_context
def main(ctx: click.Context, repo_path: str) -> None:
    """swarm splits a coding task into subtasks, runs one agent per subtask in its own git
    worktree, concurrently, and merges their work into one branch for you to review.

    \b
    Typical use:
      swarm run --plan plan.json     run a plan file (see `swarm run --help`)
      swarm status                   states of the latest run (`swarm watch` follows it live)
      swarm review                   findings, then the diff by subtask (--drop, --keep, -i, --html)
      swarm apply                    the reviewed result onto your branch, as one commit
      swarm clean <run>              remove its worktrees and branches
      swarm demo                     the whole pipeline offline on a sample project
    """
    ctx.obj = Context(repo_path)


def model_client(base_url: str | None = None) -> Any:
    """The model client from the environment, or None when no endpoint is configured."""
    from .model import make_client

    key = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    url = base_url or os.environ.get("ANTHROPIC_BASE_URL")
    if not key and not url:
        return None
    # A local endpoint may need no key, but the SDK wants one to send.
    return make_client(base_url=url, api_key=None if key else "unused")


def execute_plan(obj: Context, repo: GitRepo, plan: Plan, *, client: Any, options: Any, quiet: bool,
                 tool_env: dict[str, str] | None = None, run_id: str | None = None,
                 planning: tuple[float, Any] | None = None) -> dict[str, Any]:
    """Run a plan to its end and return result.json's object (shared by `run` and `demo`)."""
    from .run import Coordinator

    run_id = run_id or new_run_id()
    records = RunRecords(repo.root, run_id)
    # A live table on a terminal, plain lines elsewhere; the context stops the live display cleanly.
    with Progress(obj.err, quiet=quiet) as progress:
        progress.begin(f"run {run_id}", [s.id for s in plan.subtasks])
        coordinator = Coordinator(repo, plan, client, run_id=run_id, records=records, progress=progress,
                                  tool_env=tool_env or scrubbed_env(), options=options)
        if planning:
            coordinator.plan_seconds, coordinator.plan_usage = planning
        return asyncio.run(coordinator.execute())


def print_summary(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"run {result['run_id']}: {result['state']}", title_justify="left")
    for column in ("subtask", "state", "merged", "files", "turns", "time", "cost"):
        table.add_column(column, justify="right" if column in ("files", "turns", "time", "cost") else "left")
    for st in result["subtasks"]:
        table.add_row(st["id"], st["state"], "yes" if st.get("merged") else "no", str(len(st["files_changed"])),
                      str(st.get("turns", 0)), f"{st.get('seconds', 0):.1f}s",
                      f"${st.get('usage', {}).get('cost_usd', 0):.4f}")
    console.print(table)
    for st in result["subtasks"]:
        if st.get("error"):
            console.print(f"[red]{st['id']}[/red]: {st['error']}")
    for c in result.get("conflicts", []):
        console.print(f"[red]conflict[/red] in {c['file']} between {', '.join(c['subtasks'])}: "
                      f"{c['subtasks'][-1]} left out of the merged branch")
    base, merged = result["base_commit"][:10], result["merged_branch"]
    usage = result["usage"]
    console.print(f"merged branch: [bold]{merged}[/bold] ({(result.get('merged_commit') or '')[:10]}); "
                  f"tokens {usage['input_tokens']} in / {usage['output_tokens']} out, "
                  f"{usage['cache_read_input_tokens']} cache reads, ${usage['cost_usd']:.4f}; "
                  f"{result['timings']['total']:.1f}s")
    console.print(f"next: git diff {base} {merged}   ·   swarm status {result['run_id']}   ·   "
                  f"swarm clean {result['run_id']}")


def exit_code_of(result: dict[str, Any]) -> int:
    if result["state"] == "interrupted":
        return 130
    open_conflicts = [c for c in result.get("conflicts", []) if not c.get("resolved")]
    return 0 if result["state"] == "done" and not open_conflicts else 1


def run_options(func: Any) -> Any:
    """The options `run` and `resume` share."""
    options = [
        click.option("--concurrency", type=click.IntRange(1, 256), default=None,
                     help="Agents in flight at once (default 8; fewer while the API says it is overloaded)."),
        click.option("--model", default=None, help="Model name for the agents."),
        click.option("--max-turns", type=click.IntRange(1), default=None, help="Model turns per subtask (default 40)."),
        click.option("--max-output-tokens", type=click.IntRange(1), default=None,
                     help="Output tokens per subtask before it is stopped."),
        click.option("--on-failure", type=click.Choice(["best-effort", "fail-fast", "retry"]), default=None,
                     help="best-effort (default): merge what succeeded; fail-fast: stop everything at the first "
                          "failure; retry: run a failed subtask again in a clean worktree."),
        click.option("--retries", type=click.IntRange(0, 10), default=None,
                     help="Extra attempts per subtask with --on-failure retry (default 2)."),
        click.option("--max-cost", type=click.FloatRange(0, min_open=True), default=None, metavar="USD",
                     help="Stop launching work and stop the agents before the run's cost passes this."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_options(repo: GitRepo, base: dict[str, Any] | None = None, **flags: Any) -> Any:
    """RunOptions from the settings (files, SWARM_* variables) or an earlier session's (resume), then flags.

    The settings that act through the environment (secrets, worktrees, sandbox) are put there for this
    process, so the tools, the records' redaction and the worktree paths all see the same values.
    """
    from .config import SETTINGS, load_config
    from .run import RunOptions
    from .tools import sandbox_available

    config = load_config(repo.root).with_flags(**{k: v for k, v in flags.items() if k in SETTINGS})
    options = RunOptions(**(base or {}))
    if base is None:
        for name in ("model", "concurrency", "max_turns", "on_failure", "max_cost"):
            setattr(options, name, config.get(name))
    for name, value in flags.items():
        if value is not None:
            setattr(options, name, value)
    secrets = [*config.get("secrets"), *filter(None, os.environ.get("SWARM_SECRETS", "").split(","))]
    if secrets:
        os.environ["SWARM_SECRETS"] = ",".join(dict.fromkeys(secrets))
    if config.get("worktrees"):
        os.environ["SWARM_WORKTREES"] = str(config.get("worktrees"))
    sandbox = config.get("sandbox")
    os.environ["SWARM_SANDBOX"] = sandbox
    if sandbox == "require" and not sandbox_available():
        raise ConfigError("sandbox = require, but bubblewrap is missing or refused here "
                          "(apt-get install bubblewrap), so the agents' shell cannot be confined")
    options.test_command = config.get("test_command")
    if config.get("prices"):
        from .model import override_prices

        override_prices(config.get("prices"))
    return options


def need_client(plan: Plan | None) -> Any:
    client = model_client()
    if client is None and (plan is None or any(not s.command for s in plan.subtasks)):
        raise ConfigError("no model endpoint: set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a "
                          "local Messages-API server); try `swarm demo` to see swarm offline")
    return client


def make_plan(obj: Context, repo: GitRepo, task: str | None, plan_file: str | None, each: str | None,
              chunks: int, model: str) -> tuple[Plan, float, Any]:
    """The plan to run: from a file, split by --each, or asked of the planner. Returns (plan, seconds, usage)."""
    import time

    from .planner import Planner, fork_join

    if plan_file and (task or each):
        raise click.UsageError("give either TASK or --plan FILE, not both")
    if plan_file:
        return load_plan(plan_file), 0.0, None
    if not task:
        raise click.UsageError("give a TASK (planned by the model, or split with --each GLOB) or --plan FILE")
    commit = repo.resolve("HEAD")
    if each:
        return fork_join(repo, commit, task, each, chunks), 0.0, None
    planner = Planner(need_client(None), model)
    obj.err.print(f"planning: asking {model} to split the task ...")
    began = time.monotonic()
    plan = asyncio.run(planner.plan(repo, commit, task))
    return plan, time.monotonic() - began, planner.usage


def print_plan(console: Console, plan: Plan, model: str) -> None:
    from .planner import estimate

    forecast = estimate(plan, model)
    table = Table(title=f"plan: {plan.task}", title_justify="left")
    for column in ("layer", "subtask", "title", "files", "depends on"):
        table.add_column(column)
    for depth, layer in enumerate(forecast["layers"]):
        for sid in layer:
            sub = plan.get(sid)
            table.add_row(str(depth), sid, sub.title or (f"$ {sub.command}" if sub.command else ""),
                          ", ".join(sub.files) or "-", ", ".join(sub.depends_on) or "-")
    console.print(table)
    if plan.shared:
        console.print(f"shared contract: {plan.shared}")
    console.print(f"estimate (rough): {forecast['agents']} agent(s), {forecast['commands']} command(s), "
                  f"about {forecast['model_calls']} model calls, {forecast['input_tokens']:,} input and "
                  f"{forecast['output_tokens']:,} output tokens, about ${forecast['cost_usd']:.2f} with {model}")


@main.command()
@click.argument("task", required=False)
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), help="Run this plan file (.json or .toml).")
@click.option("--each", metavar="GLOB", help="Fork-join without a planner: apply TASK to the files matching GLOB.")
@click.option("--chunks", type=click.IntRange(1, 64), default=4, show_default=True,
              help="With --each: number of subtasks, balanced by file size.")
@click.option("--base", default="HEAD", show_default=True, help="Commit the subtasks start from.")
@click.option("--test-cmd", default=None, help="Test command for the checks (overrides the plan's).")
@click.option("--dry-run", is_flag=True, help="Print the plan with an estimate of model calls and cost; run nothing.")
@run_options
@click.option("--json", "as_json", is_flag=True, help="Print result.json on stdout (progress stays on stderr).")
@click.pass_obj
def run(obj: Context, task: str | None, plan_file: str | None, each: str | None, chunks: int, base: str,
        test_cmd: str | None, dry_run: bool, as_json: bool, **flags: Any) -> None:
    """Plan and run TASK, or run a plan file with --plan, in the current repository.

    \b
      swarm run "Rename fetch_user to load_user everywhere"
      swarm run --plan plan.json
      swarm run "Add type hints" --each 'src/**/*.py' --chunks 4

    Each subtask gets a branch swarm/<run>/<id> and a worktree outside your
    checkout; agents run concurrently, layer by layer; their commits are merged
    in memory into swarm/<run>/merged. Your branch, index and working tree are
    never touched. Records go to .swarm/runs/<run>/. Exit 0 when every subtask
    merged, 1 when any failed or conflicted, 2 on bad input, 130 when
    interrupted (continue with `swarm resume`).
    """
    try:
        repo = obj.repo()
        if not repo.has_commits():
            raise ConfigError("the repository has no commits yet; commit your files first")
        options = build_options(repo, None, **flags)
        options.base = base
        repo.resolve(base)
        plan, plan_seconds, plan_usage = make_plan(obj, repo, task, plan_file, each, chunks, options.model)
        plan.test_command = test_cmd or plan.test_command or options.test_command
        if dry_run:
            print_plan(obj.out, plan, options.model)
            return
        client = need_client(plan)
        result = execute_plan(obj, repo, plan, client=client, options=options, quiet=False,
                              planning=(plan_seconds, plan_usage))
    except SwarmError as e:
        raise _fail(e) from None
    finish(obj, result, as_json)


def finish(obj: Context, result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_summary(obj.out, result)
    if result["state"] == "interrupted":
        obj.err.print(f"stopped ({result.get('stop_reason') or 'interrupted'}): work so far is committed on the "
                      f"swarm/{result['run_id']}/* branches; continue with `swarm resume {result['run_id']}`"
                      + (" --max-cost <higher>" if "cost ceiling" in str(result.get("stop_reason")) else ""))
    sys.exit(exit_code_of(result))


@main.command("plan")
@click.argument("task")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="Where to write the plan: a .json or .toml file.")
@click.option("--each", metavar="GLOB", help="Split by files matching GLOB instead of asking the planner.")
@click.option("--chunks", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--model", default=None, help="Model name for the planner.")
def plan_command(task: str, output: str, each: str | None, chunks: int, model: str | None) -> None:
    """Write the plan for TASK to a file, for you to read and edit; then `swarm run --plan FILE`."""
    from .model import DEFAULT_MODEL
    from .plan import dump_plan

    obj: Context = click.get_current_context().find_object(Context)
    if not output.endswith((".json", ".toml")):
        raise click.UsageError("the plan file must end in .json or .toml")
    try:
        repo = obj.repo()
        plan, _, _ = make_plan(obj, repo, task, None, each, chunks, model or DEFAULT_MODEL)
        Path(output).write_text(dump_plan(plan, toml=output.endswith(".toml")), encoding="utf-8")
    except SwarmError as e:
        raise _fail(e) from None
    print_plan(obj.out, plan, model or DEFAULT_MODEL)
    obj.out.print(f"wrote {output}; edit it, then: swarm run --plan {output}")


@main.command()
@click.argument("run_id", metavar="RUN", required=False)
@run_options
@click.option("--json", "as_json", is_flag=True, help="Print result.json on stdout.")
@click.pass_obj
def resume(obj: Context, run_id: str | None, as_json: bool, **flags: Any) -> None:
    """Continue an interrupted, stopped or killed RUN (default: the latest run).

    Finished subtasks are kept; the others run again in clean worktrees; then
    the merge and the rest follow. Flags given here override the run's settings
    (e.g. a higher --max-cost).
    """
    from .run import Coordinator

    try:
        repo = obj.repo()
        rid = resolve_run(repo.root, run_id)
        records = RunRecords(repo.root, rid)
        info = records.read_json("run.json") or {}
        plan = load_plan(records.dir / "plan.json")
        state = run_status(records)
        previous = {s["id"]: s for s in state["subtasks"]}
        if state.get("state") == "done" and all(s.get("merged") for s in state["subtasks"]):
            obj.out.print(f"run {rid} is complete: nothing to resume")
            return
        options = build_options(repo, info.get("options"), **flags)
        client = need_client(plan)
        obj.err.print(f"resuming {rid}: {sum(1 for s in previous.values() if s['state'] == 'done')} of "
                      f"{len(previous)} subtasks kept")
        with Progress(obj.err) as progress:
            progress.begin(f"run {rid}", [s.id for s in plan.subtasks])
            coordinator = Coordinator(repo, plan, client, run_id=rid, records=records,
                                      progress=progress, tool_env=scrubbed_env(), options=options,
                                      previous=previous, base=info.get("base_commit"))
            result = asyncio.run(coordinator.execute())
    except SwarmError as e:
        raise _fail(e) from None
    finish(obj, result, as_json)


@main.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status(obj: Context, run_id: str | None, as_json: bool) -> None:
    """Show the state of each subtask of RUN (default: the latest run)."""
    try:
        repo = obj.repo()
        rid = resolve_run(repo.root, run_id)
        data = run_status(RunRecords(repo.root, rid))
    except SwarmError as e:
        raise _fail(e) from None
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"run {rid}: {data['state']}", title_justify="left")
    for column in ("subtask", "state", "files", "turns", "tokens in/out", "cost", "time"):
        table.add_column(column)
    for st in data["subtasks"]:
        usage = st.get("usage") or {}
        table.add_row(st["id"], st["state"], str(len(st.get("files_changed", []))), str(st.get("turns", 0)),
                      f"{usage.get('input_tokens', 0)}/{usage.get('output_tokens', 0)}",
                      f"${usage.get('cost_usd', 0):.4f}", f"{st.get('seconds', 0):.1f}s")
    obj.out.print(table)
    if data.get("merged_branch"):
        obj.out.print(f"merged branch: {data['merged_branch']}")


@main.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--all", "all_runs", is_flag=True, help="Clean every run of this repository.")
@click.option("--force", is_flag=True,
              help="Drop work not applied too; a rescue ref refs/swarm-rescue/<run> keeps it for two weeks.")
@click.pass_obj
def clean(obj: Context, run_id: str | None, all_runs: bool, force: bool) -> None:
    """Remove the worktrees, branches and records of RUN (or of --all runs).

    A run whose work is not applied (`swarm apply`) is kept unless --force;
    then its commits stay reachable from refs/swarm-rescue/<run> for two weeks
    (later cleans prune it): `git branch NAME refs/swarm-rescue/<run>` brings
    them back. A run still running is left alone. Worktrees left by killed
    runs are swept. Other runs are never touched.
    """
    from .cleanup import clean_runs

    try:
        repo = obj.repo()
        if all_runs and run_id:
            raise click.UsageError("give a RUN or --all, not both")
        if all_runs:
            ids = list_runs(repo.root)
            # Branches of runs whose records are gone are swept too.
            ids += sorted({b.split("/")[1] for b in repo.branches("swarm/*/*")} - set(ids))
        elif run_id:
            ids = [resolve_run(repo.root, run_id)]
        else:
            raise click.UsageError("name a RUN to clean, or --all")
        report = clean_runs(repo, ids, force=force)
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
    except SwarmError as e:
        raise _fail(e) from None


@main.command()
@click.option("--dir", "target", type=click.Path(file_okay=False), default=None,
              help="Where to put the sample project (default: a new temporary folder).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print result.json on stdout.")
@click.pass_obj
def demo(obj: Context, target: str | None, concurrency: int, as_json: bool) -> None:
    """Run the whole pipeline offline on a bundled sample project.

    The sample (a small Python package with its tests) is copied to a new git
    repository and refactored by five parallel subtasks. Without
    ANTHROPIC_API_KEY, the model is a scripted model served on 127.0.0.1
    through the Messages API, so the real client path runs with no network.
    """
    from .demo import run_demo

    try:
        result = run_demo(obj, target=Path(target) if target else None, concurrency=concurrency,
                          as_json=as_json)
    except SwarmError as e:
        raise _fail(e) from None
    sys.exit(exit_code_of(result))


# Commands that live in their own modules, registered here so `main` lists them all.
from .cli_review import apply_command, config_command, review, watch  # noqa: E402
from .cli_test import test_command  # noqa: E402

for _command in (review, apply_command, watch, config_command, test_command):
    main.add_command(_command)
