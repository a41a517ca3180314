"""Running a plan to its end: the records, the progress display and the coordinator, wired together.

Shared by `swarm run`, `swarm resume` and the demo, so each builds a run the same way.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from rich.console import Console

from swarm.config import RunOptions
from swarm.env.allowlist import scrubbed_env
from swarm.env.policy import use_policy
from swarm.git.repo import GitRepo
from swarm.model.usage import Usage
from swarm.plan.spec import Plan
from swarm.run.records import RunRecords, new_run_id
from swarm.run.result import RunResult, SubtaskResult
from swarm.runtime import run_interruptible
from swarm.ui.progress import Progress


def execute_plan(repo: GitRepo, plan: Plan, *, client: Any, options: RunOptions, console: Console,
                 quiet: bool = False, tool_env: dict[str, str] | None = None, run_id: str | None = None,
                 planning: tuple[float, Usage | None] | None = None,
                 previous: dict[str, SubtaskResult] | None = None, base: str | None = None,
                 notes: "Future[list[str]] | None" = None) -> RunResult:
    """Run a plan (or resume a run, with `previous` and `base`) and return its result.json record.

    `notes` (swarm.run.preflight.notes_in_background) are said by the run when they come."""
    # The coordinator and the executors bring in the model SDK (over a second): only a run imports them.
    from swarm.run.coordinator import Coordinator
    from swarm.run.executor import make_executor

    run_id = run_id or new_run_id()
    records = RunRecords(repo.root, run_id, secrets=options.secrets)
    # The run's sandbox, network, pass_env and secrets settings, for every tool and record of this run
    # (a context variable, never os.environ); a live table on a terminal, plain lines elsewhere.
    with use_policy(options.env_policy()), Progress(console, quiet=quiet) as progress:
        progress.begin(f"run {run_id}", [s.id for s in plan.subtasks])
        if planning and planning[1] is not None:
            progress.board.earlier.add(planning[1])  # the live total counts the planner, as the final line does
        executor = make_executor(repo, options, records=records, plan=plan,
                                 hosts=min(options.concurrency, len(plan.subtasks)))
        if options.executor != "local":
            progress.note(f"executor: {options.executor} at {getattr(executor, 'address', '?')}: each subtask's "
                          "workspace on a cluster node; model calls stay on this machine")
        coordinator = Coordinator(repo, plan, client, run_id=run_id, records=records, progress=progress,
                                  tool_env=tool_env or scrubbed_env(tuple(options.secrets)), options=options,
                                  previous=previous, base=base, executor=executor, notes=notes)
        if planning:
            coordinator.plan_seconds, coordinator.plan_usage = planning
            coordinator.gate.spent += planning[1].cost_usd if planning[1] else 0.0  # the planner's spend counts
        return run_interruptible(coordinator.execute())


def exit_code_of(result: RunResult) -> int:
    """DESIGN.md's exit codes: 0 all merged, 1 a subtask failed or conflicted, 130 interrupted."""
    return result.exit_code
