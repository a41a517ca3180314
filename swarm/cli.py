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

from .errors import ConfigError, SwarmError
from .gitrepo import GitRepo
from .plan import Plan, load_plan
from .progress import Progress
from .records import RunRecords, list_runs, new_run_id, resolve_run
from .status import run_status
from .tools import scrubbed_env

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
      swarm status                   states of the latest run
      git diff HEAD swarm/<run>/merged
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
                 tool_env: dict[str, str] | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Run a plan to its end and return result.json's object (shared by `run` and `demo`)."""
    from .run import Coordinator

    run_id = run_id or new_run_id()
    records = RunRecords(repo.root, run_id)
    coordinator = Coordinator(repo, plan, client, run_id=run_id, records=records,
                              progress=Progress(obj.err, quiet=quiet), tool_env=tool_env or scrubbed_env(),
                              options=options)
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
    return 0 if result["state"] == "done" and not result.get("conflicts") else 1


@main.command()
@click.argument("task", required=False)
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), help="Run this plan file (.json or .toml).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Agents in flight at once.")
@click.option("--model", default=None, help="Model name for the agents.")
@click.option("--base", default="HEAD", show_default=True, help="Commit the subtasks start from.")
@click.option("--max-turns", type=click.IntRange(1), default=40, show_default=True, help="Turns per agent.")
@click.option("--json", "as_json", is_flag=True, help="Print result.json on stdout (progress stays on stderr).")
@click.pass_obj
def run(obj: Context, task: str | None, plan_file: str | None, concurrency: int, model: str | None, base: str,
        max_turns: int, as_json: bool) -> None:
    """Run TASK, or a plan file with --plan, in the current repository.

    Each subtask gets a branch swarm/<run>/<id> and a worktree outside your
    checkout; agents run concurrently; their commits are merged in memory into
    swarm/<run>/merged. Your branch, index and working tree are never touched.
    Records go to .swarm/runs/<run>/. Exit 0 when every subtask merged, 1 when
    any failed or conflicted, 2 on bad input.
    """
    from .model import DEFAULT_MODEL
    from .run import RunOptions

    try:
        if plan_file is None:
            if task:
                raise ConfigError("planning from a TASK needs the planner, which is not available yet; "
                                 "write a plan file and run `swarm run --plan FILE`")
            raise click.UsageError("give a TASK or --plan FILE")
        plan = load_plan(plan_file)
        repo = obj.repo()
        if not repo.has_commits():
            raise SwarmError("the repository has no commits yet; commit your files first")
        client = model_client()
        if client is None and any(not s.command for s in plan.subtasks):
            raise ConfigError("no model endpoint: set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a "
                             "local Messages-API server); try `swarm demo` to see swarm offline")
        options = RunOptions(concurrency=concurrency, model=model or DEFAULT_MODEL, base=base, max_turns=max_turns)
        repo.resolve(base)
        result = execute_plan(obj, repo, plan, client=client, options=options, quiet=False)
    except SwarmError as e:
        raise _fail(e) from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_summary(obj.out, result)
    if result["state"] == "interrupted":
        obj.err.print(f"interrupted: work so far is committed on the swarm/{result['run_id']}/* branches")
    sys.exit(exit_code_of(result))


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
@click.pass_obj
def clean(obj: Context, run_id: str | None, all_runs: bool) -> None:
    """Remove the worktrees, branches and records of RUN (or of --all runs)."""
    from .cleanup import clean_run

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
        problems: list[str] = []
        for rid in ids:
            removed, errors = clean_run(repo, rid)
            problems += errors
            obj.out.print(f"cleaned {rid}: {removed}")
        if not ids:
            obj.out.print("nothing to clean")
        if problems:
            raise SwarmError("some parts could not be removed:\n  " + "\n  ".join(problems))
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
