"""What the user should know about their repository before a run starts: notes, not errors.

A run starts from a commit, so work not committed is not part of it;
submodules are not checked out in a worktree; a detached HEAD has no branch
for `swarm apply` to move. Each is worth one line at the start, never a stop.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from swarm.config import RunOptions
from swarm.env.python import python_env
from swarm.env.sandbox import bwrap_problem, sandbox_note
from swarm.git.repo import GitRepo
from swarm.model.catalog import PriceTable
from swarm.plan.spec import Plan
from swarm.ui.safe import safe

__all__ = ["notes_in_background", "repo_notes", "run_notes", "say_notes", "warm_up"]


def warm_up(repo_root: Path) -> None:
    """Start the run's slow probes (bubblewrap; which Python tests use) on a thread while the SDK imports:
    both are cached, so the run's first lines find them done instead of waiting on the critical path."""
    def probe() -> None:
        bwrap_problem()
        python_env(repo_root, os.environ.get("PATH"))

    threading.Thread(target=probe, daemon=True, name="swarm-warm-up").start()


async def run_notes(repo: GitRepo, plan: Plan, options: RunOptions, prices: PriceTable, run_id: str, base: str,
                    tool_env: dict[str, str]) -> list[str]:
    """A run's first lines: what it runs, how the agents' shell is confined (which Python tests use follows
    in `say_notes`, as soon as it is known)."""
    note = await asyncio.to_thread(sandbox_note)  # the first call probes bwrap
    lines = [f"run {run_id}: {len(plan.subtasks)} subtasks from {base[:10]}, concurrency {options.concurrency}; "
             f"{note}"]
    if not prices.known(options.model) and any(not s.command for s in plan.subtasks):
        lines.append(f"warning: swarm has no price for model {options.model}, so costs show as $0; "
                     "add one with the `prices` setting (docs/models.md)")
    return lines


def notes_in_background(repo: GitRepo, base: str, plan: Plan | None = None) -> "Future[list[str]]":
    """`repo_notes` worked out on a thread: the run starts meanwhile (on a fresh clone of a large repository
    `git status` alone takes a quarter of a second), and they are said as soon as they are known."""
    future: Future[list[str]] = Future()

    def work() -> None:
        try:
            future.set_result(repo_notes(repo, base, plan))
        except Exception as e:  # noqa: BLE001 - notes never stop a run; the reason is one more note
            future.set_result([f"could not look at the repository before the run: {e}"])

    threading.Thread(target=work, daemon=True, name="swarm-notes").start()
    return future


async def say_notes(progress: Any, repo: GitRepo, tool_env: dict[str, str],
                    notes: "Future[list[str]] | None") -> None:
    """The lines that follow a run's first ones while its agents start: which Python tests use (a first
    probe starts an interpreter, 0.2 s), then `notes_in_background`'s notes, each a `note:` line."""
    try:
        python = await asyncio.to_thread(python_env, repo.root, tool_env.get("PATH"))
        progress.note(f"tests use {python.describe()}")
    except (OSError, ValueError) as e:  # a line of its own: it never stops the run
        progress.note(f"note: could not tell which Python tests use: {e}")
    if notes is not None:
        for note in await asyncio.wrap_future(notes):
            if not progress.quiet:
                progress.console.print(f"note: {safe(note)}")


def repo_notes(repo: GitRepo, base: str, plan: Plan | None = None) -> list[str]:
    """One line for each thing about the repository that the run leaves out or that may surprise (with
    `plan`: a scope glob that matches no file of the commit, a typo as often as a folder still to make)."""
    notes = []
    commit = repo.git("rev-parse", "--verify", "-q", f"{base}^{{commit}}", check=False)
    head = repo.git("rev-parse", "--verify", "-q", "HEAD", check=False)
    if commit and commit == head:
        changed = repo.git("status", "--porcelain", "--", ".", ":(exclude).swarm", check=False).splitlines()
        if changed:
            notes.append(f"{len(changed)} uncommitted change(s) in your checkout are left out of the run: it starts "
                         f"from the last commit ({head[:10]}); commit them first to include them")
    if commit:
        entries = repo.git("ls-tree", "-r", commit, check=False).splitlines()
        modules = [line.split("\t", 1)[-1] for line in entries if line.startswith("160000 ")]
        notes += _empty_scopes(plan, [line.split("\t", 1)[-1] for line in entries], commit)
        if modules:
            shown = ", ".join(modules[:5]) + (f" and {len(modules) - 5} more" if len(modules) > 5 else "")
            notes.append(f"submodule(s) {shown} are left empty in the worktrees: agents see no files there")
    if head and not repo.git("symbolic-ref", "-q", "HEAD", check=False):
        notes.append(f"HEAD is detached (at {head[:10]}): the run starts there; `swarm apply --branch NAME` "
                     "puts the result on a new branch")
    return notes


def _empty_scopes(plan: Plan | None, paths: list[str], commit: str) -> list[str]:
    """A note per scope glob (wildcards; a plain path may name a file to create) that matches nothing."""
    import re

    from swarm.globs import compile_glob

    notes = []
    for subtask in plan.subtasks if plan is not None else []:
        for pattern in subtask.files:
            glob = compile_glob(pattern)
            if re.search(r"[*?\[]", pattern) and not any(glob.match(path) for path in paths):
                notes.append(f"subtask {subtask.id}: its scope {pattern!r} matches no file of {commit[:10]} "
                             "(a typo? new files there are fine)")
    return notes
