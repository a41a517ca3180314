"""The turn budget: told to the model at the start, warned near the end, one last turn to sum up."""

from __future__ import annotations

from dataclasses import dataclass

from swarm.agent.prompts import render

WARN_BEFORE = 5


@dataclass
class TurnBudget:
    """Model turns an agent may take; a turn is one answered request (a paused turn's continuation is not one)."""

    max_turns: int
    used: int = 0

    @property
    def left(self) -> int:
        return self.max_turns - self.used

    @property
    def spent(self) -> bool:
        return self.used >= self.max_turns

    def opening(self) -> str:
        """The line that tells the model its budget, for its first message."""
        return render("turn_budget", max_turns=self.max_turns, warn=min(WARN_BEFORE, self.max_turns))

    def note(self) -> str | None:
        """A warning to add after this turn's tool results, when the end is near (once)."""
        warn_at = min(WARN_BEFORE, self.max_turns - 1)
        if warn_at > 0 and self.left == warn_at:
            return render("turn_budget_warning", left=self.left, plural="" if self.left == 1 else "s")
        return None

    def final(self) -> str:
        """The message of the one extra turn at the cap: no more tools, say what was done."""
        return render("turn_budget_final", max_turns=self.max_turns)
