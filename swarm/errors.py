"""The errors swarm raises, in two trees: what the user is told, and what ends a loop.

    SwarmError                  anything swarm reports to the user (the CLI's one boundary catches it)
    ├── PlanError               a plan file or plan that cannot run (exit 2)
    │   └── InvalidPlan         the planner's plan stayed invalid; carries it, for the user to fix
    ├── ConfigError             missing or wrong settings, e.g. no model endpoint (exit 2)
    ├── BadInput                a flag or argument that cannot work: a missing folder, flags that contradict (exit 2)
    ├── GitError                a git command failed (carries its stderr)
    ├── RunNotFound             no such run under .swarm/runs (exit 2)
    ├── TestCommandError        `swarm test`'s command cannot run at all (exit 2)
    ├── SelectionError          a review's --drop/--keep names no subtask or changed file (exit 2)
    ├── ReviewConflict          the parts kept in review do not fit together
    ├── ApplyRefused            apply would clash with the user's changes; nothing was touched
    └── CleanRefused            clean would drop unapplied work (or a live run) without --force

    ControlFlow                 ends a loop early; caught by whoever runs that loop, never by the CLI
    └── AgentStopped            an agent ended without finishing its subtask
        ├── LimitsExceeded      it ran out of turns or tokens
        └── BudgetExceeded      the run's cost ceiling stops it (the run can be resumed)

Messages say what was wrong and what to do; the CLI turns SwarmErrors into
`click.ClickException`s at the edge and nowhere else. A ControlFlow exception is
not a user error: the coordinator turns it into a subtask's state (incomplete,
cancelled), the synthesis pass into a note; its message says why it stopped.
"""

from __future__ import annotations


class SwarmError(Exception):
    """Base of every error swarm reports to the user."""

    exit_code = 1


class PlanError(SwarmError):
    """The plan is invalid: bad ids, duplicates, unknown dependencies, cycles."""

    exit_code = 2


class InvalidPlan(PlanError):
    """The planner's plan stayed invalid after its repair round; `data` is that plan, to be written and fixed."""

    def __init__(self, message: str, data: dict) -> None:
        super().__init__(message)
        self.data = data


class ConfigError(SwarmError):
    """A setting is missing or wrong (no model endpoint, a bad value)."""

    exit_code = 2


class BadInput(SwarmError):
    """A flag or argument that cannot work as given; checked before anything is spent or changed."""

    exit_code = 2


class GitError(SwarmError):
    """A git command failed."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        self.args_ = args
        self.returncode = returncode
        self.stderr = stderr.strip()
        super().__init__(f"git {' '.join(args)} failed ({returncode}): {self.stderr}")


class RunNotFound(SwarmError):
    """The named run (or any run) does not exist in this repository."""

    exit_code = 2


class SelectionError(SwarmError):
    """A review selection names no subtask or changed file of the run."""

    exit_code = 2


class ReviewConflict(SwarmError):
    """The subtasks, files or hunks kept in a review cannot be put together."""


class ApplyRefused(SwarmError):
    """`swarm apply` stopped before touching anything (dirty files, a conflict, nothing to apply)."""


class CleanRefused(SwarmError):
    """`swarm clean` kept a run whose work is not applied, or that still runs."""


class TestCommandError(SwarmError):
    """The test command cannot run at all: no such program, or pytest refused its arguments."""

    __test__ = False  # not a pytest test class
    exit_code = 2


class ControlFlow(Exception):
    """Base of the exceptions that end a loop (an agent's, a run's) with a reason; not errors for the user."""


class AgentStopped(ControlFlow):
    """An agent stopped before it finished its subtask."""


class LimitsExceeded(AgentStopped):
    """An agent used all of its turns or output tokens."""


class BudgetExceeded(AgentStopped):
    """The run's cost ceiling would be passed by the next model call."""

    # How every message (and so the run's stop reason) begins: a run stopped by the ceiling is told by it.
    PREFIX = "the run's cost ceiling"
