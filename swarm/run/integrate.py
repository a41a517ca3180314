"""After the agents: the merge of their branches, the mechanical checks, and the synthesis pass.

The coordinator hands over the subtasks' states once the agents are done (or
stopped); this phase folds the finished branches into `swarm/<run>/merged`,
checks the result and lets the synthesizer resolve what the checks found.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
from anthropic import AsyncAnthropic

from swarm.config import RunOptions, agent_settings, price_table
from swarm.errors import AgentStopped, SwarmError
from swarm.git.refs import merged_branch
from swarm.git.repo import GitRepo
from swarm.merge.fold import FoldResult, Rejected, fold
from swarm.merge.synthesis import Integrator, contradiction_records
from swarm.model.gate import ModelGate
from swarm.plan.spec import Plan
from swarm.run import events
from swarm.run.records import RunRecords
from swarm.run.state import SubtaskRun
from swarm.ui.progress import Progress, checks_phase


class Integration:
    """Merge, checks and synthesis of one run, over the coordinator's subtask states."""

    def __init__(self, repo: GitRepo, plan: Plan, *, run_id: str, base: str, records: RunRecords,
                 progress: Progress, options: RunOptions, states: dict[str, SubtaskRun],
                 client: AsyncAnthropic | None, gate: ModelGate, tool_env: dict[str, str],
                 baseline_task: "asyncio.Task[Any] | None" = None) -> None:
        self.repo = repo
        self.plan = plan
        self.run_id = run_id
        self.base = base
        self.records = records
        self.progress = progress
        self.options = options
        self.states = states
        self.client = client
        self.gate = gate
        self.tool_env = tool_env
        self._baseline_task = baseline_task
        self._test_baseline: Any = None
        self._conflicts: list[Any] = []

    def integrator(self) -> Integrator | None:
        if self.client is None:
            return None
        return Integrator(self.repo, self.client, plan=self.plan, run_id=self.run_id,
                          model=self.options.model, gate=self.gate, tool_env=self.tool_env,
                          home=self.repo.worktrees_home() / self.run_id,
                          summaries=lambda: {sid: st.to_dict() for sid, st in self.states.items()},
                          events=self._event, transcript=self.records.transcript,
                          settings=agent_settings(self.options), prices=price_table(self.options),
                          sparse_threshold={"auto": self.options.sparse_threshold, "on": 0}.get(self.options.sparse))

    def _event(self, kind: str, **data: Any) -> None:
        """An event of the synthesis pass's agents: recorded, and shown on the progress table's synthesis row."""
        self.records.event(kind, **data)
        self.progress.activity(str(data.pop("subtask", "")), kind, **data)

    def _phase(self, text: str) -> None:
        """What the run does now besides the agents: the live table's status line, and a `phase` event for
        `swarm watch` in another terminal."""
        if text != self.progress.board.phase:
            self.records.event(events.PHASE, text=text)
        self.progress.phase(text)

    async def check(self, commit: str) -> Any:
        """The mechanical checks of the merged result (swarm.checks)."""
        from swarm.checks import KINDS, SubtaskChange, run_checks, run_tests_at

        running: list[str] = []

        def say() -> None:
            self._phase(checks_phase(KINDS, self.plan.test_command, running, waiting=self._test_baseline
                                     is None and self._baseline_task is not None
                                     and not self._baseline_task.done()))

        async def test_runner(repo: GitRepo, at: str, command: str, timeout: float) -> Any:
            running.append("base" if at == self.base else "merged")
            say()
            try:
                return await run_tests_at(repo, at, command, timeout, env=self.tool_env)
            finally:
                running.remove("base" if at == self.base else "merged")

        say()
        if self._test_baseline is None and self._baseline_task is not None:
            try:
                self._test_baseline = await self._baseline_task
            except (SwarmError, OSError, asyncio.CancelledError):
                self._test_baseline = None  # the check runs the base's tests itself and reports any error
        changes = []
        for sub in self.plan.subtasks:
            st = self.states[sub.id]
            record = self.records.read_json(f"diffs/{sub.id}.json")
            if st.merged and record:
                changes.append(SubtaskChange.from_record(record, sub.files))
        report = await run_checks(self.repo, base=self.base, merged=commit, changes=changes,
                                  conflicts=self._conflicts, test_command=self.plan.test_command,
                                  test_baseline=self._test_baseline,
                                  test_runner=test_runner)
        # The base's test results do not change: a re-check after synthesis runs only the merged tree's tests.
        self._test_baseline = getattr(report, "test_baseline", None) or self._test_baseline
        return report

    async def synthesize(self, integrator: Integrator, folded: FoldResult, report: Any,
                          out: dict[str, Any]) -> Any:
        """Run the synthesizer; move the merged branch to its result; return the final check report."""
        began = time.monotonic()
        self._phase(f"synthesis: the synthesizer reviews the merged result ({len(report.findings)} finding(s))")

        async def recheck(commit: str) -> Any:
            t0 = time.monotonic()
            try:
                return await self.check(commit)
            finally:
                out["checks_seconds"] += time.monotonic() - t0

        try:
            outcome = await integrator.synthesize(self.base, folded.commit, [f.to_dict() for f in report.findings],
                                                  recheck, rounds=self.options.synthesis_rounds)
        except (SwarmError, AgentStopped, anthropic.APIError, OSError) as e:
            self.progress.note(f"synthesis failed: {describe_error(e)}; the merged branch is the plain merge")
            out["info"] = {"error": describe_error(e)}
        else:
            folded.commit = outcome.commit
            if outcome.report is not None:
                report = outcome.report
            remaining = [f.to_dict() for f in report.findings]
            out["contradictions"] = contradiction_records(outcome.contradictions, remaining,
                                                          bool(outcome.edit_commits))
            out["info"] = {"summary": outcome.summary, "commits": outcome.edit_commits, "rounds": outcome.rounds}
            await self.repo.aupdate_branch(merged_branch(self.run_id), folded.commit)
            self.records.event(events.SYNTHESIS, commits=outcome.edit_commits, contradictions=len(out["contradictions"]))
            self.progress.note(f"synthesis: {len(out['contradictions'])} contradiction(s) listed, "
                               f"{len(outcome.edit_commits)} edit commit(s), {len(remaining)} finding(s) left")
        out["seconds"] = time.monotonic() - began - out["checks_seconds"]
        return report

    async def merge(self, integrator: Integrator | None) -> FoldResult:
        done = [s for s in self.plan.subtasks if self.states[s.id].state == "done"]
        touched = {sid: st.files_changed for sid, st in self.states.items()}
        async def resolve(current: str, sid: str, commit: str, files: list[str],
                          others: list[str]) -> str | Rejected | None:
            assert integrator is not None
            self.progress.state(sid, "conflict", f"{', '.join(files)} with {', '.join(others)}; resolving")
            return await integrator.resolve(current, sid, commit, files, others)

        use_resolver = integrator is not None and self.options.resolve_conflicts
        folded = await fold(self.repo, self.base, [(s.id, self.states[s.id].commit or self.base) for s in done],
                            touched, label=f"swarm {self.run_id}", resolve=resolve if use_resolver else None)
        self._conflicts = folded.conflicts
        for sid in folded.merged:
            self.states[sid].merged = True
        await self.repo.aupdate_branch(merged_branch(self.run_id), folded.commit)
        for conflict in folded.conflicts:
            self.records.event(events.CONFLICT, **conflict.to_dict())
            outcome = "resolved by the resolver" if conflict.resolved else "left out of the merged branch"
            self.progress.state(conflict.subtasks[-1], "conflict",
                                f"{conflict.file} (with {', '.join(conflict.subtasks[:-1]) or 'earlier merges'}); "
                                f"{outcome}")
        self.records.event(events.MERGE, commit=folded.commit, merged=folded.merged)
        return folded


def describe_error(error: BaseException) -> str:
    """One line for an error from a subtask or the synthesis pass."""
    if isinstance(error, anthropic.APIStatusError):
        return f"model API error {error.status_code}: {error.message}"
    if isinstance(error, anthropic.APIConnectionError):
        return f"cannot reach the model API: {error}"
    return str(error)
