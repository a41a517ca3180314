"""The one way swarm runs git: argv, configuration and environment built in one place.

Every git process swarm starts comes from `GitRunner`: `run` (blocking),
`arun` (on the event loop), `popen` (a long-lived `cat-file --batch`), with
stdout as bytes and helpers for text. A runner is bound to a place:

- the repository itself (`cwd` at its top level), or
- one of swarm's worktrees, named by its git dir in the repository
  (`<common>/worktrees/<name>`) and its folder, both passed explicitly
  (`--git-dir`, `--work-tree`). The worktree's `.git` file is never read: an
  agent can rewrite it, but a commit cannot be redirected by it, nor can a
  git dir the agent made supply config (filters, hooks, fsmonitor).

Every command swarm makes on its own runs without hooks (`core.hooksPath`
points at /dev/null), without fsmonitor, with swarm's identity and no
signing, and without inherited GIT_DIR-style variables that would point it
elsewhere. Filters, textconv and diff drivers can only come from the user's
own configuration (system, global, the repository's config): the config of a
git dir an agent made is never read. `user=True` is the one exception, the
commit `swarm apply` makes as the user: their identity and signing settings.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from swarm.errors import GitError

SWARM_AUTHOR = ("swarm", "swarm@localhost")

# Settings on every command swarm makes for itself.
_SAFE_CONFIG = {
    "core.hooksPath": "/dev/null",  # no hook runs: not the user's, not one an agent planted
    "core.fsmonitor": "false",  # an fsmonitor hook is a program too
    "commit.gpgsign": "false",
    "gc.auto": "0",
    "maintenance.auto": "false",  # `git commit` would start `git maintenance run --auto`: a process per commit
    "core.quotePath": "false",
    "diff.noprefix": "false",  # diffs swarm parses always say a/ and b/
    "diff.mnemonicPrefix": "false",
    "color.ui": "false",
}
# Variables that would send git to another repository, index or object store.
_LOCATORS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
             "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES",
             "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS")


@dataclass(frozen=True)
class GitOutput:
    """What one git command returned."""

    code: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        """stdout as text, without the trailing newline (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", "replace").rstrip("\n")

    @property
    def raw(self) -> str:
        """stdout decoded losslessly (surrogateescape), for paths and patches that must round-trip."""
        return self.stdout.decode("utf-8", "surrogateescape")


class GitRunner:
    """git bound to the repository (`work_tree=None`) or to one worktree (its git dir and folder)."""

    def __init__(self, root: Path, *, git_dir: Path | None = None, work_tree: Path | None = None,
                 config: tuple[str, ...] = ()) -> None:
        """`config`: `-c key=value` arguments for every command (a sparse worktree's, swarm.git.worktrees)."""
        self.root = root
        self.git_dir = git_dir
        self.work_tree = work_tree
        self.config = config

    @property
    def cwd(self) -> Path:
        return self.work_tree or self.root

    def argv(self, args: Sequence[str], *, user: bool = False) -> list[str]:
        """The full command line for `git args`."""
        cmd = ["git"]
        if self.work_tree is not None:
            assert self.git_dir is not None
            cmd += [f"--git-dir={self.git_dir}", f"--work-tree={self.work_tree}"]
        if not user:
            for key, value in _SAFE_CONFIG.items():
                cmd += ["-c", f"{key}={value}"]
        return cmd + list(self.config) + list(args)

    def env(self, *, user: bool = False, index: Path | None = None) -> dict[str, str]:
        """The environment for git: nothing inherited that redirects it; swarm's identity unless `user`."""
        env = {k: v for k, v in os.environ.items() if k not in _LOCATORS}
        env["GIT_TERMINAL_PROMPT"] = "0"
        if not user:
            env.update({"GIT_AUTHOR_NAME": SWARM_AUTHOR[0], "GIT_AUTHOR_EMAIL": SWARM_AUTHOR[1],
                        "GIT_COMMITTER_NAME": SWARM_AUTHOR[0], "GIT_COMMITTER_EMAIL": SWARM_AUTHOR[1],
                        "LC_ALL": "C"})
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
        return env

    @staticmethod
    def _input(value: bytes | str | None) -> bytes | None:
        return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value

    def _checked(self, args: Sequence[str], out: GitOutput, check: bool) -> GitOutput:
        if check and out.code != 0:
            raise GitError(list(args), out.code, out.stderr or out.stdout.decode("utf-8", "replace"))
        return out

    def run(self, *args: str, input: bytes | str | None = None, check: bool = True, user: bool = False,
            index: Path | None = None) -> GitOutput:
        """Run git and wait for it (blocking: from async code use `arun`)."""
        proc = subprocess.run(self.argv(args, user=user), cwd=self.cwd, env=self.env(user=user, index=index),
                              input=self._input(input), capture_output=True)
        return self._checked(args, GitOutput(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")),
                             check)

    async def arun(self, *args: str, input: bytes | str | None = None, check: bool = True, user: bool = False,
                   index: Path | None = None) -> GitOutput:
        """Run git without blocking the event loop."""
        data = self._input(input)
        proc = await asyncio.create_subprocess_exec(
            *self.argv(args, user=user), cwd=self.cwd, env=self.env(user=user, index=index),
            stdin=asyncio.subprocess.PIPE if data is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await proc.communicate(data)
        except asyncio.CancelledError:
            # git is never cut short (a checkout would leave its index.lock, and a pool slot could be given
            # back while git still writes in it): it runs to its end, then the cancellation goes on.
            if proc.returncode is None:
                if proc.stdin is not None:
                    proc.stdin.close()
                await asyncio.shield(proc.communicate())
            raise
        return self._checked(args, GitOutput(proc.returncode or 0, out, err.decode("utf-8", "replace")), check)

    def popen(self, *args: str, **kwargs: Any) -> "subprocess.Popen[bytes]":
        """A long-lived git process with pipes (e.g. `cat-file --batch`), built like every other command."""
        return subprocess.Popen(self.argv(args), cwd=self.cwd, env=self.env(), **kwargs)

