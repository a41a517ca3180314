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
from rich.markup import escape
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


@main.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--subtask", "subtasks", multiple=True, metavar="ID",
              help="Show (or with -i, walk) only this subtask's changes. Repeatable.")
@click.option("--file", "files", multiple=True, metavar="PATH",
              help="Show (or with -i, walk) only changes to PATH: a file, a folder or a glob. Repeatable.")
@click.option("--drop", multiple=True, metavar="ID|PATH",
              help="Leave out a subtask's changes, or a file's (a path, folder or glob). Repeatable.")
@click.option("--keep", multiple=True, metavar="ID|PATH",
              help="Keep only these subtasks or files (a subtask left out by a conflict can be kept). Repeatable.")
@click.option("-i", "--interactive", is_flag=True,
              help="Walk the hunks one by one, like `git add -p`: y keep, n drop, q stop (the rest is kept).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the review as one self-contained HTML page.")
@click.option("--reset", is_flag=True, help="Forget the review: `swarm apply` takes the merged result again.")
@click.option("--test", "run_tests", is_flag=True,
              help="When choosing, re-run the plan's test command on the reviewed result too (the other checks "
                   "always re-run).")
@click.option("--no-pager", is_flag=True, help="Print straight to the terminal instead of through a pager.")
@click.pass_obj
def review(obj: Context, run_id: str | None, subtasks: tuple[str, ...], files: tuple[str, ...],
           drop: tuple[str, ...], keep: tuple[str, ...], interactive: bool, html_file: str | None, reset: bool,
           run_tests: bool, no_pager: bool) -> None:
    """Review RUN (default: the latest): findings and checks, then the merged diff by subtask and file.

    Every hunk is labelled with the subtask that made it ("synthesis" for the
    consistency edits made after the merge); subtasks left out by a conflict
    are shown in red. --drop, --keep and -i choose what to keep: the reviewed
    result is rebuilt from the kept parts as swarm/<run>/reviewed (your branch
    is not touched) and `swarm apply` takes it. Each choosing review starts
    from the whole merged result.

    \b
      swarm review                       read it (through a pager on a terminal)
      swarm review --drop docs           everything but subtask docs
      swarm review --drop 'tests/**'     everything but the tests
      swarm review -i --subtask core     decide hunk by hunk for subtask core
      swarm review --html review.html    a page to read in a browser
    """
    from .errors import SelectionError
    from .rebuild import build_reviewed, load_reviewed, reset_review
    from .report_html import render_html
    from .review import Selection, load_review, select, warnings
    from .review_view import render_review, walk

    try:
        repo = obj.repo()
        rid = resolve_run(repo.root, run_id)
        records = RunRecords(repo.root, rid)
        if reset:
            had = reset_review(repo, records)
            obj.out.print(f"review of {rid} forgotten; `swarm apply` takes the merged result" if had
                          else f"run {rid} had no review")
            if not (drop or keep or interactive or html_file):
                return
        rv = load_review(repo, records)
        unknown = [s for s in subtasks if s not in rv.owners]
        if unknown:
            raise SelectionError(f"--subtask {', '.join(unknown)}: not a subtask with changes in run {rid}; "
                                 f"those are: {', '.join(rv.owners) or '(none)'}")
        reviewed = load_reviewed(repo, records)
        choosing = bool(drop or keep or interactive)
        selection: Selection | None = Selection.from_dict(reviewed) if reviewed else None
        if choosing:
            chosen = select(rv, list(drop), list(keep))
            if interactive:
                def ask(prompt: str) -> str:
                    try:
                        return str(click.prompt(prompt, default="", show_default=False, prompt_suffix=""))
                    except click.Abort:
                        return "q"  # end of input: stop, keeping what was not answered
                chosen = walk(obj.out, rv, chosen, ask, subtasks=subtasks, files=files)
            selection = chosen
            built = build_reviewed(repo, records, rv, chosen, tests=run_tests)
            reviewed = load_reviewed(repo, records)
            obj.out.print(f"reviewed {rid}: {built.description}")
            for note in warnings(rv, chosen):
                obj.err.print(f"[yellow]note[/yellow]: {note}")
            if built.findings is None:
                obj.out.print("checks: not available; the findings shown are those of the merged result")
            else:
                obj.out.print(f"checks re-run on the reviewed result: {len(built.findings)} finding(s)"
                              + "".join(f"\n  [yellow]![/yellow] {escape(f['kind'])}: {escape(f['message'])}"
                                        for f in built.findings))
            obj.out.print(f"result: [bold]{built.branch}[/bold] ({built.commit[:10]}); "
                          f"next: `git diff {rv.base[:10]} {built.branch}` or `swarm apply {rid}`")
        if html_file:
            Path(html_file).write_text(render_html(rv, selection, reviewed), encoding="utf-8")
            obj.out.print(f"wrote {html_file}")
        if not choosing and not html_file:
            view = render_review(rv, selection=selection, subtasks=subtasks, files=files, reviewed=reviewed)
            if obj.out.is_terminal and not no_pager:
                os.environ.setdefault("LESS", "FRX")  # colours through less, as git does
                with obj.out.pager(styles=True):
                    obj.out.print(view)
            else:
                obj.out.print(view)
    except SwarmError as e:
        raise _fail(e) from None


