"""What the user should know about their repository before a run starts: notes, not errors.

A run starts from a commit, so work not committed is not part of it;
submodules are not checked out in a worktree; a detached HEAD has no branch
for `swarm apply` to move. Each is worth one line at the start, never a stop.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from swarm.config import RunOptions
from swarm.env.python import python_env
from swarm.env.sandbox import bwrap_problem, sandbox_note
from swarm.git.repo import GitRepo
from swarm.model.catalog import PriceTable
from swarm.plan.spec import Plan

__all__ = ["repo_notes", "run_notes", "warm_up"]


def warm_up(repo_root: Path) -> None:
    """Start the run's slow probes (bubblewrap; which Python tests use) on a thread while the SDK imports:
    both are cached, so the run's first lines find them done instead of waiting on the critical path."""
    def probe() -> None:
        bwrap_problem()
        python_env(repo_root, os.environ.get("PATH"))

    threading.Thread(target=probe, daemon=True, name="swarm-warm-up").start()


async def run_notes(repo: GitRepo, plan: Plan, options: RunOptions, prices: PriceTable, run_id: str, base: str,
                    tool_env: dict[str, str]) -> list[str]:
    """A run's first lines: what it runs, how the agents' shell is confined, which Python tests use."""
    note = await asyncio.to_thread(sandbox_note)  # the first call probes bwrap
    python = await asyncio.to_thread(python_env, repo.root, tool_env.get("PATH"))
    lines = [f"run {run_id}: {len(plan.subtasks)} subtasks from {base[:10]}, concurrency {options.concurrency}; "
             f"{note}", f"tests use {python.describe()}"]
    if not prices.known(options.model) and any(not s.command for s in plan.subtasks):
        lines.append(f"warning: swarm has no price for model {options.model}, so costs show as $0; "
                     "add one with the `prices` setting (docs/models.md)")
    return lines


def repo_notes(repo: GitRepo, base: str) -> list[str]:
    """One line for each thing about the repository that the run leaves out or that may surprise."""
    notes = []
    commit = repo.git("rev-parse", "--verify", "-q", f"{base}^{{commit}}", check=False)
    head = repo.git("rev-parse", "--verify", "-q", "HEAD", check=False)
    if commit and commit == head:
        changed = repo.git("status", "--porcelain", "--", ".", ":(exclude).swarm", check=False).splitlines()
        if changed:
            notes.append(f"{len(changed)} uncommitted change(s) in your checkout are left out of the run: it starts "
                         f"from the last commit ({head[:10]}); commit them first to include them")
    if commit:
        modules = [line.split("\t", 1)[-1] for line in repo.git("ls-tree", "-r", commit, check=False).splitlines()
                   if line.startswith("160000 ")]
        if modules:
            shown = ", ".join(modules[:5]) + (f" and {len(modules) - 5} more" if len(modules) > 5 else "")
            notes.append(f"submodule(s) {shown} are left empty in the worktrees: agents see no files there")
    if head and not repo.git("symbolic-ref", "-q", "HEAD", check=False):
        notes.append(f"HEAD is detached (at {head[:10]}): the run starts there; `swarm apply --branch NAME` "
                     "puts the result on a new branch")
    return notes
