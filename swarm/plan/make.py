"""The plan to run: from a file, split by `--each`, or asked of the planner."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from swarm.errors import PlanError
from swarm.git.repo import GitRepo
from swarm.model.client import need_client
from swarm.model.usage import Usage
from swarm.plan.spec import Plan, load_plan


def make_plan(repo: GitRepo, task: str | None, plan_file: str | None, each: str | None, chunks: int, model: str,
              *, say: Callable[[str], Any] = print, options: Any = None) -> tuple[Plan, float, Usage | None]:
    """Returns (plan, seconds spent planning, the planner's usage)."""
    if plan_file and each:
        raise PlanError("--each and --plan do not go together: --each GLOB splits TASK over files without a "
                        "planner, --plan FILE runs your plan; give one of them")
    if plan_file and task:
        raise PlanError("give either TASK or --plan FILE, not both")
    if plan_file:
        return load_plan(plan_file), 0.0, None
    if not task:
        raise PlanError("give a TASK (planned by the model, or split with --each GLOB) or --plan FILE")
    # The planner brings in the model SDK (over a second): a plan file never needs it.
    from swarm.plan.planner import Planner, fork_join

    commit = repo.resolve("HEAD")
    if each:
        return fork_join(repo, commit, task, each, chunks), 0.0, None
    from swarm.config import agent_settings, price_table

    # The planner's requests follow the run's settings (effort, thinking, max_tokens, prices) when given.
    client = need_client(None)
    planner = Planner(client, model, settings=agent_settings(options) if options else None,
                      prices=price_table(options) if options else None)
    say(f"planning: asking {model} to split the task ...")
    began = time.monotonic()

    async def plan_and_close() -> Plan:
        # Closed in its own loop: left to the garbage collector, its connections would be closed later in the
        # run's loop, as a "Task exception was never retrieved" traceback.
        try:
            return await planner.plan(repo, commit, task)
        finally:
            await client.close()

    plan = asyncio.run(plan_and_close())
    return plan, time.monotonic() - began, planner.usage