@main.command("apply")
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--stage", is_flag=True, help="Only stage the result in your index and working tree; commit yourself.")
@click.option("-m", "--message", metavar="MESSAGE", default=None,
              help="Subject of the commit (default: the task); the body lists the subtasks.")
@click.pass_obj
def apply_command(obj: Context, run_id: str | None, stage: bool, message: str | None) -> None:
    """Bring RUN's reviewed result (or its merged result, if not reviewed) onto your current branch.

    One commit, in your name, whose message lists the subtasks; or with
    --stage, the change left staged. Refused, with nothing changed, when your
    uncommitted changes touch the same files, or when your branch moved since
    the run began and its changes conflict with the run's (otherwise they are
    merged three-way). Commit hooks do not run: use --stage, then `git commit`.
    """
    from .apply import apply_run

    try:
        repo = obj.repo()
        rid = resolve_run(repo.root, run_id)
        done = apply_run(repo, RunRecords(repo.root, rid), stage=stage, message=message)
    except SwarmError as e:
        raise _fail(e) from None
    where = (done.branch or "HEAD").removeprefix("refs/heads/")
    what = f"{len(done.files)} file(s) from the {done.source} result ({', '.join(done.kept)})"
    if done.commit:
        obj.out.print(f"applied {rid} to {where} as {done.commit[:10]}: {what}")
    else:
        obj.out.print(f"staged {rid} on {where}: {what}; `git diff --cached` to read it, `git commit` to keep it")
    obj.out.print(f"next: `swarm clean {rid}` removes its worktrees and branches")


@main.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.pass_obj
def watch(obj: Context, run_id: str | None) -> None:
    """Follow RUN (default: the latest) from another terminal until it ends.

    Shows each subtask's state, turns, last tool, tokens and cost as the run
    records them, and the files each agent changes as it changes them (files
    git ignores are left out). Ends with the run; Ctrl-C stops watching only.
    Exit 0 when the run ended done, 1 when it failed or was interrupted.
    """
    import time

    from .watch import RunWatcher

    try:
        repo = obj.repo()
        rid = resolve_run(repo.root, run_id)
        with Progress(obj.out, clock=time.time) as progress:
            state = RunWatcher(repo, RunRecords(repo.root, rid), progress).run()
    except SwarmError as e:
        raise _fail(e) from None
    obj.out.print(progress.board)
    if state is None:
        obj.err.print(f"stopped watching; run {rid} goes on (`swarm status {rid}`)")
        return
    obj.out.print(f"run {rid} {state}; next: swarm review {rid}")
    sys.exit(0 if state == "done" else 1)


def _settings_epilog() -> str:
    from .config import SETTINGS

    lines = ["\b", "Settings (SWARM_<NAME> in the environment, e.g. SWARM_MAX_COST):"]
    lines += [f"  {s.name:<13} {s.help} ({s.expects})" for s in SETTINGS.values()]
    return "\n".join(lines)


@main.command("config", epilog=_settings_epilog())
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON: value and source of each.")
@click.pass_obj
def config_command(obj: Context, as_json: bool) -> None:
    """Print the effective settings and where each came from.

    Each source overrides the one before: the default, [tool.swarm] in
    pyproject.toml, .swarm/config.toml, SWARM_<NAME> variables, then the flags
    of a command (e.g. `swarm run --max-cost`).
    """
    from .config import load_config

    try:
        config = load_config(obj.repo().root)
    except SwarmError as e:
        raise _fail(e) from None
    if as_json:
        click.echo(json.dumps({name: {"value": value, "source": source} for name, value, source in config.items()},
                              indent=2))
        return
    table = Table(title="swarm settings", title_justify="left", box=None, pad_edge=False, header_style="bold")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("from", no_wrap=True)
    for name, value, source in config.items():
        if isinstance(value, list):
            shown = ", ".join(value) or "(none)"
        else:
            shown = "(not set)" if value is None else str(value)
        table.add_row(name, shown, source)
    obj.out.print(table)
    obj.out.print("[dim]each setting NAME is also read from SWARM_NAME (e.g. SWARM_MAX_COST); "
                  "`swarm config --help` says what each does[/dim]")


