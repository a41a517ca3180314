"""`swarm test`: a test command in parallel shards, each in its own worktree."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import click

from swarm.errors import ConfigError, SwarmError
from swarm.ui.progress import Progress
from swarm.run.records import RunRecords, resolve_run
from swarm.run.result import RunResult
from swarm.cli.context import Context, keep_stdout_for_json, need_output_folder


@click.command("test", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="-- CMD...")
@click.option("--shards", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Shards per command (default: the CPUs, shared among the commands).")
@click.option("--run", "run_id", default=None, metavar="RUN", help="Test RUN's merged branch instead of HEAD.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), default=None,
              help="Write every shard's results to one JUnit XML file.")
@click.option("--matrix", multiple=True, metavar="CMD",
              help="Run CMD too, side by side in its own worktrees (repeatable), e.g. --matrix 'python3.12 -m pytest'.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=None, metavar="SECONDS",
              help="Seconds a shard may take.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON on stdout.")
@click.option("--remove-worktrees", is_flag=True, help="Remove the pooled test worktrees, then exit.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="Run the shards here (local) or on a Ray cluster's nodes (default from the executor setting).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="The Ray cluster for --executor ray (default: the ray_address setting, RAY_ADDRESS).")
@click.pass_obj
def test_command(obj: Context, cmd: tuple[str, ...], shards: int | None, run_id: str | None, junit_file: str | None,
                 matrix: tuple[str, ...], timeout: float | None, as_json: bool, remove_worktrees: bool,
                 executor: str | None, ray_address: str | None) -> None:
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
    from swarm.config import load_config
    from swarm.errors import RunNotFound
    from swarm.testrun import remove_pool, run_matrix, write_merged_junit
    from swarm.testrun.summary import print_summary as print_test_summary

    if junit_file:
        need_output_folder(junit_file, "--junit")
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
        raise ConfigError("the repository has no commits yet; commit your files first")
    if run_id:
        rid = resolve_run(repo.root, run_id)
        result = RunResult.read(RunRecords(repo.root, rid))
        commit = result.merged_commit if result else None
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
    try:
        config = load_config(repo.root).with_flags(executor=executor, ray_address=ray_address)
        json_out = keep_stdout_for_json() if as_json and config.get("executor") == "ray" else None
        reports = asyncio.run(run_matrix(repo, commit, commands, per_command, cwd=cwd,
                                         progress=Progress(obj.err, live=False), timeout=timeout,
                                         executor=config.get("executor"), ray_address=config.get("ray_address")))
    except KeyboardInterrupt:
        obj.err.print("interrupted: the shards were stopped")
        sys.exit(130)
    if junit_file:
        obj.err.print(f"JUnit XML: {write_merged_junit(reports, Path(junit_file))}")
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2), file=json_out)
        if json_out is not None:
            json_out.flush()
    else:
        print_test_summary(obj.out, reports)
    sys.exit(0 if all(r.ok for r in reports) else 1)
