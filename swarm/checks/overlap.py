"""Two subtasks editing the same function, or lines close together, even where git merged them.

Git merges edits that do not touch the same lines, but two agents rewriting
one function from different ideas still contradict each other. Changed
lines come from `git diff -U0` (exact, without context lines) for the files
two or more subtasks modified; for Python files, the functions they fall in
come from the base version's `ast` line ranges.
"""

from __future__ import annotations

import re
from itertools import combinations

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding, SubtaskChange

KIND = "overlap"
NEAR = 3  # lines apart that still count as the same place
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")
_IMPORT = re.compile(r"^\s*$|^(import\s|from\s+\S+\s+import\s)")

Span = tuple[float, float]  # base lines; an insertion after line n is (n + 0.5, n + 0.5)


def changed_spans(ctx: CheckContext, change: SubtaskChange, paths: set[str]) -> dict[str, list[Span]]:
    """Exact changed line spans per file, in the coordinates of the subtask's start commit."""
    specs = sorted({p for f in change.changed if (f.get("source_path") or f["path"]) in paths
                    for p in (f["path"], f.get("source_path") or f["path"])})
    if not specs:
        return {}
    out = ctx.git("diff", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", "-M", change.start_commit, change.commit, "--", *specs)
    spans: dict[str, list[Span]] = {}
    current: str | None = None
    hunk: tuple[Span, list[str]] | None = None

    def close() -> None:
        # A hunk that only adds or drops imports is how two agents each use something new: not a clash.
        if current is not None and hunk is not None and not (
                current.endswith(".py") and all(_IMPORT.match(text) for text in hunk[1])):
            spans.setdefault(current, []).append(hunk[0])

    for line in out.splitlines():
        if line.startswith("--- "):
            close()
            hunk = None
            current = line[6:] if line.startswith("--- a/") else None
        elif line.startswith("@@"):
            close()
            m = _HUNK.match(line)
            hunk = None
            if m:
                start, length = int(m.group(1)), int(m.group(2) or "1")
                span = (start + 0.5, start + 0.5) if length == 0 else (float(start), float(start + length - 1))
                hunk = (span, [])
        elif hunk is not None and line[:1] in ("+", "-") and not line.startswith(("+++ ", "--- ")):
            hunk[1].append(line[1:])
    close()
    return spans


def _functions(ctx: CheckContext, commit: str, path: str, span: Span) -> set[str]:
    """The innermost functions a span falls in (an insertion: the functions around both its neighbours)."""
    if not path.endswith(".py"):
        return set()
    info = ctx.module(commit, path)
    if info is None or info.error:
        return set()
    if span[0] != int(span[0]):
        before = int(span[0])
        blocks = [b for b in info.blocks if b.kind == "function" and b.start <= before and b.end >= before + 1]
    else:
        first, last = int(span[0]), int(span[1])
        blocks = [b for b in info.blocks if b.kind == "function" and b.start <= last and b.end >= first]
    return {b.qualname for b in blocks
            if not any(o is not b and b.start <= o.start and o.end <= b.end for o in blocks)}


def _gap(a: Span, b: Span) -> float:
    return max(0.0, max(a[0], b[0]) - min(a[1], b[1]))


def _label(span: Span) -> str:
    if span[0] != int(span[0]):
        return f"after line {int(span[0])}"
    return f"line {int(span[0])}" if span[0] == span[1] else f"lines {int(span[0])}-{int(span[1])}"


def check(ctx: CheckContext) -> list[Finding]:
    """One finding per pair of subtasks and file they both edited at the same place."""
    edited: dict[str, set[str]] = {}
    for c in ctx.changes:
        for f in c.changed:
            if f["status"] in ("modified", "renamed") and not f.get("binary"):
                edited.setdefault(f.get("source_path") or f["path"], set()).add(c.id)
    shared = {p for p, ids in edited.items() if len(ids) > 1}
    if not shared:
        return []
    conflicted = {(c.file, frozenset(c.subtasks)) for c in ctx.conflicts}
    spans = {c.id: changed_spans(ctx, c, shared) for c in ctx.changes if any(c.id in edited[p] for p in shared)}
    findings = []
    for a, b in combinations(ctx.changes, 2):
        common = sorted(set(spans.get(a.id, {})) & set(spans.get(b.id, {})))
        if not common or _sequential(ctx, a, b):
            continue
        same_start = a.start_commit == b.start_commit
        for path in common:
            if any(path == f and {a.id, b.id} <= ids for f, ids in conflicted):
                continue
            hit = _compare(ctx, a, b, path, spans[a.id][path], spans[b.id][path], same_start)
            if hit:
                findings.append(Finding(KIND, [a.id, b.id], [path], f"{path}: {hit}", severity="warning",
                                        symbol=None))
    return findings


def _sequential(ctx: CheckContext, a: SubtaskChange, b: SubtaskChange) -> bool:
    """One started from the other's work (a dependency): editing the same place is then on purpose."""
    return ctx.is_ancestor(a.commit, b.start_commit) or ctx.is_ancestor(b.commit, a.start_commit)


def _compare(ctx: CheckContext, a: SubtaskChange, b: SubtaskChange, path: str, sa: list[Span], sb: list[Span],
             same_start: bool) -> str | None:
    funcs_a = {q: s for s in sa for q in _functions(ctx, a.start_commit, path, s)}
    funcs_b = {q: s for s in sb for q in _functions(ctx, b.start_commit, path, s)}
    same = sorted(set(funcs_a) & set(funcs_b))
    if same:
        names = ", ".join(f"{q}()" for q in same)
        return (f"{a.id} and {b.id} both changed {names} ({a.id}: {_label(funcs_a[same[0]])}, "
                f"{b.id}: {_label(funcs_b[same[0]])}); git merged them, but the two edits may not agree")
    if not same_start:
        return None
    for x in sa:
        for y in sb:
            if _gap(x, y) <= NEAR:
                return (f"{a.id} ({_label(x)}) and {b.id} ({_label(y)}) changed lines within {NEAR} of each other; "
                        "git merged them, but the two edits may not agree")
    return None
