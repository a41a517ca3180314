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
import re
from collections import Counter
from dataclasses import dataclass, field

from swarm.checks.context import CheckContext, Tree
from swarm.checks.model import Finding
from swarm.checks.pymodules import Modules, Outcome, ref_names
from swarm.checks.pysource import ModuleInfo, Ref

KIND = "symbol"


def _stem(path: str) -> str:
    name = posixpath.basename(path)
    if name == "__init__.py":
        return posixpath.basename(posixpath.dirname(path))
    return name[:-3] if name.endswith(".py") else name


@dataclass
class Lost:
    """What changed modules lost: names (or their signatures), the modules those lived in, modules gone."""

    names: set[str] = field(default_factory=set)
    owners: set[str] = field(default_factory=set)  # stems of those modules and of their packages
    modules: set[str] = field(default_factory=set)  # stems of modules removed or renamed

    def words(self) -> set[str]:
        return self.names | self.modules

    def users(self) -> re.Pattern[str] | None:
        """A pattern for source that can use what was lost: `owner.name`, or an import naming it.

        Cheap next to parsing: on a large code base a common name is in thousands of files,
        and only the few that import it or reach it through its module matter.
        """
        names = self.words()
        if not names:
            return None
        alt = "|".join(sorted(map(re.escape, names)))
        parts = [rf"^[ \t]*from[ \t]+[\w.]+[ \t]+import[ \t]+(?:\([^)]*|[^\n]*)\b(?:{alt})\b"]
        if self.owners and self.names:
            owners = "|".join(sorted(map(re.escape, self.owners)))
            parts.append(rf"\b(?:{owners})\.(?:{'|'.join(sorted(map(re.escape, self.names)))})\b")
        if self.modules:
            mods = "|".join(sorted(map(re.escape, self.modules)))
            parts.append(rf"^[ \t]*(?:from|import)[ \t]+[^\n]*\b(?:{mods})\b")
        return re.compile("|".join(parts), re.M)


def _lost(ctx: CheckContext, merged_to_base: dict[str, str], removed: list[str]) -> Lost:
    """Top-level names the changed modules lost or whose call signature changed, and removed modules' names."""
    lost = Lost()
    for path, old in merged_to_base.items():
        if not path.endswith(".py"):
            continue
        before, after = ctx.module(ctx.base, old, refs=True), ctx.module(ctx.merged, path, refs=True)
        if before is None or after is None or before.error or after.error:
            continue
        names = before.names - after.names
        names |= {name for name, d in before.defs.items()
                  if name in after.defs and after.defs[name].signature != d.signature}
        names = {n for n in names if not (n.startswith("__") and n.endswith("__"))}
        if names:
            lost.names |= names
            lost.owners |= {_stem(old), *old.split("/")[:-1]}
        if old != path:
            lost.modules.add(_stem(old))
    lost.modules |= {_stem(p) for p in removed if p.endswith(".py")}  # every use of a gone module names it
    return lost


def check(ctx: CheckContext) -> list[Finding]:
    """Findings for references that resolve in the base but not in the merged tree."""
    merged_to_base = ctx.merged_paths()
    merged_tree = ctx.tree(ctx.merged)
    removed = sorted({p for c in ctx.changes for p in c.paths()
                      if p in ctx.tree(ctx.base).files and p not in merged_tree.files})
    py_changed = {p: old for p, old in merged_to_base.items() if p.endswith(".py")}
    if not py_changed and not any(p.endswith(".py") for p in removed):
        return []
    lost = _lost(ctx, merged_to_base, removed)
    stems = {_stem(p) for p in [*py_changed, *py_changed.values(), *removed] if p.endswith(".py")}
    users: dict[str, str] = dict(py_changed)
    pattern = lost.users()
    if pattern is not None:
        for path in ctx.grep(ctx.merged, lost.words(), ["*.py"]):
            if path not in users and pattern.search(ctx.text(ctx.merged, path) or ""):
                users[path] = path
    modules = Modules(ctx)
    watched = lost.words() | stems
    findings: list[Finding] = []
    for path, old in sorted(users.items()):
        after = ctx.module(ctx.merged, path, refs=True)
        if after is None:
            continue
        before = ctx.module(ctx.base, old, refs=True)
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
    old_refs = before.refs if before and not before.error else []
    before_refs = Counter(r.key for r in old_refs)
    twins: dict[tuple, Ref] = {}  # the base's references, by key without the enclosing function
    for r in old_refs:
        twins.setdefault(r.key[:-1], r)
    first: dict[tuple, Ref] = {}
    count: Counter[tuple] = Counter()
    for ref in after.refs:
        first.setdefault(ref.key, ref)
        count[ref.key] += 1
    findings = []
    for key, ref in first.items():
        if count[key] <= before_refs[key] and not (ref_names(ref) & watched):
            continue
        outcome = modules.evaluate(ref, merged_tree, path)
        if outcome.problem is None:
            continue
        # The base already made this very reference somewhere in the file, and it failed there too:
        # what the checks cannot see supplies it (gettext's `_` in builtins, an attribute set at run time).
        twin = twins.get(key[:-1])
        if twin is not None and modules.evaluate(twin, base_tree, old).problem is not None:
            continue
        if ref.kind == "attr" and _set_at_run_time(ctx, ref, base_tree, old, modules):
            continue
        findings.append(_finding(ctx, modules, path, ref, outcome))
    return findings


def _set_at_run_time(ctx: CheckContext, ref: Ref, base_tree: Tree, old: str, modules: Modules) -> bool:
    """A module attribute that never existed in the base but that code assigns (`mail.outbox = []`)."""
    if modules.evaluate(ref, base_tree, old).problem is None:
        return False  # it existed and is gone: a real removal
    attrs = ref.key[2]
    return bool(ctx.grep(ctx.merged, [f".{a} =" for a in attrs] + [f".{a}=" for a in attrs], ["*.py"],
                         whole_words=False))


def _finding(ctx: CheckContext, modules: Modules, path: str, ref: Ref, outcome: Outcome) -> Finding:
    """Name who broke it (their change alone makes the reference fail) and who added the reference."""
    adders = []
    for sid in ctx.touchers(path):
        change = ctx.change(sid)
        start = ctx.module(change.start_commit, change.source_of(path), refs=True)
        end = ctx.module(change.commit, path, refs=True)
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
