"""Files a subtask changed outside the scope globs the plan gave it.

Globs mean what they mean everywhere in swarm (swarm.globs: git's `:(glob)`
pathspec): `src/*.py` is the Python files directly in src/, `src/**` all of
src/, `docs` the docs folder, `**/test_*.py` a test file at any depth. A
subtask with no globs is unrestricted.
"""

from __future__ import annotations

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding
from swarm.globs import match_any

KIND = "scope"


def in_scope(path: str, globs: list[str]) -> bool:
    """Whether `path` falls under any of `globs` (no globs: everything does)."""
    return not [g for g in globs if g.strip()] or match_any(globs, path)


def check(ctx: CheckContext) -> list[Finding]:
    """One finding per subtask that changed files outside its scope."""
    findings = []
    for change in ctx.changes:
        if not [g for g in change.files if g.strip()]:
            continue
        outside = sorted(p for p in change.paths() if not in_scope(p, change.files))
        if outside:
            shown = ", ".join(outside[:10]) + (f" and {len(outside) - 10} more" if len(outside) > 10 else "")
            findings.append(Finding(KIND, [change.id], outside,
                                    f"{change.id} changed {len(outside)} file(s) outside its scope "
                                    f"({', '.join(change.files)}): {shown}", severity="warning"))
    return findings
