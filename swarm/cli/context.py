"""The object every command shares (`pass_obj`): the consoles and the repository."""

from __future__ import annotations

import sys

from rich.console import Console

from swarm.git.repo import GitRepo


class Context:
    """The consoles (tests swap them) and the repository, found lazily."""

    def __init__(self, repo_path: str) -> None:
        self.repo_path = repo_path
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(file=sys.stderr, highlight=False, soft_wrap=True)

    def repo(self) -> GitRepo:
        return GitRepo.discover(self.repo_path)
