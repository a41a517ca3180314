"""`swarm demo`: the whole pipeline offline on a bundled sample project.

The sample package (`project/`) is copied into a new git repository and
refactored by the subtasks of `plan.json`. Without ANTHROPIC_API_KEY the model
is the scripted model of `script.json`, served on 127.0.0.1 through the
Messages API, so the real client, tools, worktrees and merge all run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from rich.console import Console

from swarm.errors import ConfigError
from swarm.git.repo import GitRepo
from swarm.git.runner import GitRunner
from swarm.plan.spec import plan_from_dict
from swarm.run.result import RunResult
from swarm.env.allowlist import scrubbed_env

HERE = resources.files("swarm.demo")


def make_sample_repo(target: Path) -> GitRepo:
    """Copy the sample project into `target` (must be empty or missing) and commit it."""
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target} is not empty; give --dir a new or empty folder")
    with resources.as_file(HERE.joinpath("project")) as source:
        shutil.copytree(source, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc"))
    git = GitRunner(target)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "Sample inventory package"]):
        git.run(*args)
    return GitRepo(target.resolve())


def run_demo(*, out: Console, err: Console, target: Path | None, concurrency: int,
             as_json: bool) -> RunResult:
    """Set up the sample, run the plan, and show where everything is."""
    from swarm.config import RunOptions
    from swarm.model.client import model_client
    from swarm.model.usage import DEFAULT_MODEL
    from swarm.run.execute import execute_plan
    from swarm.scripted import ScriptedServer
    from swarm.ui.summary import print_summary

    folder = target or Path(tempfile.mkdtemp(prefix="swarm-demo-"))
    repo = make_sample_repo(folder)
    plan = plan_from_dict(json.loads(HERE.joinpath("plan.json").read_text()), source="demo plan")
    # The sample's tests and the scripted `python -m pytest` calls use the Python swarm runs on.
    tool_env = scrubbed_env()
    tool_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), tool_env.get("PATH", "")])
    say = err.print
    say(f"[bold]swarm demo[/bold]: sample project in {folder}")
    say(f"task: {plan.task}")
    server = None
    if os.environ.get("ANTHROPIC_API_KEY"):
        client = model_client()
        say("model: the real model (ANTHROPIC_API_KEY is set)")
    else:
        server = ScriptedServer(json.loads(HERE.joinpath("script.json").read_text())).start()
        client = model_client(base_url=server.url)
        say(f"model: a SCRIPTED model served on {server.url} (no ANTHROPIC_API_KEY set, no network used); "
            "its replies are fixed, the tools, worktrees and merge are real")
    # The demo runs in sandbox mode auto. Where no sandbox works, the scripted model's commands (fixed, shipped
    # with swarm, run only in the sample's worktrees) may run unconfined: it says so; a real model's never do.
    from swarm.env.sandbox import bwrap_problem, sandbox_mode

    if server is not None and sandbox_mode() == "auto" and bwrap_problem():
        os.environ["SWARM_SANDBOX"] = "off"
        say(f"sandbox: none works here ({bwrap_problem()}); the scripted model's own fixed commands run "
            "unconfined, as with --sandbox off (a real model's would be refused)")
    try:
        result = execute_plan(repo, plan, client=client, console=err, tool_env=tool_env,
                              options=RunOptions(concurrency=concurrency, model=DEFAULT_MODEL))
    finally:
        if server is not None:
            server.stop()
    if as_json:
        out.print(json.dumps(result.to_dict(), indent=2), markup=False, highlight=False, soft_wrap=True)
        return result
    print_summary(out, result)
    stat = repo.git("diff", "--stat", result.base_commit, result.merged_commit or result.base_commit)
    out.print("\n[bold]merged diff[/bold] (" + f"git -C {folder} diff {result.base_commit[:10]} "
                  f"{result.merged_branch}):")
    out.print(stat, markup=False, highlight=False)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=_checkout(repo, result), capture_output=True, text=True,
                           env={**scrubbed_env(), "PYTHONDONTWRITEBYTECODE": "1"})
    last = (tests.stdout.strip().splitlines() or ["(no output)"])[-1]
    out.print(f"sample's tests on the merged branch: {last}")
    out.print(f"records: {repo.root / '.swarm' / 'runs' / result.run_id} "
                  "(plan.json, events.jsonl, transcripts/, report.md, result.json)")
    return result


def _checkout(repo: GitRepo, result: RunResult) -> Path:
    """A throwaway checkout of the merged commit, to run the sample's tests on the result."""
    path = repo.worktrees_home() / result.run_id / "_merged"
    asyncio.run(repo.add_detached_worktree(path, result.merged_commit or result.base_commit))
    return path
