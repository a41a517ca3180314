"""The references of one Python module that another change can break.

Two passes over the tree: the first finds every name the module binds
anywhere (flat, scopes ignored: a name bound nowhere in a file is a NameError
wherever it is used) and what each import binds; the second walks scope by
scope and records, with the enclosing function as part of each key:

    import / from   a module (and a name from it) the file imports
    attr            `alias.a.b` where alias is bound only by an import
    call            a call to a function whose signature can be known:
                    local def, `from m import f`, `module.f`, `self.method`
    unbound         a name loaded but bound nowhere, not a builtin
"""

from __future__ import annotations

import ast

from typing import TYPE_CHECKING

from swarm.checks.pynames import BUILTINS, ModRef, Ref, resolve_from

if TYPE_CHECKING:
    from swarm.checks.pysource import ModuleInfo

ImportTarget = tuple  # ("module", ModRef) or ("from", ModRef, name)


def _bindings(info: ModuleInfo, tree: ast.Module) -> tuple[dict[str, set[ImportTarget]], set[str], set[str]]:
    """Fill `info.bound`; return what imports bind each name to, names bound by def/class, and by anything else."""
    imports: dict[str, set[ImportTarget]] = {}
    other: set[str] = set()
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            other.add(node.id)
        elif isinstance(node, ast.arg):
            other.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            other.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            other.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            other.add(node.rest)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports.setdefault(alias.asname, set()).add(("module", ("abs", alias.name)))
                else:
                    top = alias.name.split(".")[0]
                    imports.setdefault(top, set()).add(("module", ("abs", top)))
        elif isinstance(node, ast.ImportFrom):
            mod = resolve_from(info.path, node.level, node.module)
            for alias in node.names:
                if alias.name == "*":
                    info.open = True
                else:
                    imports.setdefault(alias.asname or alias.name, set()).add(("from", mod, alias.name))
    info._bound = other | defined | set(imports)
    return imports, other, defined


class _Collector(ast.NodeVisitor):
    def __init__(self, info: ModuleInfo, imports: dict[str, set[ImportTarget]], other: set[str],
                 defined: set[str]) -> None:
        self.info = info
        self.imports = imports
        self.other = other
        self.defined = defined
        self.scope: list[str] = []
        self.cls: str | None = None
        self.self_name: str | None = None
        self.guarded = 0  # inside `try:` that catches ImportError: an optional import, not a promise

    # -- helpers ---------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return ".".join(self.scope) or "<module>"

    def add(self, kind: str, key: tuple, node: ast.AST) -> None:
        self.info.refs.append(Ref(kind, (kind, *key, self.where), getattr(node, "lineno", 0)))

    def import_target(self, name: str) -> ImportTarget | None:
        """What `name` is, when only imports bind it, and all to the same thing."""
        targets = self.imports.get(name)
        if not targets or len(targets) != 1 or name in self.other or name in self.defined:
            return None
        return next(iter(targets))

    def chain(self, node: ast.expr) -> tuple[str, tuple[str, ...]] | None:
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and attrs:
            return node.id, tuple(reversed(attrs))
        return None

    # -- scopes ------------------------------------------------------------------------------

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        for default in [*args.defaults, *[d for d in args.kw_defaults if d is not None]]:
            self.visit(default)
        if isinstance(node, ast.Lambda):
            self.visit(node.body)
            return
        for decorator in node.decorator_list:
            self.visit(decorator)
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and arg.annotation is not None:
                self.visit(arg.annotation)
        if node.returns is not None:
            self.visit(node.returns)
        saved = (self.cls, self.self_name)
        if self.cls is not None and self.scope and self.scope[-1] == self.cls:
            plain = not any(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod")
                            for d in node.decorator_list)
            positional = [*args.posonlyargs, *args.args]
            self.self_name = positional[0].arg if plain and positional else None
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()
        self.cls, self.self_name = saved

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *[k.value for k in node.keywords]]:
            self.visit(expr)
        saved = (self.cls, self.self_name)
        self.cls, self.self_name = node.name, None
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()
        self.cls, self.self_name = saved

    def visit_Try(self, node: ast.Try) -> None:
        optional = any(_catches_import_error(h.type) for h in node.handlers)
        self.guarded += optional
        for stmt in node.body:
            self.visit(stmt)
        self.guarded -= optional
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    def visit_TryStar(self, node: ast.TryStar) -> None:
        self.visit_Try(node)  # type: ignore[arg-type]  # the same fields

    # -- references ----------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        if self.guarded:
            return
        for alias in node.names:
            self.add("import", (("abs", alias.name),), node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if self.guarded:
            return
        mod: ModRef = resolve_from(self.info.path, node.level, node.module)
        for alias in node.names:
            if alias.name == "*":
                self.add("import", (mod,), node)
            else:
                self.add("from", (mod, alias.name), node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        self.info.loads[(node.id, self.where)] += 1
        if node.id not in self.info.bound and node.id not in BUILTINS and not self.info.open:
            self.add("unbound", (node.id,), node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        found = self.chain(node)
        if found is None:
            self.generic_visit(node)
            return
        root, attrs = found
        target = self.import_target(root)
        if target is not None and isinstance(node.ctx, ast.Load):
            self.add("attr", (target, attrs), node)
        self.visit_Name(ast.Name(id=root, ctx=ast.Load(), lineno=node.lineno))

    def visit_Call(self, node: ast.Call) -> None:
        npos = None if any(isinstance(a, ast.Starred) for a in node.args) else len(node.args)
        kws = None if any(k.arg is None for k in node.keywords) else tuple(sorted(k.arg or "" for k in node.keywords))
        target = self.call_target(node.func)
        if target is not None:
            self.add("call", (target, npos, kws), node)
        self.generic_visit(node)

    def call_target(self, func: ast.expr) -> tuple | None:
        if isinstance(func, ast.Name):
            imported = self.import_target(func.id)
            if imported is not None and imported[0] == "from":
                return imported
            if func.id in self.info.defs and func.id not in self.imports and func.id not in self.other:
                return ("local", func.id)
            return None
        found = self.chain(func)
        if found is None:
            return None
        root, attrs = found
        if root == self.self_name and self.cls is not None and len(attrs) == 1:
            return ("self", self.cls, attrs[0])
        target = self.import_target(root)
        return ("chain", target, attrs) if target is not None else None


def _catches_import_error(handler: ast.expr | None) -> bool:
    if handler is None:
        return True
    names = handler.elts if isinstance(handler, ast.Tuple) else [handler]
    return any((n.id if isinstance(n, ast.Name) else getattr(n, "attr", "")) in
               ("ImportError", "ModuleNotFoundError", "Exception", "BaseException") for n in names)


def collect_refs(info: ModuleInfo, tree: ast.Module) -> None:
    """Fill the module's bound names, references and name loads."""
    imports, other, defined = _bindings(info, tree)
    _Collector(info, imports, other, defined).visit(tree)
