"""Module references and names, shared by the module reader (pysource) and the reference walker (pyrefs)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

ModRef = tuple[str, str]  # ("abs", "pkg.mod") or ("rel", "src/pkg/mod"): relative imports become repo paths

BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__", "__doc__", "__spec__", "__loader__", "__package__",
                                       "__builtins__", "__path__", "__annotations__", "__dict__", "__cached__",
                                       "__debug__", "__qualname__", "__module__", "__class__"}


@dataclass(frozen=True)
class Ref:
    """A reference that can break when something else changes; `key` is the same in every version of a file."""

    kind: str  # import | from | attr | call | unbound
    key: tuple
    line: int


def package_parts(path: str) -> list[str]:
    """The folder of a module's package: 'a/b/c.py' and 'a/b/__init__.py' both give ['a', 'b']."""
    return path.split("/")[:-1]


def resolve_from(path: str, level: int, module: str | None) -> ModRef:
    """The module an import names, seen from the file at `path`."""
    if level == 0:
        return ("abs", module or "")
    parts = package_parts(path)
    parts = parts[:len(parts) - (level - 1)] if level > 1 else parts
    if module:
        parts = parts + module.split(".")
    return ("rel", "/".join(parts))


def join_mod(mod: ModRef, name: str) -> ModRef:
    sep = "." if mod[0] == "abs" else "/"
    return (mod[0], f"{mod[1]}{sep}{name}" if mod[1] else name)


def show_mod(mod: ModRef) -> str:
    return mod[1].replace("/", ".") if mod[0] == "rel" else mod[1]
