"""Resolving Python module names to files of a tree, and references to what they name.

A module is local when its top-level package (a folder with `__init__.py`
whose parent is not a package, or a loose `.py` file) is in the repository;
anything else (the standard library, installed packages) is never judged.
`evaluate` answers one question per reference: in this tree, does it still
resolve and fit? It returns a problem message, or None.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from swarm.checks.context import CheckContext, Tree
from swarm.checks.pysource import Definition, ModRef, ModuleInfo, Ref, Signature, join_mod, show_mod

EXTERNAL = "<external>"
NAMESPACE = "<namespace>"
OPAQUE = "<opaque>"  # a compiled or generated module: it exists, what it defines is unknown
UNKNOWN = (EXTERNAL, OPAQUE)
_COMPILED = (".pyx", ".pyd", ".so")


@dataclass
class Outcome:
    """The answer for one reference in one tree: a problem (or None) and the file it is about."""

    problem: str | None
    target: str | None = None


class Modules:
    """Module lookups in any commit's tree, sharing one map of top-level packages."""

    def __init__(self, ctx: CheckContext) -> None:
        self.ctx = ctx
        self._tops: dict[str, str] | None = None

    def tops(self) -> dict[str, str]:
        """Top-level package or module name -> the folder it sits in ('' for the root)."""
        if self._tops is None:
            files = set(self.ctx.tree(self.ctx.base).files) | set(self.ctx.tree(self.ctx.merged).files)
            packages = {p[:-len("/__init__.py")] for p in files if p.endswith("/__init__.py")}
            tops: dict[str, str] = {}

            def offer(name: str, parent: str) -> None:
                old = tops.get(name)
                if old is None or (old.count("/"), old) > (parent.count("/"), parent):
                    tops[name] = parent

            for pkg in packages:
                parent, _, name = pkg.rpartition("/")
                if parent not in packages:
                    offer(name, parent)
            for path in files:
                if path.endswith(".py") and not path.endswith("/__init__.py"):
                    parent, _, name = path.rpartition("/")
                    if parent not in packages:
                        offer(name[:-3], parent)
            for name in sys.stdlib_module_names & set(tops):
                if tops[name]:  # below the root, a folder named like the standard library seldom shadows it
                    del tops[name]
            self._tops = tops
        return self._tops

    def locate(self, mod: ModRef, tree: Tree) -> str | None:
        """The file of `mod` in `tree`; NAMESPACE for a bare folder, EXTERNAL when not local, None when missing."""
        kind, name = mod
        if kind == "abs":
            top = name.split(".")[0]
            if top not in self.tops():
                return EXTERNAL
            prefix = self.tops()[top]
            base = (prefix + "/" if prefix else "") + name.replace(".", "/")
        else:
            base = name
        if base == "":
            return NAMESPACE
        for candidate in (base + ".py", base + "/__init__.py", base + ".pyi", base + "/__init__.pyi"):
            if candidate in tree.files:
                return candidate
        if any(base + ext in tree.files for ext in _COMPILED):
            return OPAQUE
        return NAMESPACE if base in tree.dirs else None

    def paths(self, mod: ModRef) -> list[str]:
        """Files that could hold `mod` (for telling whether a change can affect it)."""
        if mod[0] == "abs" and mod[1].split(".")[0] not in self.tops():
            return []
        base = mod[1] if mod[0] == "rel" else (
            (self.tops()[mod[1].split(".")[0]] + "/").lstrip("/") + mod[1].replace(".", "/"))
        return [base + ".py", base + "/__init__.py"]

    def info(self, tree: Tree, path: str) -> ModuleInfo | None:
        return self.ctx.module(tree.commit, path)

    def find_def(self, tree: Tree, mod: ModRef, name: str, hops: int = 3) -> tuple[Definition | None, str | None]:
        """The definition `name` in `mod`, following re-exports a few hops; and the file it is in."""
        path = self.locate(mod, tree)
        if path in (None, EXTERNAL, NAMESPACE, OPAQUE):
            return None, None
        info = self.info(tree, path)  # type: ignore[arg-type]
        if info is None or info.error:
            return None, path
        if name in info.defs:
            return info.defs[name], path
        if name in info.reexports and hops > 0:
            src, orig = info.reexports[name]
            return self.find_def(tree, src, orig, hops - 1)
        return None, path

    # -- references ------------------------------------------------------------------------

    def evaluate(self, ref: Ref, tree: Tree, own: str) -> Outcome:
        """Does `ref`, made by the file `own`, resolve and fit in `tree`?"""
        kind = ref.kind
        if kind == "unbound":
            info = self.info(tree, own)
            bound = info is not None and (ref.key[1] in info.bound or info.open)
            return Outcome(None if bound else f"uses {ref.key[1]}, which is defined nowhere in the file", own)
        if kind == "import":
            path = self.locate(ref.key[1], tree)
            if path is None:
                return Outcome(f"imports {show_mod(ref.key[1])}, which does not exist")
            return Outcome(None, path if path not in (EXTERNAL, NAMESPACE, OPAQUE) else None)
        if kind == "from":
            return self._from(ref.key[1], ref.key[2], tree)
        if kind == "attr":
            return self._attr(ref.key[1], ref.key[2], tree)
        if kind == "call":
            return self._call(ref.key[1], ref.key[2], ref.key[3], tree, own)
        return Outcome(None)

    def _from(self, mod: ModRef, name: str, tree: Tree) -> Outcome:
        path = self.locate(mod, tree)
        if path in UNKNOWN:
            return Outcome(None)
        if path is None:
            return Outcome(f"imports {name} from {show_mod(mod)}, which does not exist")
        if self.locate(join_mod(mod, name), tree) not in (None, EXTERNAL):
            return Outcome(None, path)
        info = None if path == NAMESPACE else self.info(tree, path)
        if info is not None and info.serves(name):
            return Outcome(None, path)
        return Outcome(f"imports {name} from {show_mod(mod)}, which does not define it",
                       None if path == NAMESPACE else path)

    def _module_of(self, target: tuple, tree: Tree) -> ModRef | None:
        """The module an import binds, when it binds a module."""
        if target[0] == "module":
            return target[1]
        sub = join_mod(target[1], target[2])
        return sub if self.locate(sub, tree) not in (None, EXTERNAL) else None

    def _walk(self, target: tuple, attrs: tuple[str, ...], tree: Tree) -> tuple[ModRef, int, str | None] | Outcome:
        """Follow `alias.a.b...` through modules; stop at the first attribute that is not a module."""
        mod = self._module_of(target, tree)
        if mod is None or self.locate(mod, tree) in (None, *UNKNOWN):
            return Outcome(None)
        for i, attr in enumerate(attrs):
            sub = join_mod(mod, attr)
            if self.locate(sub, tree) not in (None, EXTERNAL):
                mod = sub
                continue
            path = self.locate(mod, tree)
            if path == OPAQUE:
                return Outcome(None)
            return mod, i, None if path == NAMESPACE else path
        return Outcome(None)

    def _attr(self, target: tuple, attrs: tuple[str, ...], tree: Tree) -> Outcome:
        walked = self._walk(target, attrs, tree)
        if isinstance(walked, Outcome):
            return walked
        mod, i, path = walked
        info = self.info(tree, path) if path else None
        if info is not None and info.serves(attrs[i]):
            return Outcome(None, path)
        return Outcome(f"uses {show_mod(mod)}.{attrs[i]}, which {show_mod(mod)} does not define", path)

    def _call(self, target: tuple, npos: int | None, kws: tuple[str, ...] | None, tree: Tree, own: str) -> Outcome:
        sig: Signature | None = None
        label = ""
        where: str | None = own
        if target[0] == "local":
            info = self.info(tree, own)
            d = info.defs.get(target[1]) if info else None
            sig, label = (d.signature if d else None), target[1]
        elif target[0] == "self":
            info = self.info(tree, own)
            methods = info.methods.get(target[1], {}) if info else {}
            sig, label = methods.get(target[2]), f"{target[1]}.{target[2]}"
        elif target[0] == "from":
            d, where = self.find_def(tree, target[1], target[2])
            sig, label = (d.signature if d else None), f"{show_mod(target[1])}.{target[2]}"
        elif target[0] == "chain":
            walked = self._walk(target[1], target[2], tree)
            if isinstance(walked, Outcome) or walked[1] != len(target[2]) - 1:
                return Outcome(None)
            d, where = self.find_def(tree, walked[0], target[2][-1])
            sig, label = (d.signature if d else None), f"{show_mod(walked[0])}.{target[2][-1]}"
        if sig is None:
            return Outcome(None, where)
        reason = sig.mismatch(npos, kws)
        if reason is None:
            return Outcome(None, where)
        shape = ", ".join(["_"] * (npos or 0) + [f"{k}=" for k in kws or ()])
        return Outcome(f"calls {label}({shape}), but {label}{sig.describe()} {reason}", where)


def ref_names(ref: Ref) -> set[str]:
    """The names a reference depends on (to tell whether a changed name can affect it)."""
    key = ref.key
    if ref.kind == "unbound":
        return {key[1]}
    if ref.kind == "import":
        return set(key[1][1].replace("/", ".").split("."))
    if ref.kind == "from":
        return {key[2], *key[1][1].replace("/", ".").split(".")}
    if ref.kind == "attr":
        return {*key[2], *_target_names(key[1])}
    if ref.kind == "call":
        target = key[1]
        if target[0] == "chain":
            return {*target[2], *_target_names(target[1])}
        return {target[-1]} | (_target_names(target) if target[0] == "from" else set())
    return set()


def _target_names(target: tuple) -> set[str]:
    mod: ModRef = target[1]
    names = set(mod[1].replace("/", ".").split("."))
    if target[0] == "from":
        names.add(target[2])
    return names