@main.command("test", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="-- CMD...")
@click.option("--shards", type=click.IntRange(1, 64), default=None,
              help="Shards per command (default: the CPUs, shared among the commands).")
@click.option("--run", "run_id", default=None, metavar="RUN", help="Test RUN's merged branch instead of HEAD.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), default=None,
              help="Write every shard's results to one JUnit XML file.")
@click.option("--matrix", multiple=True, metavar="CMD",
              help="Run CMD too, side by side in its own worktrees (repeatable), e.g. --matrix 'python3.12 -m pytest'.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=None, help="Seconds a shard may take.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON on stdout.")
@click.option("--remove-worktrees", is_flag=True, help="Remove the pooled test worktrees, then exit.")
@click.pass_obj
def test_command(obj: Context, cmd: tuple[str, ...], shards: int | None, run_id: str | None, junit_file: str | None,
                 matrix: tuple[str, ...], timeout: float | None, as_json: bool, remove_worktrees: bool) -> None:
    """Run a test command in parallel shards, each in its own worktree of HEAD, and aggregate.

    \b
      swarm test -- python -m pytest tests
      swarm test --shards 4 --junit results.xml -- python -m pytest -q
      swarm test --run RUN -- python -m pytest        (RUN's swarm/<run>/merged)
      swarm test -- npx jest --shard={shard}/{shards}
      swarm test --matrix 'python3.11 -m pytest' --matrix 'python3.12 -m pytest'

    pytest suites are split by swarm: by the durations earlier runs recorded
    (.swarm/test-durations.json), by file on a first run. Other runners split
    themselves through {shard} (from 1) and {shards}; {junit} names a file for
    their JUnit XML. The worktrees (<worktrees folder>/_test/shard-<k>) are
    reused from run to run. Your branch, index and working tree are not touched.
    Exit 0 when every test passed, 1 when any failed or a shard broke, 2 on bad input.
    """
    from .errors import RunNotFound
    from .testrun import remove_pool, run_matrix, write_merged_junit
    from .testrun.summary import print_summary as print_test_summary

    try:
        repo = obj.repo()
        if remove_worktrees:
            problems = remove_pool(repo)
            if problems:
                raise SwarmError("some test worktrees were kept:\n  " + "\n  ".join(problems))
            obj.out.print("removed the test worktrees")
            return
        commands: list[list[str] | str] = ([list(cmd)] if cmd else []) + list(matrix)
        if not commands:
            raise click.UsageError("give a test command after `--`, e.g. swarm test -- python -m pytest")
        if not repo.has_commits():
            raise SwarmError("the repository has no commits yet; commit your files first")
        if run_id:
            rid = resolve_run(repo.root, run_id)
            commit = (RunRecords(repo.root, rid).read_json("result.json") or {}).get("merged_commit")
            if not commit:
                raise RunNotFound(f"run {rid} has no merged commit yet; see `swarm status {rid}`")
        else:
            commit = repo.resolve("HEAD")
            if repo.git("status", "--porcelain", "--untracked-files=no"):
                obj.err.print(f"note: your uncommitted changes are not tested; the shards run HEAD ({commit[:10]})")
        where = Path(obj.repo_path).resolve()
        cwd = where.relative_to(repo.root).as_posix() if repo.root in where.parents else ""
        per_command = shards or max(1, (os.cpu_count() or 2) // len(commands))
        # Plain lines, even on a terminal: the live table is made for agents (turns, tools, cost).
        reports = asyncio.run(run_matrix(repo, commit, commands, per_command, cwd=cwd,
                                         progress=Progress(obj.err, live=False), timeout=timeout))
    except SwarmError as e:
        raise _fail(e) from None
    except KeyboardInterrupt:
        obj.err.print("interrupted: the shards were stopped")
        sys.exit(130)
    if junit_file:
        obj.err.print(f"JUnit XML: {write_merged_junit(reports, Path(junit_file))}")
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        print_test_summary(obj.out, reports)
    sys.exit(0 if all(r.ok for r in reports) else 1)
