"""The only place a worktree of the repository is added or removed, and how git is run in one.

The administrative step of `git worktree add` (and every remove and prune)
holds one cross-process lock, `<common dir>/swarm-admin.lock`, because
concurrent adds race on `.git/config` and `.git/worktrees/`; the checkout
that fills a worktree runs outside the lock, in parallel with the others.

A worktree is known by the folder git registered for it
(`<common>/worktrees/<name>/gitdir` names `<folder>/.git`), never by the
`.git` file inside it, which an agent can rewrite. `restore_git_file` puts
that file back when it changed and says what it found.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from swarm.errors import GitError

POOL_DIR = "_pool"  # below a repository's worktrees home: the pool of reused subtask worktrees (swarm.env.pool)
HOLDER = "swarm-holder"  # in a pool slot's git admin folder, where no agent can write: who held it last
# A sparse worktree (swarm.env.sparse): cone patterns in its own git dir and a sparse index, said on each
# command's line (never in a config file): its index holds a folder left out as one entry, so `reset`,
# `add` and `commit` touch a few hundred entries instead of the repository's thousands.
SPARSE = ("-c", "core.sparseCheckout=true", "-c", "core.sparseCheckoutCone=true", "-c", "index.sparse=true")


def sparse_file(admin: Path) -> Path:
    """Where a worktree's sparse-checkout lines live: its own git dir. The worktree is sparse while it exists."""
    return admin / "info" / "sparse-checkout"


def write_sparse(admin: Path, lines: list[str]) -> None:
    sparse_file(admin).parent.mkdir(parents=True, exist_ok=True)
    sparse_file(admin).write_text("\n".join(lines) + "\n")
from swarm.git.runner import GitRunner

# What running code leaves behind (bytecode, test caches) is never part of an agent's change.
JUNK_PATHSPECS = [f":(exclude,glob){p}" for p in ("**/__pycache__/**", "**/*.py[co]", "**/.pytest_cache/**",
                                                   "**/.mypy_cache/**", "**/.ruff_cache/**")]


def embedded_repos(worktree: Path, untracked: str) -> list[str]:
    """The untracked folders of `worktree` that are git repositories of their own (an agent's `git init`),
    from `git ls-files --others --directory --exclude-standard -z`: `git add` refuses one without a
    commit and would add one with a commit as a submodule link, so swarm leaves them out."""
    found = []
    for entry in untracked.split("\0"):
        if entry.endswith("/") and os.path.lexists(worktree / entry / ".git"):
            found.append(entry.rstrip("/"))
    return found


LIST_UNTRACKED = ("ls-files", "--others", "--directory", "--exclude-standard", "-z")


