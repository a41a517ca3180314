"""Every branch and ref name swarm makes, spelled once.

    swarm/<run>/<subtask>    one branch per subtask
    swarm/<run>/merged       the integration result
    swarm/<run>/reviewed     what a review kept
    swarm/<run>/_resolver-<subtask>  a resolver's refused attempt at a conflict
    swarm/<run>/_hand-<subtask>      a conflict resolved by hand (`swarm review --resolve`)
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


def resolver_branch(run_id: str, subtask_id: str) -> str:
    """The branch keeping a resolver's refused attempt at merging `subtask_id` (ids never start with `_`)."""
    return f"{BRANCH_ROOT}/{run_id}/_resolver-{subtask_id}"


def hand_branch(run_id: str, subtask_id: str) -> str:
    """The branch keeping a conflict with `subtask_id` resolved by hand."""
    return f"{BRANCH_ROOT}/{run_id}/_hand-{subtask_id}"


def run_branches(run_id: str) -> str:
    """A `refs/heads/` pattern for every branch of a run."""
    return f"{BRANCH_ROOT}/{run_id}/*"


def all_swarm_branches() -> str:
    """A `--exclude` pattern for every branch swarm made (`git rev-list --exclude=... --branches`)."""
    return f"{BRANCH_ROOT}/*"


def rescue_ref(run_id: str) -> str:
    """The ref that keeps a cleaned run's tips reachable."""
    return RESCUE_PREFIX + run_id
