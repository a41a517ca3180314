"""Every branch and ref name swarm makes, spelled once.

    swarm/<run>/<subtask>    one branch per subtask
    swarm/<run>/merged       the integration result
    swarm/<run>/reviewed     what a review kept
    refs/swarm-rescue/<run>  work `swarm clean --force` keeps reachable
"""

from __future__ import annotations

BRANCH_ROOT = "swarm"
RESCUE_PREFIX = "refs/swarm-rescue/"


def subtask_branch(run_id: str, subtask_id: str) -> str:
    """The branch a subtask's work lands on."""
    return f"{BRANCH_ROOT}/{run_id}/{subtask_id}"


def merged_branch(run_id: str) -> str:
    """The branch holding a run's integration result."""
    return f"{BRANCH_ROOT}/{run_id}/merged"


def reviewed_branch(run_id: str) -> str:
    """The branch holding what a review of the run kept."""
    return f"{BRANCH_ROOT}/{run_id}/reviewed"


def run_branches(run_id: str) -> str:
    """A `refs/heads/` pattern for every branch of a run."""
    return f"{BRANCH_ROOT}/{run_id}/*"


def all_swarm_branches() -> str:
    """A `--exclude` pattern for every branch swarm made (`git rev-list --exclude=... --branches`)."""
    return f"{BRANCH_ROOT}/*"


def rescue_ref(run_id: str) -> str:
    """The ref that keeps a cleaned run's tips reachable."""
    return RESCUE_PREFIX + run_id