class Worktrees:
    """The worktrees of one repository: add, remove, prune, find, and a runner for each."""

    def __init__(self, repo: GitRunner, common_dir: Path) -> None:
        self.repo = repo
        self.common_dir = common_dir
        self._known: dict[Path, Path] = {}
        self._seen: dict[Path, str] = {}  # registry entry -> the gitdir it named when learnt
        self._thread_lock = threading.Lock()  # flock is per open file: threads of one process need this too

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The cross-process lock for git's administrative files (config, worktrees/)."""
        with self._thread_lock, open(self.common_dir / "swarm-admin.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- finding one ----------------------------------------------------------------------

    def admin_dir(self, path: Path) -> Path | None:
        """`<common>/worktrees/<name>` registered for the folder `path`, or None."""
        folder = Path(os.path.realpath(path))
        known = self._known.get(folder)
        if known is not None and (known / "gitdir").is_file():
            return known
        # Not known (or moved): learn every registered worktree in one pass, so 64 slots looked up one after
        # another read the registry once each, not 64 times each.
        registry = self.common_dir / "worktrees"
        for entry in registry.iterdir() if registry.is_dir() else []:
            try:
                target = (entry / "gitdir").read_text().strip()
            except OSError:  # another process is writing or removing this entry
                continue
            if self._seen.get(entry) == target:
                continue  # learnt in an earlier pass (resolving every entry's path again is what costs)
            self._seen[entry] = target
            self._known[Path(os.path.realpath(Path(target).parent))] = entry
        found = self._known.get(folder)
        return found if found is not None and (found / "gitdir").is_file() else None

    def runner(self, path: Path) -> GitRunner:
        """git for the worktree at `path`, with its git dir and work tree named explicitly."""
        admin = self.admin_dir(path)
        if admin is None:
            raise GitError(["worktree", str(path)], 128, f"{path} is not a worktree of {self.repo.root}")
        return self._runner(path, admin)

    def _runner(self, path: Path, admin: Path) -> GitRunner:
        sparse = SPARSE if sparse_file(admin).is_file() else ()
        return GitRunner(self.repo.root, git_dir=admin, work_tree=Path(os.path.realpath(path)), config=sparse)

    def restore_git_file(self, path: Path) -> str | None:
        """Put the worktree's `.git` file back if something changed it; say what was wrong (None: nothing)."""
        admin = self.admin_dir(path)
        if admin is None or not Path(path).is_dir():
            return None
        dot_git = Path(path) / ".git"
        expected = f"gitdir: {admin}\n"
        if dot_git.is_symlink():
            found = f"a symlink to {os.readlink(dot_git)}"
        elif dot_git.is_dir():
            found = "a folder"
        elif not dot_git.exists():
            found = "missing"
        else:
            current = dot_git.read_bytes()
            if current.decode("utf-8", "replace") == expected:
                return None
            first = current.decode("utf-8", "replace").strip().splitlines()[:1]
            found = f"rewritten ({first[0][:200] if first else 'empty'})"
        if dot_git.is_dir() and not dot_git.is_symlink():
            shutil.rmtree(dot_git)
        else:
            dot_git.unlink(missing_ok=True)
        dot_git.write_text(expected)
        return f".git was {found}"

    # -- adding and removing ----------------------------------------------------------------

    async def add(self, path: Path, start: str, *, branch: str | None = None,
                  sparse: list[str] | None = None) -> GitRunner:
        """A worktree at `path` holding `start`, on `branch` (created or reset there) or detached.

        Only the registration (`worktree add --no-checkout`) is serialized; the
        checkout itself, the slow part on a large repository, runs in parallel.
        With `sparse` (cone-mode sparse-checkout lines, swarm.env.sparse) only
        what they name is written; the lines live in the worktree's own git dir
        and sparse checkout is switched on per command (SPARSE), never in the config.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or self.admin_dir(path) is not None:  # a retry or a resumed run starts clean
            await asyncio.to_thread(self.remove, path)
        admin = await asyncio.to_thread(self._register, path, branch, start)
        if branch:  # created, or reset to `start` (`worktree add -B`); in parallel, outside the lock
            await self.repo.arun("update-ref", "-m", f"swarm: worktree {path.name}", f"refs/heads/{branch}", start)
        if sparse:
            write_sparse(admin, sparse)
        runner = self._runner(path, admin)
        await runner.arun("reset", "--hard", "-q", start)
        return runner

    def _register(self, path: Path, branch: str | None, start: str) -> Path:
        """Register `path` as a worktree, as `git worktree add --no-checkout` does, without a git process: its
        folder in `<common>/worktrees/` (gitdir, commondir, HEAD) and the worktree's `.git` file. That step is
        serialized, and `worktree add` spent three git processes in it (the branch, HEAD), which 64 subtasks
        starting together waited for one after another; writing the files takes a millisecond."""
        registry = self.common_dir / "worktrees"
        with self.lock():
            registry.mkdir(exist_ok=True)
            name, k = path.name, 1
            while (registry / name).exists():
                name, k = f"{path.name}{k}", k + 1
            admin = registry / name
            admin.mkdir()
            (admin / "commondir").write_text("../..\n")
            (admin / "gitdir").write_text(f"{os.path.realpath(path)}/.git\n")
            (admin / "HEAD").write_text(f"ref: refs/heads/{branch}\n" if branch else f"{start}\n")
            path.mkdir(parents=True, exist_ok=True)
            (path / ".git").write_text(f"gitdir: {admin}\n")
        self._known[Path(os.path.realpath(path))] = admin
        return admin

    def remove(self, path: Path) -> None:
        """Remove the worktree at `path` (registration and folder); a folder git does not know goes too."""
        self.restore_git_file(path)  # `worktree remove` refuses a worktree whose .git does not point back
        admin = self.admin_dir(path)
        with self.lock():
            if path.exists() and admin is not None:
                self.repo.run("worktree", "remove", "--force", "--force", str(path), check=False)
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
            self.repo.run("worktree", "prune")
        self._known.pop(Path(os.path.realpath(path)), None)

    async def aremove(self, path: Path) -> None:
        await asyncio.to_thread(self.remove, path)

    def prune(self) -> None:
        """Forget worktrees whose folders are gone."""
        with self.lock():
            self.repo.run("worktree", "prune", check=False)

    def listed(self) -> list[Path]:
        """Every worktree folder git has registered (the main checkout excluded)."""
        out = self.repo.run("worktree", "list", "--porcelain", "-z", check=False).raw
        paths = [Path(field[len("worktree "):]) for field in out.split("\0") if field.startswith("worktree ")]
        return paths[1:]
