"""What one Python module defines and refers to, read with `ast` (never imported).

`parse_module` keeps only what the checks compare between trees: the names a
module binds at top level, its functions' and classes' signatures and line
ranges, and the references it makes that can break when another module
changes (imports, `module.attr` chains, calls whose arity can be checked,
names bound nowhere). References are tree-independent; `symbol.py` resolves
them against a tree.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field, replace

from swarm.checks.pynames import BUILTINS, ModRef, Ref, join_mod, package_parts, resolve_from, show_mod
from swarm.checks.pyrefs import collect_refs

__all__ = ["BUILTINS", "Definition", "ModRef", "ModuleInfo", "Ref", "Signature", "join_mod", "package_parts",
           "parse_module", "resolve_from", "show_mod"]

# Decorators that leave a function's call signature as written.
_PLAIN_DECORATORS = {"staticmethod", "classmethod", "cache", "lru_cache", "abstractmethod", "override"}


@dataclass(frozen=True)
class Signature:
    """How a function can be called: enough to tell an argument count or keyword that cannot fit."""

    params: tuple[str, ...]
    posonly: int
    defaults: int
    vararg: bool
    kwonly: tuple[str, ...]
    kwonly_required: frozenset[str]
    kwarg: bool

    def bound(self) -> "Signature":
        """The signature seen through an instance or class (first parameter dropped)."""
        if not self.params:
            return self
        return Signature(self.params[1:], max(self.posonly - 1, 0), min(self.defaults, len(self.params) - 1),
                         self.vararg, self.kwonly, self.kwonly_required, self.kwarg)

    def mismatch(self, npos: int | None, keywords: tuple[str, ...] | None) -> str | None:
        """Why a call with `npos` positional arguments and `keywords` cannot bind (None: it can or is unknown)."""
        if npos is not None and not self.vararg and npos > len(self.params):
            return f"takes at most {len(self.params)} positional argument(s), given {npos}"
        if keywords is not None:
            for kw in keywords:
                if kw in self.params[:self.posonly] and not self.kwarg:
                    return f"{kw} is positional-only"
                if kw not in self.params and kw not in self.kwonly and not self.kwarg:
                    return f"has no parameter {kw}"
            if npos is not None:
                required = self.params[:len(self.params) - self.defaults]
                missing = [p for i, p in enumerate(required) if i >= npos and p not in keywords]
                missing += sorted(self.kwonly_required - set(keywords))
                if missing:
                    return f"is missing required argument(s) {', '.join(missing)}"
        return None

    def describe(self) -> str:
        parts = list(self.params)
        if self.vararg:
            parts.append("*args")
        elif self.kwonly:
            parts.append("*")
        parts += self.kwonly
        if self.kwarg:
            parts.append("**kwargs")
        return "(" + ", ".join(parts) + ")"


@dataclass
class Definition:
    """A function or class: where it is and how it is called."""

    name: str
    qualname: str
    kind: str  # "function" | "class"
    start: int
    end: int
    signature: Signature | None
    params: tuple[str, ...] = ()


@dataclass
class ModuleInfo:
    """One parsed module (or the reason it did not parse)."""

    path: str
    error: str | None = None
    names: set[str] = field(default_factory=set)
    open: bool = False  # a star import, or a module __getattr__ that answers any name: any name may resolve
    # With a module-level `__getattr__`: the string constants of the module, the names it may serve to an
    # importer (a shim for a deprecated name spells it); None without one. Other names do not resolve
    # through it: measured against the base, only a name the merge took away is reported.
    lazy: frozenset[str] | None = None
    defs: dict[str, Definition] = field(default_factory=dict)
    top_defs: list[Definition] = field(default_factory=list)
    blocks: list[Definition] = field(default_factory=list)
    reexports: dict[str, tuple[ModRef, str]] = field(default_factory=dict)
    methods: dict[str, dict[str, Signature | None]] = field(default_factory=dict)
    source: str = field(default="", repr=False)
    _bound: set[str] = field(default_factory=set, repr=False)
    _refs: list[Ref] | None = field(default=None, repr=False)
    _loads: Counter[tuple[str, str]] = field(default_factory=Counter, repr=False)

    def serves(self, name: str) -> bool:
        """Whether `from <this module> import name` (or `module.name`) may work."""
        return bool(self.error) or self.open or name in self.names or name in (self.lazy or ())

    # References cost a walk of the whole tree and most modules are only looked up for names and
    # signatures, so they are collected on demand: from a tree at hand, or by parsing `source` again.
    # Trees are never kept: thousands of live AST nodes per module make every garbage collection slower.
    def collect(self, tree: ast.Module | None = None) -> None:
        """Collect the references now (`tree`: this module's, when the caller has it)."""
        if self._refs is not None:
            return
        self._refs = []
        if self.error is None:
            collect_refs(self, tree if tree is not None else ast.parse(self.source))

    @property
    def refs(self) -> list[Ref]:
        """The references this module makes (see pyrefs)."""
        self.collect()
        assert self._refs is not None
        return self._refs

    @property
    def bound(self) -> set[str]:
        """Every name bound anywhere in the module, in any scope."""
        self.collect()
        return self._bound

    @property
    def loads(self) -> Counter[tuple[str, str]]:
        """(name, enclosing scope) -> how often the name is loaded."""
        self.collect()
        return self._loads


def _signature(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Signature:
    a = fn.args
    params = tuple(p.arg for p in a.posonlyargs + a.args)
    required = frozenset(p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is None)
    return Signature(params, len(a.posonlyargs), len(a.defaults), a.vararg is not None,
                     tuple(p.arg for p in a.kwonlyargs), required, a.kwarg is not None)


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else "?"


def _function_signature(fn: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> Signature | None:
    names = [_decorator_name(d) for d in fn.decorator_list]
    if any(n not in _PLAIN_DECORATORS for n in names):
        return None
    sig = _signature(fn)
    return sig.bound() if method and "staticmethod" not in names else sig


def _class_signature(cls: ast.ClassDef) -> Signature | None:
    if cls.decorator_list or cls.keywords:
        return None
    body = {n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    init = body.get("__init__")
    if init is None or "__new__" in body:
        return None
    return _function_signature(init, method=True)


def _start(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([d.lineno for d in decorators] + [node.lineno])  # type: ignore[attr-defined]


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _top_level(info: ModuleInfo, body: list[ast.stmt], counts: Counter[str]) -> None:
    """Names bound at module level, into compound statements but not into functions or classes.

    `counts` tells how often each name is bound: a function bound twice (two
    versions under an `if`, or rebound by an assignment) has no one signature.
    """
    def bind(names: set[str] | list[str]) -> None:
        info.names.update(names)
        counts.update(names)

    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bind([stmt.name])
            if stmt.name == "__getattr__" and _refuses_others(stmt):
                info.lazy = frozenset(n.value for part in body for n in ast.walk(part)
                                      if isinstance(n, ast.Constant) and isinstance(n.value, str))
            elif stmt.name == "__getattr__":
                info.open = True  # it may answer any name
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name == "*":
                    info.open = True
                else:
                    bind([alias.asname or alias.name.split(".")[0]])
            if isinstance(stmt, ast.ImportFrom):
                mod = resolve_from(info.path, stmt.level, stmt.module)
                for alias in stmt.names:
                    if alias.name != "*":
                        info.reexports[alias.asname or alias.name] = (mod, alias.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]):
                bind(_targets(target))
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
            for item in (stmt.items if isinstance(stmt, (ast.With, ast.AsyncWith)) else []):
                if item.optional_vars is not None:
                    bind(_targets(item.optional_vars))
            if isinstance(stmt, (ast.For, ast.AsyncFor)):
                bind(_targets(stmt.target))
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for child in ("body", "orelse", "finalbody"):
                _top_level(info, getattr(stmt, child, []) or [], counts)
        for handler in getattr(stmt, "handlers", []) or []:
            _top_level(info, handler.body, counts)
        for case in getattr(stmt, "cases", []) or []:
            _top_level(info, case.body, counts)


def _definitions(info: ModuleInfo, tree: ast.Module) -> None:
    def visit(body: list[ast.stmt], prefix: str, top: bool, cls: ast.ClassDef | None) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                is_class = isinstance(node, ast.ClassDef)
                sig: Signature | None
                params: tuple[str, ...]
                if isinstance(node, ast.ClassDef):
                    sig, params = _class_signature(node), ()
                else:
                    sig = _function_signature(node, method=cls is not None)
                    params = tuple(p.arg for p in node.args.posonlyargs + node.args.args)
                d = Definition(node.name, prefix + node.name, "class" if is_class else "function", _start(node),
                               node.end_lineno or node.lineno, sig, params)
                info.blocks.append(d)
                if top:
                    info.top_defs.append(d)
                    info.defs[node.name] = d
                if cls is not None and not is_class:
                    info.methods.setdefault(cls.name, {})[node.name] = sig
                visit(node.body, d.qualname + ".", False, node if isinstance(node, ast.ClassDef) else None)
            else:
                for child in ("body", "orelse", "finalbody"):
                    visit(getattr(node, child, []) or [], prefix, top, cls)
                for handler in getattr(node, "handlers", []) or []:
                    visit(handler.body, prefix, top, cls)

    visit(tree.body, "", True, None)


def parse_module(source: str, path: str, refs: bool = False) -> ModuleInfo:
    """Parse `source` (the file at `path`); a syntax error is recorded, not raised.

    `refs` collects the references at once (cheaper than later, which parses again).
    """
    info = ModuleInfo(path, source=source)
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as e:
        info.error = f"line {getattr(e, 'lineno', '?')}: {getattr(e, 'msg', str(e))}"
        return info
    counts: Counter[str] = Counter()
    _top_level(info, tree.body, counts)
    _definitions(info, tree)
    for name, d in list(info.defs.items()):
        if counts[name] > 1:
            info.defs[name] = replace(d, signature=None)
    if "global" in source:  # `global x` in a function binds x at module level
        info.names.update(n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names)
    if refs:
        info.collect(tree)
    return info


def _refuses_others(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a module `__getattr__` raises AttributeError for the names it does not serve (then it serves
    only names the module spells, e.g. deprecated aliases); one that never raises it may answer anything."""
    for node in ast.walk(func):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "AttributeError":
                return True
    return False
