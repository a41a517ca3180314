"""Asking before a run spends: on a terminal, above the `confirm_above_usd` setting, unless `--yes`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import click

from swarm.cli.context import Context
from swarm.config import RunOptions, load_config, price_table
from swarm.git.repo import GitRepo
from swarm.model.usage import Usage
from swarm.plan.spec import Plan, dump_plan

# The plan of a declined `swarm run TASK`, kept so the planner is not paid twice.
DECLINED_PLAN = Path(".swarm") / "declined-plan.json"


def on_a_terminal() -> bool:
    """Someone is there to answer: stdin and stdout are both terminals (never in scripts or CI)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def go_on(obj: Context, repo: GitRepo, plan: Plan, options: RunOptions, planned: Usage | None,
          before_asking: Callable[[], None] = lambda: None) -> bool:
    """Whether to spend on the agents: asks when on a terminal and the --dry-run estimate is above the
    threshold (`before_asking` is called first); False (said why, the plan kept) when the answer is no."""
    threshold = load_config(repo.root).get("confirm_above_usd")
    if not threshold or not on_a_terminal():
        return True
    from swarm.plan.planner import estimate, tracked_sizes

    forecast = estimate(plan, options.model, prices=price_table(options),
                        sizes=dict(tracked_sizes(repo, repo.resolve(options.base))))
    cost = forecast["cost_usd"]
    if cost is None or cost <= threshold:
        return True  # no price (cost unknown): nothing to compare; --max-cost is the guard then
    n = forecast["agents"]
    before_asking()
    try:
        yes = click.confirm(f"Estimated ${cost:.2f} for {n} agent{'' if n == 1 else 's'}. Go on?", default=False,
                            err=True)
    except click.Abort as abort:
        if isinstance(abort.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None  # Ctrl-C: exit 130 like everywhere
        yes = False  # end of input: no
    if yes:
        return True
    spent = f"; the planner's ${planned.cost_usd:.4f} was" if planned and planned.cost_usd else ""
    told = f"not run: nothing spent on agents{spent}"
    if planned is not None:
        kept = repo.root / DECLINED_PLAN
        kept.parent.mkdir(parents=True, exist_ok=True)
        repo.exclude_swarm_dir()
        kept.write_text(dump_plan(plan), encoding="utf-8")
        told += f"; the plan is in {DECLINED_PLAN}: `swarm run --plan {DECLINED_PLAN}` runs it without planning"
    obj.err.print(told + f" (--yes skips this question; the confirm_above_usd setting is ${threshold:g})")
    return False
