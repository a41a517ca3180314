"""The same thing made twice: one new file added by two subtasks, one new top-level name defined twice.

Two agents that each needed a helper often each write it. In one file the
later definition silently replaces the earlier one (git merges both when
they sit apart); in two files the code base gains two versions that will
drift. New definitions are those a subtask's commit has and its start
commit lacked, in the same file; a pair is reported while the merged tree
still holds both copies.
"""

from __future__ import annotations

import ast
import re
from itertools import combinations

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding
from swarm.checks.pysource import Definition

KIND = "duplicate"
# Names that many modules define on purpose.
_COMMON = {"main", "setup", "run", "handle", "register", "ready", "get", "create", "update", "validate",
           "configure", "load", "save", "teardown", "setUp", "tearDown", "setUpClass", "tearDownClass"}
_TOP = re.compile(r"^(?:async[ \t]+def|def|class)[ \t]+([A-Za-z_]\w*)", re.M)


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" \
        or "/tests/" in f"/{path}" or "/test/" in f"/{path}"


def _top_names(text: str | None) -> set[str]:
    return set(_TOP.findall(text or ""))


def _new_names(ctx: CheckContext) -> dict[str, list[tuple[str, str]]]:
    """Per subtask: (file, name) for each top-level function or class it added.

    A definition at column 0 is top-level, so a regular expression finds them
    without parsing; only names that two subtasks added get parsed.
    """
    out: dict[str, list[tuple[str, str]]] = {}
    for c in ctx.changes:
        for f in c.changed:
            path = f["path"]
            if f["status"] == "removed" or not path.endswith(".py"):
                continue
            old = _top_names(ctx.text(c.start_commit, c.source_of(path))) if f["status"] != "added" else set()
            for name in sorted(_top_names(ctx.text(c.commit, path)) - old):
                out.setdefault(c.id, []).append((path, name))
    return out


def _definition(ctx: CheckContext, commit: str, path: str, name: str) -> Definition | None:
    info = ctx.module(commit, path)
    if info is None or info.error:
        return None
    return next((d for d in info.top_defs if d.name == name), None)


def _body(source: str | None, name: str) -> str | None:
    """The body of top-level `name` as an AST dump, without its docstring and with its parameters
    renamed by position, so one helper written twice under other argument names compares equal."""
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring does not make two helpers different
            if not isinstance(node, ast.ClassDef):
                a = node.args
                renames = {p.arg: f"_{i}" for i, p in enumerate([*a.posonlyargs, *a.args, *a.kwonlyargs])}
                for stmt in body:
                    for n in ast.walk(stmt):
                        if isinstance(n, ast.Name) and n.id in renames:
                            n.id = renames[n.id]
            return "\n".join(ast.dump(stmt, annotate_fields=False) for stmt in body)
    return None


def _same_helper(ctx: CheckContext, a: tuple[str, str, Definition], b: tuple[str, str, Definition]) -> bool:
    """Two definitions of one name in different files that look like the same helper twice."""
    (ca, pa, da), (cb, pb, db) = a, b
    if da.kind != db.kind or _is_test(pa) or _is_test(pb) or da.name in _COMMON:
        return False
    if da.name.startswith("__") and da.name.endswith("__"):
        return False
    if da.kind == "function" and da.params == db.params:
        return True
    body = _body(ctx.text(ca, pa), da.name)
    return body is not None and body == _body(ctx.text(cb, pb), db.name)


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
    names = _new_names(ctx)
    for a, b in combinations(ctx.changes, 2):
        for pa, na in names.get(a.id, []):
            for pb, nb in names.get(b.id, []):
                if na != nb:
                    continue
                da, db = _definition(ctx, a.commit, pa, na), _definition(ctx, b.commit, pb, nb)
                if da is None or db is None:
                    continue
                # Judged on the merged tree: once the copies are consolidated (by the synthesizer), no finding.
                in_merged = [_TOP.findall(ctx.text(ctx.merged, p) or "").count(na) for p in {pa, pb}]
                if pa == pb:
                    if (pa in added and len(added[pa]) > 1) or pa in conflicted or in_merged[0] < 2:
                        continue  # reported as a whole file, not merged at all, or one copy left
                    msg = (f"{pa}: {a.id} and {b.id} both added a top-level {da.name} "
                           f"(lines {da.start} and {db.start} of their versions); in the merged file the later "
                           "one replaces the earlier")
                elif 0 not in in_merged and _same_helper(ctx, (a.commit, pa, da), (b.commit, pb, db)):
                    msg = (f"{a.id} added {da.kind} {da.name} in {pa} and {b.id} added {db.kind} {db.name} in {pb}: "
                           "the same helper twice; keep one and import it")
                else:
                    continue
                findings.append(Finding(KIND, [a.id, b.id], sorted({pa, pb}), msg, symbol=da.name,
                                        severity="warning"))
    return findings
