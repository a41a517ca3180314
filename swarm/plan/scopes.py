"""The files a plan's globs claim: overlap between subtasks that run at once, and `--each` selection.

Globs have the one meaning of swarm.globs (git's `:(glob)` pathspec).
"""

from __future__ import annotations

from typing import Iterable, TypeVar

from swarm.globs import match, match_any
from swarm.plan.spec import Plan

T = TypeVar("T")


def claimed(globs: list[str], tracked: Iterable[str]) -> set[str]:
    """The tracked files a subtask's globs claim, plus the globs themselves (files it may create)."""
    return {p for p in tracked if match_any(globs, p)} | set(globs)


def scope_overlaps(plan: Plan, tracked: list[str]) -> list[str]:
    """Pairs of subtasks that can run at the same time and claim the same files."""
    ancestors: dict[str, set[str]] = {}

    def above(sid: str) -> set[str]:
        if sid not in ancestors:
            deps = set(plan.get(sid).depends_on)
            ancestors[sid] = deps.union(*(above(d) for d in deps)) if deps else set()
        return ancestors[sid]

    owned = {s.id: claimed(s.files, tracked) for s in plan.subtasks}
    problems = []
    for i, a in enumerate(plan.subtasks):
        for b in plan.subtasks[i + 1:]:
            if a.id in above(b.id) or b.id in above(a.id) or not a.files or not b.files:
                continue
            shared = sorted(owned[a.id] & owned[b.id])
            if shared:
                problems.append(f"subtasks {a.id!r} and {b.id!r} can run at once but both claim "
                                f"{', '.join(shared[:3])}{' ...' if len(shared) > 3 else ''}; "
                                "split the files or add depends_on")
    return problems


def each(pattern: str, files: Iterable[tuple[str, T]]) -> list[tuple[str, T]]:
    """The `(path, data)` entries whose path `--each PATTERN` selects."""
    return [(path, data) for path, data in files if match(pattern, path)]
