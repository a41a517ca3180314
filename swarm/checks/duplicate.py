"""The same thing made twice: one new file added by two subtasks, one new top-level name defined twice.

Two agents that each needed a helper often each write it. In one file the
later definition silently replaces the earlier one (git merges both when
they sit apart); in two files the code base gains two versions that will
drift. New definitions are those a subtask's commit has and its start
commit lacked, in the same file.
"""

from __future__ import annotations

import ast
from itertools import combinations

from .context import CheckContext
from .model import Finding
from .pysource import Definition

KIND = "duplicate"
# Names that many modules define on purpose.
_COMMON = {"main", "setup", "run", "handle", "register", "ready", "get", "create", "update", "validate",
           "configure", "load", "save", "teardown", "setUp", "tearDown", "setUpClass", "tearDownClass"}


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" \
        or "/tests/" in f"/{path}" or "/test/" in f"/{path}"


def _new_defs(ctx: CheckContext) -> dict[str, list[tuple[str, Definition]]]:
    """Per subtask: (file, definition) for each top-level function or class it added."""
    out: dict[str, list[tuple[str, Definition]]] = {}
    for c in ctx.changes:
        for f in c.changed:
            path = f["path"]
            if f["status"] == "removed" or not path.endswith(".py"):
                continue
            after = ctx.module(c.commit, path)
            if after is None or after.error:
                continue
            before = ctx.module(c.start_commit, c.source_of(path)) if f["status"] != "added" else None
            old = {d.name for d in before.top_defs} if before is not None and not before.error else set()
            seen: set[str] = set()
            for d in after.top_defs:
                if d.name not in old and d.name not in seen:
                    seen.add(d.name)
                    out.setdefault(c.id, []).append((path, d))
    return out


def _body(d: Definition) -> str:
    node = d.node
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return ""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring does not make two helpers different
    return "\n".join(ast.dump(stmt, annotate_fields=False) for stmt in body)


def _same_helper(pa: str, da: Definition, pb: str, db: Definition) -> bool:
    """Two definitions of one name in different files that look like the same helper twice."""
    if da.kind != db.kind or _is_test(pa) or _is_test(pb) or da.name in _COMMON:
        return False
    if da.name.startswith("__") and da.name.endswith("__"):
        return False
    if _body(da) == _body(db):
        return True
    return da.kind == "function" and da.params == db.params


def check(ctx: CheckContext) -> list[Finding]:
    """Findings for files added by two subtasks and top-level names two subtasks both added."""
    findings = []
    conflicted = {c.file for c in ctx.conflicts}
    added: dict[str, list[str]] = {}
    for c in ctx.changes:
        for f in c.changed:
            if f["status"] in ("added", "renamed"):
                added.setdefault(f["path"], []).append(c.id)
    for path, ids in sorted(added.items()):
        if len(ids) > 1 and path not in conflicted:
            same = len({ctx.text(ctx.change(i).commit, path) for i in ids}) == 1
            findings.append(Finding(KIND, ctx.sort_ids(ids), [path],
                                    f"{path} was added by {' and '.join(ctx.sort_ids(ids))}"
                                    + (" with the same content" if same else ", each with its own content")))
    defs = _new_defs(ctx)
    for a, b in combinations(ctx.changes, 2):
        for pa, da in defs.get(a.id, []):
            for pb, db in defs.get(b.id, []):
                if da.name != db.name:
                    continue
                if pa == pb:
                    if (pa in added and len(added[pa]) > 1) or pa in conflicted:
                        continue  # already reported as a whole file, or not merged at all
                    msg = (f"{pa}: {a.id} and {b.id} both added a top-level {da.name} "
                           f"(lines {da.start} and {db.start} of their versions); in the merged file the later "
                           "one replaces the earlier")
                elif _same_helper(pa, da, pb, db):
                    msg = (f"{a.id} added {da.kind} {da.name} in {pa} and {b.id} added {db.kind} {db.name} in {pb}: "
                           "the same helper twice; keep one and import it")
                else:
                    continue
                findings.append(Finding(KIND, [a.id, b.id], sorted({pa, pb}), msg, symbol=da.name,
                                        severity="warning"))
    return findings
