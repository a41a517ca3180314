"""Running test commands in shards, each shard in its own pooled worktree of one commit.

For a pytest command: when earlier runs of it left durations, the plan is cut
from them at once; on a first run the test files pytest would find are dealt
out by size (balance.size_plan), and only when there are none to find does one
`--collect-only -q` pass list the tests first. Every shard then runs the same
command in its own worktree, with
swarm's plugin choosing its part (see shard_plugin.py) and a JUnit file
recording what happened; their events stream progress as they go.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Coroutine, TypeVar

from swarm.errors import TestCommandError
from swarm.git.repo import tracked_sizes
from swarm.testrun.balance import ShardPlan, make_plan, size_plan, test_files
from swarm.testrun.command import TestCommand
from swarm.testrun.invocation import Invocation, Tail
from swarm.testrun.junit import Case, read_junit
from swarm.testrun.pool import Slot
from swarm.testrun.results import PYTEST_FINISHED, ShardRun, TestReport

PROGRESS_EVERY = 5.0
T = TypeVar("T")

class CommandRun:
    """One command of a `swarm test`, split into shards and run to one TestReport."""

    def __init__(self, invocation: Invocation, command: TestCommand, shards: int) -> None:
        self.s = invocation
        self.command = command
        self.requested = shards
        slug = "".join(c if c.isalnum() or c in "-." else "-" for c in command.label).strip("-")
        self.prefix = f"{slug}-" if slug else ""
        self.notes: list[str] = []
        self.tails: dict[int, Tail] = {}

    def _path(self, name: str) -> Path:
        return self.s.records / f"{self.prefix}{name}"

    def _mode(self, shards: int) -> str:
        """`shard` when swarm splits a pytest suite itself; `observe` when pytest runs what the command selects."""
        if self.command.is_pytest and not self.command.self_splitting and shards > 1:
            return "shard"
        return "observe"

    def _shard_count(self) -> int:
        if self.command.is_pytest or self.command.self_splitting or self.requested == 1:
            return self.requested
        self.notes.append(f"`{self.command.text}` is not pytest and has no {{shard}} placeholder, so it ran as "
                          "one shard; add `{shard}`/`{shards}` where the runner takes its part")
        return 1

    async def run(self) -> TestReport:
        started = time.monotonic()
        count = self._shard_count()
        slots = [self.s.pool.acquire() for _ in range(count)]
        ready = [asyncio.create_task(self._prepare(slot)) for slot in slots]
        try:
            plan = await self._plan(count, slots[0], ready[0]) if self._mode(count) == "shard" else None
            if plan is not None and plan.shards < count:
                count = plan.shards
            shards = [ShardRun(k, count, self.command.label, slots[k].path, self._path(f"shard-{k + 1}.log"),
                               self._path(f"shard-{k + 1}.xml") if self._reads_junit() else None,
                               planned=plan.counts[k] if plan and plan.counts else None) for k in range(count)]
            self.tails = {k: Tail(self._path(f"shard-{k + 1}.events.jsonl")) for k in range(count)}
            done = asyncio.Event()
            watcher = asyncio.create_task(self._watch(shards, done))
            try:
                await gather_or_cancel([self._run_shard(shard, slots[k], ready[k], plan)
                                        for k, shard in enumerate(shards)])
            finally:
                done.set()
                await watcher
        finally:
            # A checkout is not cut short (git would leave its lock behind); the slot is free once it ends.
            await asyncio.gather(*ready, return_exceptions=True)
            for slot in slots:
                slot.release()
        if self.command.is_pytest and all(shard.exit_code == 4 for shard in shards):
            raise TestCommandError(f"pytest refused `{self.command.text}` (usage error):\n{_tail(shards[0].log)}")
        report = TestReport(self.command.text, self.command.label, self.s.commit, shards,
                            time.monotonic() - started, self.s.records, counted=self._reads_junit(), notes=self.notes)
        report.rerun_command = self.command.rerun(report.failed)
        self._check_checkout_imports(report)
        self._record(report, plan)
        return report

    def _reads_junit(self) -> bool:
        return self.command.is_pytest or self.command.writes_junit

    def _workdir(self, slot: Slot) -> Path:
        """The folder the command runs in: the worktree's copy of the one the user is in."""
        path = slot.path / self.command.cwd
        if isinstance(slot, Slot) and not path.is_dir():  # a slot on a cluster node is checked there
            raise TestCommandError(f"{self.command.cwd} is not a folder in commit {self.s.commit[:10]}; run "
                                   "swarm test from a folder the commit has")
        return path

    async def _prepare(self, slot: Slot) -> float:
        started = time.monotonic()
        await slot.prepare(self.s.commit)
        return time.monotonic() - started

    async def _plan(self, count: int, slot: Slot, ready: asyncio.Task[float]) -> ShardPlan | None:
        ids = self.s.store.suite(self.command.key)
        collect = self.s.store.collect_costs()
        if ids is None:
            sized = test_files(await asyncio.to_thread(tracked_sizes, self.s.repo, self.s.commit),
                               self.command.cwd, self.command.pytest_args)
            if len(sized) > 1:
                # A first run: no collection pass before the shards, whose own collection records the suite.
                plan = size_plan(sized, count)
                self._path("plan.json").write_text(json.dumps(plan.to_json()), encoding="utf-8")
                self.s.progress.note(f"{self.command.label + ': ' if self.command.label else ''}{plan.shards} "
                                     f"shard(s), {len(sized)} test files dealt out by size (a first run: no "
                                     "durations recorded yet)")
                return plan
            await ready
            ids, measured = await self._collect(slot)
            collect.update(measured)
            source = f"{len(ids)} tests collected"
        else:
            source = f"durations of {len(ids)} tests from earlier runs"
        count = max(1, min(count, len(ids)))
        plan = make_plan(ids, count, self.s.store.durations(), collect)
        used = sum(1 for n in plan.counts if n)
        if 0 < used < count:  # fewer files than shards: no pytest start-up for a shard with nothing to do
            plan = make_plan(ids, used, self.s.store.durations(), collect)
        self._path("plan.json").write_text(json.dumps(plan.to_json()), encoding="utf-8")
        self.s.progress.note(f"{self.command.label + ': ' if self.command.label else ''}{plan.shards} shard(s), "
                             f"planned from {source}; predicted "
                             + ", ".join(f"{load:.1f}s" for load in plan.loads))
        return plan

    async def _collect(self, slot: Slot) -> tuple[list[str], dict[str, float]]:
        self.s.progress.note(f"collecting the tests of `{self.command.text}` (no durations recorded for it yet)")
        events, log = self._path("collect.events.jsonl"), self._path("collect.log")
        env = self.s.pytest_env(self.command, "collect", 0, events)
        code, _ = await self.s.spawn(self.command.collect_argv(), self._workdir(slot), env, log)
        for event in Tail(events).read():
            if event.get("e") == "collected":
                return list(event.get("ids") or []), dict(event.get("collect") or {})
        raise TestCommandError(f"`{self.command.text}` did not get as far as collecting tests "
                               f"(exit {code}); its output ends:\n{_tail(log)}\nCheck that it runs in your checkout.")

    async def _run_shard(self, shard: ShardRun, slot: Slot, ready: asyncio.Task[float],
                         plan: ShardPlan | None) -> None:
        shard.prepare_seconds = await ready
        junit = shard.junit or self._path(f"shard-{shard.index + 1}.unused.xml")
        shard.argv = self.command.shard_argv(shard.index, shard.shards, junit)
        events = self.tails[shard.index].path
        env = self.s.pytest_env(self.command, self._mode(shard.shards), shard.index, events,
                                self._path("plan.json") if plan else None)
        detail = f"{shard.planned} tests" if shard.planned is not None else ""
        self.s.progress.state(shard.name, "running", detail)
        shard.exit_code, shard.seconds = await self.s.spawn(shard.argv, self._workdir(slot), env, shard.log)
        self._drain(shard)
        if shard.junit is not None:
            shard.cases = _name_collection_errors(read_junit(shard.junit), shard.collect_errors)
        shard.error = self._shard_error(shard)
        totals = shard.totals()
        summary = ", ".join(f"{n} {k}" for k, n in totals.items() if n) or f"exit {shard.exit_code}"
        self.s.progress.state(shard.name, "failed" if shard.error or totals["failed"] or totals["error"] else "done",
                              f"{summary} in {shard.seconds:.1f}s")

    def _shard_error(self, shard: ShardRun) -> str | None:
        code = shard.exit_code
        if code is None:
            return f"timed out after {self.s.timeout:g}s" + (f" in {shard.last_started}" if shard.last_started else "")
        if code < 0:
            return f"killed by signal {-code}" + (f" while running {shard.last_started}" if shard.last_started else "")
        if not self.command.is_pytest:
            return None if code == 0 else f"exit {code}"
        if code not in PYTEST_FINISHED:
            return f"pytest ended with exit {code} (2: interrupted or collection errors, 3: internal error, " \
                   "4: usage error)"
        if shard.rootdir and not Path(shard.rootdir).resolve().is_relative_to(shard.worktree.resolve()):
            # Test ids are relative to the rootdir: outside the worktree they differ from shard to shard.
            return (f"pytest's rootdir was {shard.rootdir}, outside the shard's worktree (a pytest.ini or "
                    "similar above it?); add --rootdir=. to the command")
        if self._mode(shard.shards) == "shard" and shard.collected is None:
            return ("swarm's pytest plugin did not load, so the shard may have run the whole suite: the command "
                    "must honour PYTHONPATH and PYTEST_PLUGINS (no `python -I`/`-E`)")
        if code == 1 and not any(c.outcome in ("failed", "error") for c in shard.cases):
            return "pytest exited 1 though no test failed"
        return None

    def _drain(self, shard: ShardRun) -> None:
        for event in self.tails[shard.index].read():
            kind = event.get("e")
            if kind == "start":
                shard.last_started = event.get("id")
            elif kind == "done":
                outcome = event.get("outcome", "passed")
                shard.counts[outcome] = shard.counts.get(outcome, 0) + 1
                if outcome in ("failed", "error"):
                    self.s.progress.note(f"{outcome.upper()} {event.get('id')}  ({shard.name})")
            elif kind == "collected":
                shard.collected = int(event.get("count", 0))
                shard.rootdir = event.get("rootdir")
                shard.collect = dict(event.get("collect") or {})
            elif kind == "collecterror":
                shard.collect_errors.append(str(event.get("id")))
            elif kind == "checkout_modules":
                shard.checkout_files = list(event.get("files") or [])

    async def _watch(self, shards: list[ShardRun], done: asyncio.Event) -> None:
        """Stream progress: failures as they happen, and counts every few seconds."""
        last = time.monotonic()
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), 0.25)
            except asyncio.TimeoutError:
                pass
            for shard in shards:
                self._drain(shard)
            if time.monotonic() - last >= PROGRESS_EVERY and not done.is_set():
                last = time.monotonic()
                finished = sum(sum(s.counts.values()) for s in shards)
                failed = sum(s.counts.get("failed", 0) + s.counts.get("error", 0) for s in shards)
                planned = sum(s.planned or 0 for s in shards)
                self.s.progress.note(f"{self.command.label + ': ' if self.command.label else ''}{finished}"
                                     f"{f'/{planned}' if planned else ''} tests done, {failed} failed")

    def _check_checkout_imports(self, report: TestReport) -> None:
        files = sorted({f for shard in report.shards for f in shard.checkout_files})
        if not files:
            return
        tracked = self.s.repo.git("ls-tree", "-r", "--name-only", self.s.commit, "--", *files, check=False).split()
        if tracked:
            report.notes.append(
                f"{len(tracked)} file(s) of the repository were imported from your checkout ({self.s.repo.root}) "
                f"instead of the shard's worktree, e.g. {tracked[0]}: those tests ran your working copy, not "
                f"{self.s.commit[:10]}. Run `python -m pytest` from the repository root, or put the package's "
                "folder on PYTHONPATH as a relative path (e.g. PYTHONPATH=src)")

    def _record(self, report: TestReport, plan: ShardPlan | None) -> None:
        if not self.command.is_pytest:
            return
        collect: dict[str, float] = {}
        for shard in report.shards:
            for file, seconds in shard.collect.items():
                collect[file] = min(seconds, collect.get(file, seconds))
        ids = list(report.outcomes) if plan is not None else []
        # After a crash, or a file that failed to import, this run saw only part of the suite: keep the old ids too.
        complete = all(s.error is None for s in report.shards) and all("::" in i for i in report.failed)
        self.s.store.record(self.command.key, [i for i in ids if "::" in i], complete=complete,
                            durations=report.durations, collect=collect)


async def gather_or_cancel(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run all at once; if one fails (or this is cancelled), cancel the others and wait for them to stop."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _name_collection_errors(cases: list[Case], errors: list[str]) -> list[Case]:
    """JUnit names a file that failed to import like a module (tests.test_x); give it back its node id."""
    by_name = {e.removesuffix(".py").replace("/", "."): e for e in errors}
    for case in cases:
        if case.id in by_name:
            case.id = by_name[case.id]
    return cases
