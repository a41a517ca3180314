"""Python names that no longer resolve or fit once the subtasks' changes meet.

Compared against the base, so problems that were already there are never
blamed on a subtask. The files looked at are the Python files some subtask
changed, plus files of the merged tree that mention a name a changed module
lost (or whose signature changed), found with one `git grep`, never by
parsing the whole repository. In each, only references that are new or that
depend on a changed name are resolved, in the base tree and in the merged
tree; one that works in the base but not in the merged tree is a finding,
attributed to the subtasks that removed or changed what it needs and the
subtasks that added the reference.
"""

from __future__ import annotations

import posixpath
from collections import Counter

from .context import CheckContext
from .model import Finding
from .pymodules import Modules, Outcome, ref_names
from .pysource import ModuleInfo, Ref

KIND = "symbol"


def _stem(path: str) -> str:
    name = posixpath.basename(path)
    if name == "__init__.py":
        return posixpath.basename(posixpath.dirname(path))
    return name[:-3] if name.endswith(".py") else name


def _lost_names(ctx: CheckContext, merged_to_base: dict[str, str], removed: list[str]) -> set[str]:
    """Top-level names the changed modules lost or whose call signature changed, and removed modules' names."""
    words: set[str] = set()
    for path, old in merged_to_base.items():
        if not path.endswith(".py"):
            continue
        before, after = ctx.module(ctx.base, old), ctx.module(ctx.merged, path)
        if before is None or after is None or before.error or after.error:
            continue
        words |= before.names - after.names
        for name, d in before.defs.items():
            new = after.defs.get(name)
            if new is not None and new.signature != d.signature:
                words.add(name)
        if old != path:
            words.add(_stem(old))
    for path in removed:
        if path.endswith(".py"):
            words.add(_stem(path))  # every use of a gone module names it
    return {w for w in words if not (w.startswith("__") and w.endswith("__"))}


def check(ctx: CheckContext) -> list[Finding]:
    """Findings for references that resolve in the base but not in the merged tree."""
    merged_to_base = ctx.merged_paths()
    merged_tree = ctx.tree(ctx.merged)
    removed = sorted({p for c in ctx.changes for p in c.paths()
                      if p in ctx.tree(ctx.base).files and p not in merged_tree.files})
    py_changed = {p: old for p, old in merged_to_base.items() if p.endswith(".py")}
    if not py_changed and not any(p.endswith(".py") for p in removed):
        return []
    lost = _lost_names(ctx, merged_to_base, removed)
    stems = {_stem(p) for p in [*py_changed, *py_changed.values(), *removed] if p.endswith(".py")}
    users: dict[str, str] = dict(py_changed)
    if lost:
        for path in ctx.grep(ctx.merged, lost, ["*.py"]):
            if path in users:
                continue
            text = ctx.text(ctx.merged, path) or ""
            if any(stem in text for stem in stems):
                users[path] = path
    modules = Modules(ctx)
    watched = lost | stems
    findings: list[Finding] = []
    for path, old in sorted(users.items()):
        after = ctx.module(ctx.merged, path)
        if after is None:
            continue
        before = ctx.module(ctx.base, old)
        if after.error:
            if before is None or not before.error:
                findings.append(_syntax(ctx, path, after))
            continue
        findings += _file(ctx, modules, path, old, before, after, watched)
    return findings


def _syntax(ctx: CheckContext, path: str, after: ModuleInfo) -> Finding:
    touchers = ctx.touchers(path)
    return Finding(KIND, touchers, [path], f"{path} does not parse in the merged tree ({after.error}); "
                   f"it did in the base and is changed by {', '.join(touchers)}", symbol=None)


def _file(ctx: CheckContext, modules: Modules, path: str, old: str, before: ModuleInfo | None,
          after: ModuleInfo, watched: set[str]) -> list[Finding]:
    base_tree, merged_tree = ctx.tree(ctx.base), ctx.tree(ctx.merged)
    before_refs = Counter(r.key for r in before.refs) if before and not before.error else Counter()
    # A name the base already used without defining it comes from somewhere the checks cannot see
    # (builtins installed at run time, like gettext's `_`): more uses of it are nothing new.
    ambient = {r.key[1] for r in before.refs if r.kind == "unbound"} if before and not before.error else set()
    first: dict[tuple, Ref] = {}
    count: Counter[tuple] = Counter()
    for ref in after.refs:
        first.setdefault(ref.key, ref)
        count[ref.key] += 1
    findings = []
    for key, ref in first.items():
        if count[key] <= before_refs[key] and not (ref_names(ref) & watched):
            continue
        if ref.kind == "unbound" and key[1] in ambient:
            continue
        outcome = modules.evaluate(ref, merged_tree, path)
        if outcome.problem is None:
            continue
        if before_refs[key]:
            was = modules.evaluate(ref, base_tree, old)
            if was.problem is not None and count[key] <= before_refs[key]:
                continue
        findings.append(_finding(ctx, modules, path, ref, outcome))
    return findings


def _finding(ctx: CheckContext, modules: Modules, path: str, ref: Ref, outcome: Outcome) -> Finding:
    """Name who broke it (their change alone makes the reference fail) and who added the reference."""
    adders = []
    for sid in ctx.touchers(path):
        change = ctx.change(sid)
        start = ctx.module(change.start_commit, change.source_of(path))
        end = ctx.module(change.commit, path)
        if _count(end, ref) > _count(start, ref):
            adders.append(sid)
    breakers = []
    suspects = set(ctx.touchers(path)) | (set(ctx.touchers(outcome.target)) if outcome.target else set())
    if ref.kind in ("import", "from") and outcome.target is None:
        # A module that is gone: whoever removed or renamed its file (or its package's files).
        candidates = modules.paths(ref.key[1])
        folder = candidates[0][:-3] + "/" if candidates else None
        suspects |= {c.id for c in ctx.changes for p in c.paths()
                     if p in candidates or (folder and p.startswith(folder))}
    for sid in ctx.sort_ids(suspects):
        change = ctx.change(sid)
        after = modules.evaluate(ref, ctx.tree(change.commit), path)
        before = modules.evaluate(ref, ctx.tree(change.start_commit), change.source_of(path))
        if after.problem is not None and before.problem is None:
            breakers.append(sid)
    involved = ctx.sort_ids(adders + breakers) or ctx.sort_ids(suspects) or [c.id for c in ctx.changes]
    if breakers and adders and not set(breakers) & set(adders):
        why = f"{', '.join(ctx.sort_ids(breakers))} removed or changed what it needs while {', '.join(adders)} " \
              "added this use: each branch alone is fine, the merge is not"
    elif breakers:
        why = f"broken by {', '.join(ctx.sort_ids(breakers))}'s change"
    elif adders:
        why = f"added by {', '.join(adders)}"
    else:
        why = "new in the merged tree"
    files = [path] + ([outcome.target] if outcome.target and outcome.target != path else [])
    name = ref.key[1] if ref.kind == "unbound" else None
    return Finding(KIND, involved, files, f"{path}:{ref.line} {outcome.problem} ({why})", line=ref.line,
                   symbol=name)


def _count(info: ModuleInfo | None, ref: Ref) -> int:
    """How often a version of the file makes `ref` (for a name bound nowhere: how often it loads the name)."""
    if info is None or info.error:
        return 0
    if ref.kind == "unbound":
        return info.loads[(ref.key[1], ref.key[2])]
    return sum(1 for r in info.refs if r.key == ref.key)
