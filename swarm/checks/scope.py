"""Files a subtask changed outside the scope globs the plan gave it.

Globs are fnmatch-style on repository paths: `*` and `?` stay inside one
folder, `**` spans any number of folders (`src/**` is everything under src,
`**/test_*.py` a test file anywhere), a pattern names what is under it too
(`docs` covers docs/a.md), and one without a slash matches in any folder, as
in .gitignore (`*.md`). A subtask with no globs is unrestricted.
"""

from __future__ import annotations

import re
from functools import lru_cache

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding

KIND = "scope"


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip()
    pattern = pattern[2:] if pattern.startswith("./") else pattern.lstrip("/")
    pattern = pattern.rstrip("/")
    if "/" not in pattern:  # like .gitignore: a bare name or `*.md` matches in any folder
        pattern = "**/" + pattern
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    # A pattern also covers everything below what it names (a folder given by name).
    return re.compile("".join(out) + "(?:/.*)?")


def in_scope(path: str, globs: list[str]) -> bool:
    """Whether `path` falls under any of `globs` (no globs: everything does)."""
    return not globs or any(_compile(g).fullmatch(path) for g in globs if g.strip())


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
