"""How an agent's conversation ends other than by a plain end of turn.

Control flow, not errors: `Submitted` (a tool such as `submit_synthesis` ended the
pass) and `OutOfTurns` (the turn budget is spent; the work so far stands, the
subtask is `incomplete`) are caught by whoever drives the agent. `Refused` and
`StoppedEarly` are errors a person reads: the subtask fails with that message.
"""

from __future__ import annotations

from typing import Any

from swarm.errors import AgentStopped


class AgentEnded(Exception):
    """The conversation is over, and that is not an error."""


class Submitted(AgentEnded):
    """A tool ended the pass; `data` is what it received."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__("submitted")
        self.data = data


class OutOfTurns(AgentEnded):
    """The turn budget is spent; `summary` is what the agent said it did."""

    def __init__(self, summary: str, turns: int) -> None:
        super().__init__(f"used all {turns} turns")
        self.summary = summary
        self.turns = turns


class Refused(AgentStopped):
    """The model refused to go on with the subtask."""


class StoppedEarly(AgentStopped):
    """The model stopped for a reason that is not the end of its work (and could not be continued)."""
