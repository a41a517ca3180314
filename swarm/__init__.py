"""swarm: split a coding task across agents in git worktrees, run them concurrently, merge and check.

The public surface: plans (`load_plan`, `Plan`, `Subtask`), the repository
wrapper (`GitRepo`) and the coordinator (`Coordinator`, `RunOptions`).

The names are loaded when first used: every `swarm` command imports this package first, and the one
that hands its work to the warm process (swarm.warm) needs none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarm.errors import PlanError, SwarmError
    from swarm.plan.spec import Plan, Subtask, load_plan

__all__ = ["Plan", "PlanError", "Subtask", "SwarmError", "load_plan"]
__version__ = "0.1.0"

_HOMES = {"PlanError": "swarm.errors", "SwarmError": "swarm.errors", "Plan": "swarm.plan.spec",
          "Subtask": "swarm.plan.spec", "load_plan": "swarm.plan.spec"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'swarm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)
