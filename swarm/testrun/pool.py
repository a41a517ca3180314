"""The worktrees shards run in: a pool of detached worktrees, reused from run to run.

Slot k is `<worktrees home>/_test/shard-<k>`. A process holds a slot through
an exclusive lock on `shard-<k>.lock`, so concurrent `swarm test` runs (or a
run's synthesis pass next to the user) take different slots. Preparing a
slot that exists is a `git checkout --detach -f` to the commit plus `git
clean -ffdx` (what the last run wrote goes), sparing `__pycache__` so that
modules the commit did not change are not compiled again; bytecode of the
files that did change is removed, because Python trusts a .pyc whose source
has the same size and mtime second. See docs/benchmarks.md for the
measurements behind this choice.
"""

from __future__ import annotations

import asyncio
import fcntl
import shutil
from pathlib import Path
from typing import IO

from swarm.errors import GitError
from swarm.env.python import python_env
from swarm.env.pool import lowest_free
from swarm.git.repo import GitRepo

SPARE = ["-e", "__pycache__"]


class Slot:
    """One worktree of the pool, held by this process until `release`."""

    def __init__(self, repo: GitRepo, index: int, path: Path, lock: IO[str]) -> None:
        self.repo = repo
        self.index = index
        self.path = path
        self._lock: IO[str] | None = lock

    async def prepare(self, commit: str) -> None:
        """Make the worktree hold exactly `commit`, and nothing a previous run left."""
        if self.path.is_dir() and self.repo.worktrees.admin_dir(self.path) is not None:
            await asyncio.to_thread(self.repo.worktrees.restore_git_file, self.path)
            where = self.repo.in_worktree(self.path)
            head = await where.arun("rev-parse", "HEAD", check=False)
            if head.code == 0:
                await where.arun("checkout", "--detach", "-f", "-q", commit)
                await where.arun("clean", "-ffdxq", *SPARE)
                if head.text.strip() != commit:
                    await self._drop_stale_bytecode(head.text.strip(), commit)
                return
        # A folder git no longer knows as a worktree (or a half-made one) is replaced.
        await self.repo.add_detached_worktree(self.path, commit)

    async def _drop_stale_bytecode(self, old: str, new: str) -> None:
        where = self.repo.in_worktree(self.path)
        changed = await where.arun("diff", "--name-only", "-z", old, new, "--", "*.py", check=False)
        if changed.code != 0:  # the old commit may be gone: then no bytecode is trusted
            await where.arun("clean", "-ffdxq")
            return
        for name in filter(None, changed.raw.split("\0")):
            source = self.path / name
            for pyc in (source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"):
                pyc.unlink(missing_ok=True)

    def release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


class WorktreePool:
    """Hands out free slots of a repository's pool, making new ones as needed."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self.dir = repo.worktrees_home() / "_test"

    def acquire(self) -> Slot:
        """The lowest-numbered slot no other process (or caller) holds."""
        index, handle = lowest_free(self.dir, "shard")
        return Slot(self.repo, index, self.dir / f"shard-{index}", handle)

    def remove(self) -> list[str]:
        """Remove every slot no one holds; return what could not be removed."""
        problems: list[str] = []
        for lock in sorted(self.dir.glob("shard-*.lock")) if self.dir.is_dir() else []:
            slot_path = lock.with_suffix("")
            with open(lock, "w") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    problems.append(f"{slot_path} is in use by a running `swarm test`")
                    continue
                try:
                    self.repo.remove_worktree(slot_path)
                except GitError as e:
                    problems.append(f"{slot_path}: {e}")
                shutil.rmtree(slot_path, ignore_errors=True)
        return problems


def slot_env(repo_root: Path, pool_dir: Path, cwd: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` for a process run at `cwd` inside a slot: SWARM_WORKTREE, and the slot's code before an editable install."""
    try:
        slot = pool_dir / cwd.relative_to(pool_dir).parts[0]
    except (ValueError, IndexError):
        return env
    shadow = python_env(repo_root, env.get("PATH")).pythonpath(slot, env.get("PYTHONPATH"))
    return {**env, "SWARM_WORKTREE": str(slot), **({"PYTHONPATH": shadow} if shadow else {})}
