"""The worktree pool: subtask worktrees kept and reused across subtasks and runs.

Slot k is `<worktrees home>/_pool/slot-<k>`, held by one process at a time
through a lock file beside it (flock: a killed holder releases it). Taking a
slot moves it to the subtask's branch at its start commit, which rewrites
only the files that differ, resets tracked changes and removes untracked
files while keeping ignored ones (installed dependencies, build output).
So a checkout is paid once per slot, not once per subtask; the pool grows to
the number of slots in use at once (the concurrency).

A slot left dirty by a killed run is rescued first: its edits are committed to
that run's rescue ref (swarm.review.clean), then reset. Giving a slot back
detaches it, so the subtask's branch stays at its commit and free for review
or another slot; past the `pool_disk_mb` cap a slot given back is removed.
The run's own path for the subtask (`<home>/<run-id>/<subtask>`) is a
symlink to the slot while the subtask holds it.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import weakref
from pathlib import Path
from typing import IO, Any

from swarm.env.sparse import reapply
from swarm.errors import GitError
from swarm.git.repo import GitRepo
from swarm.git.worktrees import HOLDER, JUNK_PATHSPECS, POOL_DIR
from swarm.review.clean import _keep, _snapshot  # the rescue of `swarm clean`, reused



def disk_usage(path: Path) -> int:
    """Bytes of the files below `path` (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class PoolSlot:
    """One pooled worktree, held by this process until `give_back`."""

    def __init__(self, pool: "WorktreePool", index: int, lock: IO[str]) -> None:
        self.pool = pool
        self.index = index
        self.path = pool.dir / f"slot-{index}"
        self._lock: IO[str] | None = lock
        self.reused = False
        self.rescued: str | None = None

    async def take(self, run_id: str, subtask_id: str, branch: str, start: str,
                   sparse: list[str] | None = None) -> None:
        """Put the slot on `branch` at `start`, clean but for ignored files; rescue what a killed run left.

        `sparse` patterns (swarm.env.sparse) make it hold only what they match.
        """
        repo = self.pool.repo
        admin = repo.worktrees.admin_dir(self.path) if self.path.is_dir() else None
        if admin is None:
            await repo.worktrees.add(self.path, start, branch=branch, sparse=sparse)
        else:
            self.reused = True
            await asyncio.to_thread(self._rescue, admin)
            where = repo.in_worktree(self.path)  # a sparse slot's runner says so on every command
            await where.arun("checkout", "-q", "-f", "--ignore-other-worktrees", "-B", branch, start)
            # -ff: an untracked folder with a `.git` of its own (an agent's `git init`) goes too; left, it
            # would break every later `git add` in this slot.
            await where.arun("clean", "-q", "-ff", "-d")
            await reapply(where, admin, sparse)
        admin = repo.worktrees.admin_dir(self.path)
        assert admin is not None
        (admin / HOLDER).write_text(json.dumps({"run_id": run_id, "subtask": subtask_id, "pid": os.getpid()}))

    def _rescue(self, admin: Path) -> None:
        repo = self.pool.repo
        repo.worktrees.restore_git_file(self.path)
        try:
            holder = json.loads((admin / HOLDER).read_text())
        except (OSError, ValueError):
            return  # given back properly (or never held): nothing of anyone's is here
        run_id = holder.get("run_id") or "pool"
        commit = _snapshot(self.path, admin, f"swarm rescue: uncommitted edits of {run_id}/{holder.get('subtask')}")
        if commit:
            self.rescued = _keep(repo, run_id, {f"uncommitted edits of {holder.get('subtask')}": commit},
                                 "left in a pool slot by a run that did not finish")

    async def give_back(self, committed: bool = False) -> None:
        """Detach the slot (its branch keeps the commit) and let another subtask take it.

        `committed`: everything in it was just committed, so it needs no look for edits left behind."""
        repo = self.pool.repo
        try:
            admin = repo.worktrees.admin_dir(self.path)
            if admin is not None:
                where = repo.in_worktree(self.path)
                if not (committed and _detach(repo, where, admin)):
                    await where.arun("checkout", "-q", "--detach", check=False)
                # Left dirty (its commit failed, say): the holder stays, so the next take rescues the edits.
                left = None if committed else await where.arun("status", "--porcelain", "--", ".",
                                                                *JUNK_PATHSPECS, check=False)
                if left is None or (left.code == 0 and not left.text.strip()):
                    (admin / HOLDER).unlink(missing_ok=True)
            cap = self.pool.disk_cap_mb
            if cap is not None and await asyncio.to_thread(disk_usage, self.pool.dir) > cap * 1_000_000:
                await repo.aremove_worktree(self.path)
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None


def _detach(repo: GitRepo, where: Any, admin: Path) -> bool:
    """Detach a worktree's HEAD at its branch's commit by writing HEAD itself, as `git checkout --detach`
    does when the commit stays the same (index and files are already that commit's); False when HEAD is not
    a plain branch with a loose ref, for git to do it."""
    head = repo.head_ref(where)
    if head is None:
        return False
    lock = admin / "HEAD.lock"
    try:
        handle = open(lock, "x")  # git's own lock: no git command is changing HEAD meanwhile
    except OSError:
        return False
    try:
        with handle:
            handle.write(f"{head[1]}\n")
        os.replace(lock, admin / "HEAD")
    except OSError:
        lock.unlink(missing_ok=True)
        return False
    return True


# The locks this process holds, by folder and prefix: skipped without a try (64 slots taken at once tried
# 2,080 locks, one open and flock each). A lock is held while its file stays open.
_HELD: dict[tuple[Path, str], "weakref.WeakValueDictionary[int, IO[str]]"] = {}


def lowest_free(folder: Path, prefix: str) -> tuple[int, IO[str]]:
    """The lowest k whose `<prefix>-k.lock` in `folder` no process holds, and that lock, now held."""
    folder.mkdir(parents=True, exist_ok=True)
    held = _HELD.setdefault((folder, prefix), weakref.WeakValueDictionary())
    for index in [k for k, h in held.items() if h.closed]:
        del held[index]
    index = 0
    while True:
        if index in held:
            index += 1
            continue
        handle = open(folder / f"{prefix}-{index}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            index += 1
            continue
        held[index] = handle
        return index, handle


class WorktreePool:
    """The pool of one repository's subtask worktrees."""

    def __init__(self, repo: GitRepo, disk_cap_mb: int | None = None) -> None:
        self.repo = repo
        self.dir = repo.worktrees_home() / POOL_DIR
        self.disk_cap_mb = disk_cap_mb

    def acquire(self) -> PoolSlot:
        """The lowest-numbered slot no process holds (a new one when all are held)."""
        index, handle = lowest_free(self.dir, "slot")
        return PoolSlot(self, index, handle)

    def empty(self) -> tuple[int, list[str], list[str]]:
        """Remove every slot no process holds, rescuing edits first.

        Returns how many went, the slots a running swarm holds (left in place) and the errors."""
        removed, busy, errors = 0, [], []
        if not self.dir.is_dir():
            return 0, [], []
        for lock in sorted(self.dir.glob("slot-*.lock")):
            handle = open(lock, "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                busy.append(lock.stem)
                continue
            slot = PoolSlot(self, int(lock.stem.split("-")[1]), handle)
            try:
                admin = self.repo.worktrees.admin_dir(slot.path) if slot.path.exists() else None
                if admin is not None:
                    slot._rescue(admin)
                if slot.path.exists() or admin is not None:
                    self.repo.remove_worktree(slot.path)
                    removed += 1
            except (GitError, OSError) as e:
                errors.append(f"{slot.path}: {e}")
            finally:
                # The lock file stays: deleted, a process that had just opened it could lock the old file
                # while another locks a new one, and both would hold the slot.
                handle.close()
        return removed, busy, errors
