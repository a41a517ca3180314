"""`swarm watch`: follow a run from another terminal until it ends.

Two sources, watched with watchfiles: the run's `events.jsonl` (read from
where it was last read, so state changes, turns and tool calls feed the same
`Progress` that `swarm run` shows), and the run's worktrees, so files appear
as the agents change them. A change in a worktree is shown when `git status`
there agrees it is a change: that leaves out `.git`, ignored files and the
checkout that fills a new worktree. The watch ends with the run (a `run`
event with state done, failed or interrupted), or on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import watchfiles

from swarm.git.repo import GitRepo
from swarm.git.worktrees import POOL_DIR
from swarm.ui.progress import Progress
from swarm.run import events
from swarm.run.events import EventFold
from swarm.run.records import RunRecords

JUNK_DIRS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules"}
STATUS_WORDS = {"?": "added", "A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "modified",
                "C": "copied"}


class EventTail:
    """Reads the lines appended to an events.jsonl since the last read; a half-written line waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events


def wait_for_run(root: Path, known: set[str], *, poll: float = 0.2, stop: threading.Event | None = None) -> str | None:
    """Wait for a run of this repository that is not in `known` to begin; its id (None when `stop` is set).

    A run exists once its plan.json is written (swarm.run.records.list_runs), which
    comes before its first event: the watcher that follows it then misses nothing.
    """
    from swarm.run.records import list_runs

    stop = stop or threading.Event()
    while not stop.is_set():
        new = [r for r in list_runs(root) if r not in known]
        if new:
            return new[-1]
        stop.wait(poll)
    return None


class RunWatcher:
    """Feeds a run's events and worktree changes into a Progress until the run ends."""

    def __init__(self, repo: GitRepo, records: RunRecords, progress: Progress) -> None:
        self.repo = repo
        self.records = records
        self.progress = progress
        info = records.read_json("run.json") or {}
        self.home = Path(info.get("worktrees") or repo.worktrees_home() / records.run_id)
        plan = records.read_json("plan.json") or {"subtasks": []}
        self.ids = [s["id"] for s in plan["subtasks"]]
        self.tail = EventTail(records.dir / "events.jsonl")
        # The same fold as `swarm status`; it tells the progress display each change as it folds it.
        self.fold = EventFold(records.run_id, self.ids, listener=progress)
        self.seen: dict[tuple[str, str], str] = {}
        self.ready: set[Any] = set()  # subtasks whose worktree is made: a change there is their agent's

    # -- events --------------------------------------------------------------------------

    @property
    def ended(self) -> str | None:
        """The run's end state once its last `run` event is read."""
        return self.fold.ended

    def feed(self, event: dict[str, Any]) -> None:
        already = self.fold.ended
        kind, sid = event.get("type"), event.get("subtask")
        if kind == events.WORKSPACE:
            self.ready.add(sid)
        elif kind == events.PHASE:
            self.progress.phase(str(event.get("text") or ""))
        elif kind == events.RETRY or (kind == events.STATE and event.get("state") != "running"):
            self.ready.discard(sid)
        self.fold.feed(event)
        if self.fold.ended and not already:
            self.progress.board.finish(self.fold.ended)

    # -- files ---------------------------------------------------------------------------

    def _keep(self, change: watchfiles.Change, path: str) -> bool:
        parts = Path(path).parts
        if str(self.records.dir) in path:
            return parts[-1] == "events.jsonl"
        return not JUNK_DIRS.intersection(parts)

    def report(self, sid: str, paths: list[str] | None = None) -> None:
        """Show the files git sees as changed in a subtask's worktree (among `paths`, or all)."""
        worktree = self.home / sid
        if not worktree.is_dir() or self.repo.worktrees.admin_dir(worktree) is None:
            return
        args = ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]
        out = self.repo.in_worktree(worktree).run(*args, *(["--", *paths] if paths else []), check=False).raw
        for entry in out.split("\0"):
            if len(entry) < 4:
                continue
            code, path = entry[:2], entry[3:]
            word = STATUS_WORDS.get(code.strip()[:1] or "M", "modified")
            if self.seen.get((sid, path)) != word:
                self.seen[(sid, path)] = word
                self.progress.file(sid, word, path)

    def _slots(self) -> dict[Path, str]:
        """Pool slots held by this run's subtasks: the run's path for a subtask links to its slot."""
        held: dict[Path, str] = {}
        for sid in self.ids:
            link = self.home / sid
            if link.is_symlink():
                held[Path(os.path.realpath(link))] = sid
        return held

    def _relative(self, path: str, slots: dict[Path, str]) -> Path | None:
        """`<subtask>/<path in its worktree>` for a changed path, in the run's folder or in a slot it holds."""
        try:
            return Path(path).relative_to(self.home)
        except ValueError:
            pass
        for slot, sid in slots.items():
            try:
                return Path(sid) / Path(path).relative_to(slot)
            except ValueError:
                continue
        return None

    def changes(self, batch: set[tuple[watchfiles.Change, str]]) -> None:
        by_subtask: dict[str, list[str]] = {}
        slots = self._slots()
        for _, path in batch:
            rel = self._relative(path, slots)
            if rel is None or len(rel.parts) < 2 or rel.parts[0] not in self.ids:
                continue
            # Until its `workspace` event the worktree is being checked out: those writes are not the agent's.
            if rel.parts[0] not in self.ready or self.progress.board.row(rel.parts[0]).state != "running":
                continue
            by_subtask.setdefault(rel.parts[0], []).append(str(Path(*rel.parts[1:])))
        for sid, paths in by_subtask.items():
            self.report(sid, sorted(set(paths)))

    # -- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, tick: float = 0.25) -> str | None:
        """Follow the run until it ends (return its state) or the watch is stopped (return None)."""
        events = self.tail.read()
        started = next((e["ts"] for e in events if "ts" in e), None)
        self.progress.begin(f"run {self.records.run_id}", self.ids, started=started)
        for event in events:
            self.feed(event)
        if self.ended:
            return self.ended
        for sid in self.ids:
            if sid in self.ready and self.progress.board.row(sid).state == "running":
                self.report(sid)
        self.home.mkdir(parents=True, exist_ok=True)
        pool = self.home.parent / POOL_DIR  # pooled worktrees: the run's folder holds only links to them
        pool.mkdir(parents=True, exist_ok=True)
        for batch in watchfiles.watch(self.records.dir, self.home, pool, watch_filter=self._keep, stop_event=stop,
                                      yield_on_timeout=True, rust_timeout=int(tick * 1000), debounce=400, step=50,
                                      raise_interrupt=False):
            for event in self.tail.read():
                self.feed(event)
            if self.ended:
                return self.ended
            self.changes(batch)
        return self.ended
