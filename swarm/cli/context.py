"""The object every command shares (`pass_obj`): the consoles and the repository."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console

from swarm.config import load_config
from swarm.git.repo import GitRepo, worktrees_folder
from swarm.ui.width import whole_lines


class Context:
    """The consoles (tests swap them) and the repository, found lazily."""

    def __init__(self, repo_path: str) -> None:
        self.repo_path = repo_path
        # Piped or redirected, a line is printed whole, never cut to 80 columns.
        self.out = whole_lines(Console(highlight=False, soft_wrap=True))
        self.err = whole_lines(Console(file=sys.stderr, highlight=False, soft_wrap=True))

    def repo(self) -> GitRepo:
        """The repository, with its `worktrees` setting (files or SWARM_WORKTREES) passed in as a value."""
        repo = GitRepo.discover(self.repo_path)
        repo.worktrees_base = worktrees_folder(load_config(repo.root).get("worktrees"))
        return repo


def need_output_folder(path: str, flag: str) -> None:
    """Refuse (exit 2) an output FILE whose folder does not exist, before anything is spent on what it would hold."""
    from swarm.errors import BadInput

    folder = Path(path).expanduser().absolute().parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise BadInput(f"{flag} {path}: the folder {folder} {what}; create it first or give another path")


def keep_stdout_for_json() -> TextIO:
    """Ray's core writes `(raylet)` lines to this process's stdout (fd 1) whatever it is told: from here on fd 1
    is stderr, and the JSON goes to a copy of the real stdout, so `--json` stays one clean object."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(saved, "w")
