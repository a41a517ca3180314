"""`swarm test`: a test command run in parallel shards, each in its own worktree of one commit.

    command.py       the command: pytest, self-splitting ({shard}/{shards}/{junit}), or anything else
    balance.py       cutting the suite into shards; .swarm/test-durations.json
    pool.py          the reused worktrees shards run in (<worktrees home>/_test/shard-<k>)
    invocation.py    what one call shares; a shard's process, its group killed at the end
    runner.py        one command: collect once if needed, plan, run the shards, stream progress
    shard_plugin.py  the pytest plugin inside each shard (standalone: any interpreter)
    junit.py         per-shard JUnit XML in, one merged JUnit XML out
    results.py       ShardRun and TestReport
    summary.py       what the CLI prints

The API, for `swarm test` and for passes that test a commit (synthesis):

    report = await run_tests(repo, commit, "python -m pytest -q", shards=2)
    report.ok          # no test failed or errored, every shard ran to its end, and tests ran
    report.outcomes    # {"tests/test_a.py::test_x": "passed" | "failed" | "error" | "skipped" | "xfailed" | "xpassed"}
    report.totals      # {"passed": 120, "failed": 1, ...}: one count per JUnit test case, like pytest's summary
    report.failed      # ids that failed or errored; report.rerun_command runs just them
    report.durations   # {test id: seconds}
    report.shards      # ShardRun per shard: seconds, exit_code, worktree, log, junit, error

`run_matrix(repo, commit, [cmd, ...], shards)` runs several commands side by
side (each with its own shards and worktrees) and returns a report per
command; `write_merged_junit(reports, path)` writes one JUnit file for them.
Each call's logs, JUnit files and plan go to `.swarm/tests/<id>/`. The
repository's branch, index and working tree are never touched: only pool
worktrees (detached, reset to the commit) are.
"""

from __future__ import annotations

import json
from pathlib import Path

from swarm.git.repo import GitRepo
from swarm.ui.progress import Progress
from swarm.testrun.balance import DurationStore, ShardPlan, make_plan
from swarm.testrun.command import TestCommand, label_commands, parse_command
from swarm.testrun.junit import write_junit
from swarm.testrun.pool import WorktreePool
from swarm.testrun.results import ShardRun, TestReport
from swarm.testrun.invocation import Invocation, install_plugin, new_records_dir
from swarm.testrun.runner import CommandRun, gather_or_cancel

__all__ = ["DurationStore", "ShardPlan", "ShardRun", "TestCommand", "TestReport", "WorktreePool", "make_plan",
           "parse_command", "remove_pool", "run_matrix", "run_tests", "shard_env", "write_merged_junit"]


def shard_env() -> dict[str, str]:
    """The environment shards get: the allowlist of swarm.env.allowlist (PATH, locale, `pass_env`, ...).

    Shards run your own test command, so the variables that say which Python code it tests pass too.
    """
    from swarm.env.allowlist import tool_env

    return tool_env(pass_env=("PYTHONPATH", "VIRTUAL_ENV"))


async def run_matrix(repo: GitRepo, commit: str, commands: list[TestCommand | list[str] | str], shards: int, *,
                     cwd: str = "", progress: Progress | None = None, env: dict[str, str] | None = None,
                     timeout: float | None = None, executor: str = "local",
                     ray_address: str | None = None) -> list[TestReport]:
    """Run each command in `shards` shards on `commit`, all at once; one TestReport per command.

    `cwd` is the folder, relative to the repository root, the commands run
    in (in each worktree). `timeout` bounds each shard's process, in seconds.
    `executor="ray"` runs the shards on a Ray cluster's nodes (swarm.testrun.ray_shards).
    """
    repo.exclude_swarm_dir()
    pool = WorktreePool(repo)
    invocation = Invocation(repo, commit, pool, new_records_dir(repo.root), progress or Progress(quiet=True),
                            shard_env() if env is None else env, timeout, DurationStore(repo.root),
                            install_plugin(pool))
    if executor == "ray":
        from swarm.testrun.ray_shards import make_ray_pool, ray_invocation

        ray_pool, executor = make_ray_pool(repo, ray_address, shards * len(commands))
        invocation = ray_invocation(invocation, ray_pool)
        # Every shard holds a workspace host (a CPU) for the whole command: no more shards than the cluster holds.
        fits = max(1, executor.capacity // len(commands))
        if shards > fits and progress is not None:
            progress.note(f"the cluster has {executor.capacity} CPU(s): {fits} shard(s) per command, not {shards}")
        shards = min(shards, fits)
    parsed = [c if isinstance(c, TestCommand) else parse_command(c, cwd=cwd, user_dir=repo.root / cwd)
              for c in commands]
    label_commands(parsed)
    reports = await gather_or_cancel([CommandRun(invocation, c, shards).run() for c in parsed])
    (invocation.records / "report.json").write_text(json.dumps([r.to_dict() for r in reports], indent=1),
                                                     encoding="utf-8")
    return reports


async def run_tests(repo: GitRepo, commit: str, cmd: TestCommand | list[str] | str, shards: int = 2, *,
                    cwd: str = "", progress: Progress | None = None, env: dict[str, str] | None = None,
                    timeout: float | None = None) -> TestReport:
    """Run one test command in `shards` shards on `commit` and gather its TestReport."""
    return (await run_matrix(repo, commit, [cmd], shards, cwd=cwd, progress=progress, env=env, timeout=timeout))[0]


def write_merged_junit(reports: list[TestReport], path: Path) -> Path:
    """One JUnit XML file holding every shard's test cases, a <testsuite> per command."""
    return write_junit(path, [(r.label or "pytest", r.cases, r.seconds) for r in reports])


def remove_pool(repo: GitRepo) -> list[str]:
    """Remove the pooled test worktrees no running `swarm test` holds; return what could not be removed."""
    return WorktreePool(repo).remove()
