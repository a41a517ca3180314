"""Every git call behind one small wrapper.

Plain `git` runs the commands it does best (`worktree`, `merge-tree
--write-tree`, `commit-tree`); GitPython finds the repository and resolves
refs. The administrative part of `git worktree add` is serialized with a file
lock, because concurrent adds race on `.git/config` and `.git/worktrees/`;
the checkout that fills a worktree runs outside the lock, in parallel.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import git

from swarm.errors import GitError, SwarmError

SWARM_AUTHOR = ("swarm", "swarm@localhost")
# Keep the user's hooks and signing out of commits swarm makes on its own branches.
_CONFIG = ["-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", "-c", "gc.auto=0",
           "-c", "core.quotePath=false"]


# What running code leaves behind (bytecode, test caches) is never part of an agent's change.
JUNK_PATHSPECS = [f":(exclude,glob){p}" for p in ("**/__pycache__/**", "**/*.py[co]", "**/.pytest_cache/**",
                                                   "**/.mypy_cache/**", "**/.ruff_cache/**")]


def git_env() -> dict[str, str]:
    """The environment for git subprocesses: no inherited repository overrides."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")}
    env.update({
        "GIT_AUTHOR_NAME": SWARM_AUTHOR[0], "GIT_AUTHOR_EMAIL": SWARM_AUTHOR[1],
        "GIT_COMMITTER_NAME": SWARM_AUTHOR[0], "GIT_COMMITTER_EMAIL": SWARM_AUTHOR[1],
        "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
    })
    return env


def worktrees_folder(setting: str | Path | None) -> Path | None:
    """The `worktrees` setting as a folder (None: the user cache folder)."""
    return Path(setting).expanduser() if setting else None


@dataclass
class MergeResult:
    """The outcome of one `git merge-tree --write-tree`."""

    tree: str
    clean: bool
    conflicted_files: list[str]
    messages: str


