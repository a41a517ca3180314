"""Removing a run: its worktrees, its branches and its records. Every error is collected, none stops the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import GitError
from .gitrepo import GitRepo
from .records import RunRecords


def _run_worktrees(repo: GitRepo, run_id: str) -> list[Path]:
    """The worktrees git knows for this run, plus any left in the run's folder."""
    home = repo.worktrees_home() / run_id
    found = []
    porcelain = repo.git("worktree", "list", "--porcelain", check=False)
    for line in porcelain.splitlines():
        if line.startswith("worktree "):
            path = Path(line[len("worktree "):])
            if path.parent == home:
                found.append(path)
    if home.is_dir():
        found += [p for p in home.iterdir() if p not in found]
    return found


def clean_run(repo: GitRepo, run_id: str) -> tuple[str, list[str]]:
    """Remove what a run left; return a one-line account and the errors met."""
    errors: list[str] = []
    worktrees = _run_worktrees(repo, run_id)
    for path in worktrees:
        try:
            repo.remove_worktree(path)
        except (GitError, OSError) as e:
            errors.append(f"worktree {path}: {e}")
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
    home = repo.worktrees_home() / run_id
    if home.is_dir():
        shutil.rmtree(home, ignore_errors=True)
    with repo.admin_lock():
        repo.git("worktree", "prune", check=False)
    branches = repo.branches(f"swarm/{run_id}/*")
    for branch in branches:
        try:
            repo.delete_branch(branch)
        except GitError as e:
            errors.append(f"branch {branch}: {e}")
    records = RunRecords(repo.root, run_id)
    if records.dir.is_dir():
        shutil.rmtree(records.dir, ignore_errors=True)
    return f"{len(worktrees)} worktree(s), {len(branches)} branch(es), records", errors

