"""swarm: split a coding task across agents in git worktrees, run them concurrently, merge and check.

The public surface: plans (`load_plan`, `Plan`, `Subtask`), the repository
wrapper (`GitRepo`) and the coordinator (`Coordinator`, `RunOptions`).
"""

from swarm.errors import PlanError, SwarmError
from swarm.plan.spec import Plan, Subtask, load_plan

__all__ = ["Plan", "PlanError", "Subtask", "SwarmError", "load_plan"]
__version__ = "0.1.0"