class GitRepo:
    """A repository: its top level, its git dir, and the git commands swarm uses."""

    def __init__(self, root: Path, *, worktrees: str | Path | None = None) -> None:
        self.root = root
        # The `worktrees` setting (config, SWARM_WORKTREES), passed in; None is the user cache folder.
        self.worktrees = worktrees_folder(worktrees)
        self.git_dir = Path(self.git("rev-parse", "--absolute-git-dir"))
        self.common_dir = Path(self.git("rev-parse", "--path-format=absolute", "--git-common-dir"))

    @classmethod
    def discover(cls, path: str | Path = ".", *, worktrees: str | Path | None = None) -> "GitRepo":
        """Find the repository containing `path`, or explain that there is none."""
        try:
            repo = git.Repo(path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise SwarmError(f"{Path(path).resolve()} is not inside a git repository; "
                             "run swarm from a repository (git init, then commit your files)") from None
        try:
            if repo.bare or repo.working_tree_dir is None:
                raise SwarmError("swarm needs a repository with a working tree, not a bare one")
            return cls(Path(repo.working_tree_dir).resolve(), worktrees=worktrees)
        finally:
            repo.close()

    # -- plain command runners ---------------------------------------------------------

    def git(self, *args: str, cwd: Path | None = None, check: bool = True, input: str | None = None) -> str:
        """Run git synchronously and return stdout without the trailing newline."""
        proc = subprocess.run(["git", *_CONFIG, *args], cwd=cwd or self.root, env=git_env(), input=input,
                              capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise GitError(list(args), proc.returncode, proc.stderr or proc.stdout)
        return proc.stdout.rstrip("\n")

    async def agit(self, *args: str, cwd: Path | None = None, check: bool = True) -> tuple[int, str, str]:
        """Run git without blocking the event loop; return (code, stdout, stderr)."""
        proc = await asyncio.create_subprocess_exec(
            "git", *_CONFIG, *args, cwd=cwd or self.root, env=git_env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        if check and proc.returncode != 0:
            raise GitError(list(args), proc.returncode or 0, stderr or stdout)
        return proc.returncode or 0, stdout, stderr

    # -- refs and commits ---------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """The commit a ref names, or a clear error."""
        repo = git.Repo(self.root)
        try:
            return repo.commit(ref).hexsha
        except (git.BadName, ValueError, git.GitCommandError):
            raise SwarmError(f"cannot resolve {ref!r} to a commit in {self.root}") from None
        finally:
            repo.close()

    def has_commits(self) -> bool:
        return self.git("rev-parse", "--verify", "-q", "HEAD", check=False) != ""

    def branch_exists(self, branch: str) -> bool:
        return self.git("rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False) != ""

    def branches(self, pattern: str) -> list[str]:
        out = self.git("for-each-ref", "--format=%(refname:short)", f"refs/heads/{pattern}")
        return [line for line in out.splitlines() if line]

    def update_branch(self, branch: str, commit: str) -> None:
        self.git("update-ref", f"refs/heads/{branch}", commit)

    def delete_branch(self, branch: str) -> None:
        self.git("update-ref", "-d", f"refs/heads/{branch}")

    async def merge_tree(self, ours: str, theirs: str) -> MergeResult:
        """Merge two commits in memory (no working tree, no index)."""
        code, out, err = await self.agit("merge-tree", "--write-tree", "--name-only", "-z", ours, theirs,
                                         check=False)
        if code not in (0, 1):
            raise GitError(["merge-tree", ours, theirs], code, err)
        # -z output: tree NUL, conflicted names NUL..., NUL, then messages.
        head, _, messages = out.partition("\0\0")
        parts = head.split("\0")
        tree, files = parts[0], [p for p in parts[1:] if p]
        if code == 0:
            files = []
        return MergeResult(tree=tree, clean=code == 0, conflicted_files=sorted(set(files)), messages=messages)

    async def is_ancestor(self, ancestor: str, commit: str) -> bool:
        code, _, _ = await self.agit("merge-base", "--is-ancestor", ancestor, commit, check=False)
        return code == 0

    async def commit_tree(self, tree: str, parents: list[str], message: str) -> str:
        args = ["commit-tree", tree, "-m", message]
        for parent in parents:
            args += ["-p", parent]
        _, out, _ = await self.agit(*args)
        return out.strip()

    # -- worktrees ------------------------------------------------------------------------

    @contextmanager
    def admin_lock(self) -> Iterator[None]:
        """A cross-process lock for git's administrative files (config, worktrees/)."""
        with open(self.common_dir / "swarm-admin.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _locked(self, *args: str) -> str:
        with self.admin_lock():
            return self.git(*args)

    async def add_worktree(self, path: Path, branch: str, start: str) -> None:
        """Create `branch` at `start` checked out at `path`.

        Only the registration (`worktree add --no-checkout`) is serialized; the
        checkout itself, the slow part on a large repository, runs in parallel.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():  # a retry or a resumed run starts over in a clean worktree
            await asyncio.to_thread(self.remove_worktree, path)
        await asyncio.to_thread(self._locked, "worktree", "add", "--no-checkout", "-B", branch, str(path), start)
        await self.agit("reset", "--hard", "-q", start, cwd=path)

    async def add_detached_worktree(self, path: Path, commit: str) -> None:
        """A worktree at `commit` with no branch (integration and test checkouts)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            await self.aremove_worktree(path)
        await asyncio.to_thread(self._locked, "worktree", "add", "--no-checkout", "--detach", str(path), commit)
        await self.agit("reset", "--hard", "-q", commit, cwd=path)

    async def aremove_worktree(self, path: Path) -> None:
        await asyncio.to_thread(self.remove_worktree, path)

    @staticmethod
    def junk_pathspecs() -> list[str]:
        return list(JUNK_PATHSPECS)

    def remove_worktree(self, path: Path) -> None:
        with self.admin_lock():
            if path.exists():
                self.git("worktree", "remove", "--force", str(path), check=False)
            self.git("worktree", "prune")

    async def commit_all(self, worktree: Path, message: str) -> str | None:
        """Commit every change in a worktree; return the new commit, or None when nothing changed."""
        await self.agit("add", "-A", "--", ".", *JUNK_PATHSPECS, cwd=worktree)
        code, _, _ = await self.agit("diff", "--cached", "--quiet", cwd=worktree, check=False)
        if code == 0:
            return None
        await self.agit("commit", "-q", "--no-verify", "-m", message, cwd=worktree)
        _, out, _ = await self.agit("rev-parse", "HEAD", cwd=worktree)
        return out.strip()

    async def diff(self, base: str, commit: str) -> str:
        _, out, _ = await self.agit("diff", "--no-color", "--no-ext-diff", "-M", base, commit)
        return out

    # -- swarm's own places ----------------------------------------------------------------

    def exclude_swarm_dir(self) -> None:
        """Make sure `.swarm/` is ignored through `.git/info/exclude` (never touching .gitignore)."""
        exclude = self.common_dir / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        lines = exclude.read_text().splitlines() if exclude.exists() else []
        if ".swarm/" not in lines:
            with exclude.open("a") as handle:
                if lines and lines[-1] != "":
                    handle.write("\n")
                handle.write(".swarm/\n")

    def worktrees_home(self) -> Path:
        """Where this repository's worktrees live: outside the checkout, keyed by repo."""
        if self.worktrees is not None:
            base = self.worktrees
        else:
            cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            base = Path(cache) / "swarm" / "worktrees"
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:8]
        return base / f"{self.root.name}-{digest}"
