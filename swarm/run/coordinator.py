"""The coordinator: one pipeline per subtask, run concurrently, then the merge.

Each subtask flows through its own pipeline (worktree -> agent or command ->
commit -> diff) instead of the run moving phase by phase, so an agent starts
as soon as its own worktree exists and slow checkouts overlap other agents'
model calls. A subtask with dependencies waits for them and starts from the
merge of their commits, so it sees their changes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
from anthropic import AsyncAnthropic

from swarm.model.errors import ModelAPIError
from swarm.model.gate import ModelGate
from swarm.merge.diffs import changed_paths, parse_diff
from swarm.errors import AgentStopped, BudgetExceeded, SwarmError
from swarm.git.refs import merged_branch, subtask_branch
from swarm.git.repo import GitRepo
from swarm.merge.fold import fold
from swarm.model.usage import Usage
from swarm.plan.spec import Plan, Subtask
from swarm.ui.progress import Progress
from swarm.run.records import RunRecords, utc_now
from swarm.ui.report import write_report
from swarm.config import RunOptions, price_table
from swarm.run.integrate import Integration, describe_error
from swarm.run import events
from swarm.run.carry import Carry, carry_from_record, carry_note
from swarm.run.result import RunResult, SubtaskResult
from swarm.runtime import process_facts
from swarm.run.spend import run_spend, settle_usage
from swarm.run.state import PhaseMarks, SubtaskRun
from swarm.run.executor import Executor, OpeningTools, Tools, Workspace, local_executor
from swarm.run.worker import first_message, run_agent, run_command
from swarm.run.preflight import run_notes, say_notes


class Coordinator:
    """Runs a plan in a repository and leaves the merged branch and the run's records."""

    def __init__(self, repo: GitRepo, plan: Plan, client: AsyncAnthropic | None, *, run_id: str,
                 records: RunRecords, progress: Progress, tool_env: dict[str, str],
                 options: RunOptions | None = None, previous: dict[str, SubtaskResult] | None = None,
                 base: str | None = None, executor: Executor | None = None, notes: Any = None) -> None:
        self.repo = repo
        # Where each subtask's workspace lives (swarm.run.executor): this machine unless told otherwise.
        self.executor: Executor = executor or local_executor(repo, records, options or RunOptions(), plan)
        self._workspaces: dict[str, Workspace] = {}
        self.plan = plan
        self.client = client
        self.run_id = run_id
        self.records = records
        self.progress = progress
        self.tool_env = tool_env
        self.options = options or RunOptions()
        home = repo.worktrees_home() / run_id
        self.states = {s.id: SubtaskRun(s.id, subtask_branch(run_id, s.id), home / s.id) for s in plan.subtasks}
        self._finished = {s.id: asyncio.Event() for s in plan.subtasks}
        self._marks = PhaseMarks()
        self.base = base or ""
        self.previous = previous or {}
        self.gate = ModelGate(self.options.concurrency, client=client, model=self.options.model,
                              max_cost=self.options.max_cost,
                              on_event=lambda kind, **data: self.records.event(kind, **data))
        self.prices = price_table(self.options)
        # An API error every other call would meet too (a bad key): the run stops, and it is the run's error.
        self.fatal: ModelAPIError | None = None
        self._carry: dict[str, Carry] = {}  # subtask id -> where it continues from, and the note for its agent
        # What the run's earlier sessions spent (killed ones too) counts: toward --max-cost, and in each subtask's.
        self.spent_before = run_spend(records)
        self.gate.spent = self.spent_before.total.cost_usd
        for st in self.states.values():
            st.usage = self.spent_before.of(st.id)
        self.stop_reason: str | None = None
        self._client_no_retries: AsyncAnthropic | None = None
        self.plan_seconds = 0.0
        self.plan_usage: Usage | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._baseline_task: asyncio.Task[Any] | None = None
        self._notes = notes  # the repository's, worked out while the run starts (swarm.run.preflight)

    # -- bookkeeping -------------------------------------------------------------------

    def _set(self, st: SubtaskRun, state: str, detail: str = "", **data: Any) -> None:
        st.state = state
        self.records.event(events.STATE, subtask=st.id, state=state, detail=detail, **data)
        self.progress.state(st.id, state, detail, **data)

    # -- one subtask ---------------------------------------------------------------------

    async def _restore(self, subtask: Subtask, st: SubtaskRun) -> bool:
        record = self.previous.get(subtask.id)
        if not record or record.state != "done" or not record.commit:
            return False
        if await self.repo.branch_head(st.branch) != record.commit:
            return False
        st.restore(record)
        st.usage = self.spent_before.of(subtask.id)  # every session's attempts, not only the one that finished
        self._set(st, "done", "kept from the earlier session", commit=st.commit, files_changed=st.files_changed)
        return True

    def _stop(self, reason: str, *, cancel_running: bool) -> None:
        """Launch nothing more; with `cancel_running`, also stop the agents in flight."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.progress.note(f"stopping: {reason}")
        if cancel_running:
            # Subtasks not yet begun are left to notice the stop: they end as skipped or cancelled on their own.
            current = asyncio.current_task()
            for sid, task in self._tasks.items():
                if task is not current and not task.done() and self.states[sid].start_commit:
                    task.cancel()

    async def _pipeline(self, subtask: Subtask, agent_slots: asyncio.Semaphore,
                        checkout_slots: asyncio.Semaphore) -> None:
        st = self.states[subtask.id]
        try:
            if await self._restore(subtask, st):
                return
            for dep in subtask.depends_on:
                await self._finished[dep].wait()
            not_done = [d for d in subtask.depends_on if self.states[d].state != "done"]
            if not_done:
                st.error = f"dependency {', '.join(not_done)} did not finish"
                self._set(st, "skipped", st.error)
                return
            if self.stop_reason:
                st.error = f"not started: {self.stop_reason}"
                self._set(st, "cancelled", st.error)
                return
            st.start_commit = await self._start_commit(subtask)
            await self._carry_over(subtask, st)
            attempts = 1 + (self.options.retries if self.options.on_failure == "retry" else 0)
            complete = True
            for attempt in range(1, attempts + 1):
                st.attempts = attempt
                try:
                    complete = await self._attempt(subtask, st, agent_slots, checkout_slots)
                    break
                except BudgetExceeded:
                    raise
                except (SwarmError, AgentStopped, anthropic.APIError, OSError) as e:
                    if attempt == attempts or getattr(e, "stops_run", False):
                        raise
                    await self._carry_failure(subtask, st, e)
            state = "done" if complete else "incomplete"
            if not complete:  # the reason it is not done, shown wherever an error would be
                st.error = f"used all {self.options.max_turns} turns; its work is on {st.branch}, not merged " \
                    f"(`swarm review --keep {st.id}`, or `swarm resume {self.run_id} --max-turns {self.options.max_turns * 2}`)"
            detail = f"{len(st.files_changed)} file(s) changed in {st.seconds:.1f}s" if complete else st.error
            self._set(st, state, detail, commit=st.commit, files_changed=st.files_changed, summary=st.summary,
                      start_commit=st.start_commit, usage=st.usage.to_dict(), turns=st.turns,
                      seconds=round(st.seconds, 2))
        except asyncio.CancelledError:
            await asyncio.shield(self._keep_work(subtask, st, "cancelled", self.stop_reason or "interrupted"))
            raise
        except BudgetExceeded as e:
            st.error = str(e)
            self._stop(str(e), cancel_running=True)
            await self._keep_work(subtask, st, "cancelled", st.error)
        except (SwarmError, AgentStopped, anthropic.APIError, OSError) as e:
            st.error = describe_error(e)
            await self._keep_work(subtask, st, "failed", st.error)
            if isinstance(e, ModelAPIError) and e.stops_run:
                self.fatal = self.fatal or e
                self._stop(str(e), cancel_running=True)
            elif self.options.on_failure == "fail-fast":
                self._stop(f"subtask {subtask.id} failed (--on-failure fail-fast)", cancel_running=True)
        except Exception as e:  # a defect of swarm's own: the subtask fails saying so, its work kept, never silent
            st.error = f"internal error: {type(e).__name__}: {e}"
            await self._keep_work(subtask, st, "failed", st.error)
        finally:
            self._finished[subtask.id].set()

    async def _attempt(self, subtask: Subtask, st: SubtaskRun, agent_slots: asyncio.Semaphore,
                       checkout_slots: asyncio.Semaphore) -> bool:
        """One try at a subtask, from its start commit or its work so far; False when it ran out of turns.

        The worktree is prepared while the agent's first model call is in flight: no checkout is on
        the critical path. The agent's first tool call (a command subtask's command) waits for it.
        """
        assert st.start_commit is not None
        carried = self._carry.get(subtask.id)
        complete = True
        async with agent_slots:
            if self.stop_reason:
                raise asyncio.CancelledError
            # From the work so far, the branch keeps that commit in its history: nothing is orphaned.
            opening = asyncio.create_task(self._open(subtask, st, carried.commit if carried else st.start_commit,
                                                     checkout_slots), name=f"{subtask.id}:worktree")
            self._set(st, "running", f"command: {subtask.command}" if subtask.command else "")
            began = time.monotonic()
            self._marks.mark("agents")
            try:
                if subtask.command:
                    await asyncio.shield(opening)
                    await self._run_command(subtask, st)
                else:
                    complete = await self._run_agent(subtask, st, OpeningTools(opening),
                                                     carried.note if carried else None)
                await asyncio.shield(opening)  # the commit below needs it, even when the agent called no tool
            except BaseException:
                # A checkout is never cut short (git would leave its locks, and a pool slot would be given
                # back while git still writes in it): it ends, and the failure paths commit and close it.
                await asyncio.wait({opening})
                if not opening.cancelled():
                    opening.exception()  # seen: its error, if any, is not the one reported here
                raise
            finally:
                st.seconds = time.monotonic() - began
                self._marks.mark("agents")
        title = f"swarm({subtask.id}): {subtask.title or subtask.id}"
        await self._commit(subtask, st, title if complete else f"{title} (incomplete: out of turns)")
        await self._close(subtask.id)
        return complete

    async def _open(self, subtask: Subtask, st: SubtaskRun, start: str,
                    checkout_slots: asyncio.Semaphore) -> Workspace:
        async with checkout_slots:
            workspace = await self.executor.open(subtask.id, st.branch, start, st.worktree, self.tool_env)
        self._workspaces[subtask.id] = workspace  # where the commit and the failure paths find it
        self._marks.mark("worktrees")
        self.records.event(events.WORKSPACE, subtask=subtask.id, path=str(st.worktree))
        return workspace

    async def _close(self, subtask_id: str) -> None:
        workspace = self._workspaces.pop(subtask_id, None)
        if workspace is not None:
            await workspace.close()

    async def _carry_over(self, subtask: Subtask, st: SubtaskRun) -> None:
        """On resume: an unfinished subtask continues from its work-in-progress commit, if its branch still has it."""
        record = self.previous.get(subtask.id)
        carry = await carry_from_record(self.repo, st.branch, record.to_dict()) if record else None
        if carry is not None and record is not None:
            st.start_commit = record.start_commit  # the diff (and review) still measure from where it began
            self._carry[subtask.id] = carry

    async def _carry_failure(self, subtask: Subtask, st: SubtaskRun, error: BaseException) -> None:
        """After a failed attempt: keep its work, and let the next attempt continue from it."""
        reason = describe_error(error)
        self.progress.state(st.id, "retrying", f"attempt {st.attempts} failed: {reason}")
        self.records.event(events.RETRY, subtask=st.id, attempt=st.attempts, error=reason)
        if subtask.id in self._workspaces:
            await self._commit(subtask, st, f"swarm({subtask.id}): work in progress (attempt {st.attempts} failed)")
            await self._close(subtask.id)
            if st.commit and st.commit != st.start_commit:
                self._carry[subtask.id] = Carry(st.commit, carry_note(f"failed: {reason}", st.commit,
                                                                      st.files_changed, st.summary))

    async def _start_commit(self, subtask: Subtask) -> str:
        if not subtask.depends_on:
            return self.base
        deps = [(d, self.states[d].commit or self.base) for d in subtask.depends_on]
        folded = await fold(self.repo, self.base, deps, {d: self.states[d].files_changed for d in subtask.depends_on},
                            label=f"swarm({subtask.id})")
        if folded.conflicts:
            files = ", ".join(sorted({c.file for c in folded.conflicts}))
            raise SwarmError(f"its dependencies conflict with each other in {files}")
        return folded.commit

    async def _run_agent(self, subtask: Subtask, st: SubtaskRun, tools: Tools, carried: str | None = None) -> bool:
        """Run the subtask's agent; False when it ran out of turns (its summary is kept either way)."""
        if self.client is None:
            raise SwarmError("no model client: set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a local endpoint)")

        def on_event(kind: str, **data: Any) -> None:
            self.records.event(kind, subtask=subtask.id, **data)
            self.progress.activity(subtask.id, kind, **data)
            if kind == events.TURN:
                st.turns += 1

        st.summary, complete = await run_agent(
            self._client_no_retries, tools, first_message(self.plan, subtask, carried),
            options=self.options, prices=self.prices, gate=self.gate, usage=st.usage, events=on_event,
            transcript=lambda entry: self.records.transcript(subtask.id, entry))
        return complete

    async def _run_command(self, subtask: Subtask, st: SubtaskRun) -> None:
        st.summary = await run_command(self._workspaces[subtask.id], subtask, self.options.command_timeout,
                                       lambda entry: self.records.transcript(subtask.id, entry))

    async def _commit(self, subtask: Subtask, st: SubtaskRun, message: str) -> None:
        assert st.start_commit is not None
        body = f"{message}\n\n{st.summary}".strip() if st.summary else message
        workspace = self._workspaces.get(subtask.id)
        commit = await workspace.commit(body) if workspace is not None else None
        carried = self._carry.get(subtask.id)  # nothing new on top of carried work: that work is the result
        st.commit = commit or (carried.commit if carried else st.start_commit)
        text = await self.repo.diff(st.start_commit, st.commit) if st.commit != st.start_commit else ""
        files = parse_diff(text)
        st.files_changed = changed_paths(files)
        self.records.write_json(f"diffs/{subtask.id}.json", {"subtask": subtask.id, "base": st.start_commit,
                                                              "commit": st.commit, "files": files})
        self.records.write_text(f"diffs/{subtask.id}.patch", text)

    async def _keep_work(self, subtask: Subtask, st: SubtaskRun, state: str, reason: str) -> None:
        """Commit whatever the agent left as work in progress, so nothing is lost."""
        if st.start_commit and subtask.id in self._workspaces:
            try:
                await self._commit(subtask, st, f"swarm({subtask.id}): work in progress ({state})")
            except (SwarmError, OSError) as e:
                # The state below still goes out; the record says why its work may be missing.
                self.records.event(events.STATE, subtask=st.id, state=state,
                                   detail=f"work in progress not committed: {describe_error(e)}")
        await self._close(subtask.id)
        self._set(st, state, reason, commit=st.commit, files_changed=st.files_changed)

    # -- the run ---------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        """Run every subtask, merge, write the records; return result.json's record."""
        started = time.monotonic()
        resuming = bool(self.base)
        self.base = self.base or await self.repo.aresolve(self.options.base)
        await asyncio.to_thread(self.repo.exclude_swarm_dir)
        self.records.begin(self.plan, self.base, self.options.to_dict(), self.repo.root,
                           self.repo.worktrees_home() / self.run_id, resuming=resuming,
                           planner_usage=self.plan_usage.to_dict() if self.plan_usage else None)
        self.records.event(events.RUN, state="running", base_commit=self.base, resumed=resuming)
        for line in await run_notes(self.repo, self.plan, self.options, self.prices, self.run_id, self.base,
                                    self.tool_env):
            self.progress.note(line)
        agent_slots = asyncio.Semaphore(self.options.concurrency)
        checkout_slots = asyncio.Semaphore(self.options.checkout_concurrency)
        self._client_no_retries = self.client.with_options(max_retries=0) if self.client else None
        if self.plan.test_command:
            # The base's tests do not depend on the agents: they run while the agents work.
            from swarm.checks import run_tests_at

            self._baseline_task = asyncio.create_task(run_tests_at(
                self.repo, self.base, self.plan.test_command, self.options.command_timeout, env=self.tool_env))
        self._tasks = {s.id: asyncio.create_task(self._pipeline(s, agent_slots, checkout_slots), name=s.id)
                       for s in self.plan.subtasks}
        tasks = list(self._tasks.values())
        notes = asyncio.ensure_future(say_notes(self.progress, self.repo, self.tool_env, self._notes))
        state = "done"
        try:
            # Children cancelled by a policy come back as exceptions; only our own cancellation raises.
            await asyncio.gather(*tasks, return_exceptions=True)
        except asyncio.CancelledError:
            state = "interrupted"
            self.stop_reason = self.stop_reason or "interrupted (Ctrl-C)"
            for task in tasks:
                task.cancel()
            if self._baseline_task is not None:
                self._baseline_task.cancel()
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
        await asyncio.shield(notes)  # said before the run's end, however quick the run was
        merge_began = time.monotonic()
        after = Integration(self.repo, self.plan, run_id=self.run_id, base=self.base, records=self.records,
                            progress=self.progress, options=self.options, states=self.states,
                            client=self._client_no_retries, gate=self.gate, tool_env=self.tool_env,
                            baseline_task=self._baseline_task)
        state = "failed" if self.fatal is not None else state
        integrator = after.integrator() if state == "done" else None
        folded = await asyncio.shield(after.merge(integrator))
        merge_seconds = time.monotonic() - merge_began
        checks_began = time.monotonic()
        report = await after.check(folded.commit)
        checks_seconds = time.monotonic() - checks_began
        synthesis: dict[str, Any] = {"seconds": 0.0, "checks_seconds": 0.0, "contradictions": [], "info": None}
        if integrator is not None and self.options.synthesis and folded.merged:
            report = await after.synthesize(integrator, folded, report, synthesis)
        timings = {"plan": round(self.plan_seconds, 3), "worktrees": self._marks.span("worktrees", started),
                   "agents": self._marks.span("agents", started), "merge": round(merge_seconds, 3),
                   "checks": round(checks_seconds + synthesis["checks_seconds"], 3),
                   "synthesis": round(synthesis["seconds"], 3), "total": round(time.monotonic() - started, 3)}
        if state == "done" and self.stop_reason and self.options.on_failure != "fail-fast" and \
                any(s.state == "cancelled" for s in self.states.values()):
            state = "interrupted"  # a budget stop: resumable
        elif state == "done" and any(s.state != "done" for s in self.states.values()):
            state = "failed"
        result = self._result(state, folded, timings)
        result.findings = [f.to_dict() for f in report.findings]
        result.checks = report.checks
        result.contradictions = synthesis["contradictions"]
        result.synthesis = synthesis["info"]
        settle_usage(result, self.records)  # every session's: the planner, every agent's turns, every pass
        await asyncio.to_thread(result.write, self.records)
        write_report(self.records, self.plan, result)
        self.records.event(events.RUN, state=state)
        if self.fatal is not None:
            raise self.fatal  # the run's error, in one line: every other call would have failed the same way
        return result

    def _result(self, state: str, folded: Any, timings: dict[str, float]) -> RunResult:
        # A snapshot of each state: the record must not change with the live objects after it is written.
        subtasks = [SubtaskResult.from_dict(self.states[s.id].to_dict()) for s in self.plan.subtasks]
        return RunResult(self.run_id, state, stop_reason=self.stop_reason, task=self.plan.task,
                         base_commit=self.base, on_failure=self.options.on_failure, max_cost=self.options.max_cost,
                         merged_branch=merged_branch(self.run_id), merged_commit=folded.commit,
                         finished=utc_now(), model=self.options.model, subtasks=subtasks,
                         conflicts=[c.to_dict() for c in folded.conflicts], timings=timings, process=process_facts())
