"""Sparse worktrees for large repositories: only what a subtask's scope needs is on disk.

A worktree is sparse when the `sparse` setting says so (`auto`: the repository
tracks more files than `sparse_threshold`). What is checked out: the folders
of the subtask's scope (`src/core/**` -> `src/core/`, `src/core/a.py` ->
`src/core/`), every top-level file, and the folders of the tracked paths the
plan's `shared` text names. Git's cone mode with a sparse index: a folder left
out is one entry of the index (not a deletion in the subtask's commit, nor a
conflict), so git's commands in the worktree touch a few hundred entries, not
the repository's thousands (on Django's 6,900 files: an index of 2 KB instead
of 880 KB, and `reset`, `add` and `commit` in milliseconds).

The cone lines live in the worktree's own git dir (`<admin>/info/sparse-checkout`)
and git is told to use them on the command line only (swarm.git.worktrees.SPARSE),
so the user's repository configuration is never changed. `SparseTools` materialises a
tracked path a file tool touches before the tool runs, so an agent never meets
"no such file" for a file the repository has; its bash asks for more by
writing paths or globs, one a line, to `.swarm-want` in the worktree.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from swarm.git.runner import GitRunner
from swarm.git.worktrees import SPARSE, sparse_file, write_sparse

WANT_FILE = ".swarm-want"
# Back to a full checkout: every path, and the index whole again.
_UNSPARSE = ("-c", "core.sparseCheckout=true", "-c", "core.sparseCheckoutCone=false", "-c", "index.sparse=false")
_GLOB_CHARS = re.compile(r"[*?\[]")
_PATHISH = re.compile(r"[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)+/?|[A-Za-z0-9_\-]+\.[A-Za-z0-9]+")


def wants_sparse(mode: str, threshold: int, tracked_files: int) -> bool:
    """Whether a subtask's worktree is sparse: `on`, or `auto` past the threshold."""
    return mode == "on" or (mode == "auto" and tracked_files > threshold)


def sparse_patterns(scope: list[str], shared: str | None, tracked: list[str]) -> list[str]:
    """Cone-mode lines for the scope's folders and the folders of the tracked paths `shared` names
    (`["/*"]`: the scope reaches anywhere, so nothing is left out)."""
    files, every_folder = _tree(tracked)
    folders: set[str] = set()
    for glob in scope:
        match = _GLOB_CHARS.search(glob)
        if match is None:
            literal = glob.strip("/")
        else:  # the folder the glob's fixed part ends in: `src/core/**` -> src/core, `src/a*.py` -> src
            prefix = glob[:match.start()].lstrip("/")
            literal = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
            if not literal:
                if glob.startswith("**"):
                    return ["/*"]  # `**/*.py`: a scope anywhere in the tree leaves nothing out
                continue  # `*.md`: top-level files are always there
        if literal in every_folder or (match is not None and literal):
            folders.add(literal)  # a folder, named or the fixed part of a glob
        elif "/" in literal:
            folders.add(literal.rsplit("/", 1)[0])  # a file (tracked or new): its folder
    for name in sorted(set(_PATHISH.findall(shared or ""))):
        clean = name.rstrip(".,;:").strip("/")
        if clean in every_folder:
            folders.add(clean)
        elif clean in files and "/" in clean:
            folders.add(clean.rsplit("/", 1)[0])
    return cone_lines(folders)


_TREE: list[Any] = []  # the last tracked list seen, with its files and folders as sets


def _tree(tracked: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The tracked files and every folder holding one. Worked out once per list: the subtasks of a run
    share the base's list, and 64 of them redoing it on the Django sdist took half a second at the start."""
    if _TREE and _TREE[0] is tracked:
        return _TREE[1], _TREE[2]
    parents = {p.rsplit("/", 1)[0] for p in tracked if "/" in p}
    folders = frozenset("/".join(f.split("/")[:i]) for f in parents for i in range(1, f.count("/") + 2))
    _TREE[:] = [tracked, frozenset(tracked), folders]
    return _TREE[1], folders


def cone_lines(folders: set[str]) -> list[str]:
    """The sparse-checkout file of cone mode for `folders` (each whole), as `git sparse-checkout set` writes
    it: every top-level file, each parent folder's own files, the folders themselves."""
    whole = {f for f in folders if f and not any(f.startswith(g + "/") for g in folders if g and g != f)}
    parents = {"/".join(f.split("/")[:i]) for f in whole for i in range(1, f.count("/") + 1)} - whole
    lines = ["/*", "!/*/"]
    for parent in sorted(parents):
        lines += [f"/{parent}/", f"!/{parent}/*/"]
    return lines + [f"/{f}/" for f in sorted(whole)]


def cone_folders(lines: list[str]) -> set[str]:
    """The folders a cone file includes whole (the inverse of cone_lines)."""
    out = set()
    for i, line in enumerate(lines):
        if line.startswith("/") and line.endswith("/") and line != "/*/":
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if following != f"!{line}*/":
                out.add(line.strip("/"))
    return out


def is_sparse(admin: Path) -> bool:
    return sparse_file(admin).is_file()


async def reapply(runner: GitRunner, admin: Path, patterns: list[str] | None) -> None:
    """Make a worktree hold exactly `patterns` (None: everything, and no longer sparse). Edits and untracked
    files are kept (`sparse-checkout reapply`)."""
    if patterns is None:
        if not is_sparse(admin):
            return
        write_sparse(admin, ["/*"])
        await runner.arun(*_UNSPARSE, "read-tree", "-mu", "HEAD")
        sparse_file(admin).unlink()
        return
    write_sparse(admin, patterns)
    await runner.arun(*SPARSE, "sparse-checkout", "reapply")


async def materialise(runner: GitRunner, admin: Path, paths: list[str], folders: bool = True) -> list[str]:
    """Check out the tracked files at or below `paths` (globs too) that the sparse set left out; return them.
    Their folders join the cone (each whole), and the agent's edits are kept.

    `folders=False`: the paths name files, so no folder below them is looked for."""
    if not paths or not is_sparse(admin):
        return []
    specs = [f":(glob){p}" if _GLOB_CHARS.search(p) else p for p in paths]
    # `ls-files -t` marks skip-worktree entries with S: exactly the tracked files not on disk.
    listed = (await runner.arun(*SPARSE, "ls-files", "-t", "-z", "--", *specs, check=False)).raw
    missing = [entry[2:] for entry in listed.split("\0") if entry.startswith("S ")]
    missing += [] if missing or not folders else await _below(runner, paths)
    if not missing:
        return []
    lines = sparse_file(admin).read_text().splitlines()
    whole = cone_folders(lines) | {m.rsplit("/", 1)[0] for m in missing if "/" in m}
    write_sparse(admin, cone_lines(whole))
    await runner.arun(*SPARSE, "sparse-checkout", "reapply")
    return missing


async def _below(runner: GitRunner, paths: list[str]) -> list[str]:
    """Skip-worktree entries inside the folders `paths` name (a plain folder is no pathspec match for `-t`)."""
    out: list[str] = []
    for path in paths:
        folder = path.strip("/")
        if not folder or _GLOB_CHARS.search(folder):
            continue
        listed = (await runner.arun(*SPARSE, "ls-files", "-t", "-z", "--", f":(glob){folder}/**",
                                    check=False)).raw
        out += [entry[2:] for entry in listed.split("\0") if entry.startswith("S ")]
    return out


class SparseTools:
    """A worktree's tools, materialising what the agent reaches for outside the sparse set first."""

    def __init__(self, tools: Any, runner: GitRunner, admin: Path, workdir: Path,
                 tracked: list[str] | None = None) -> None:
        """`tracked`: the files of the commit the worktree is on, when known: a file the agent names that is
        not one of them has nothing to check out, and no git process is spent asking."""
        self.tools = tools
        self.runner = runner
        self.admin = admin
        self.workdir = workdir
        self.tracked = _tree(tracked)[0] if tracked is not None else None

    def definitions(self) -> list[dict[str, Any]]:
        return self.tools.definitions()

    def _paths(self, name: str, tool_input: Any) -> list[str]:
        if not isinstance(tool_input, dict):
            return []
        found = []
        for key in ("file_path", "path") if name in ("read", "write", "edit", "grep", "glob") else ():
            value = tool_input.get(key)
            if isinstance(value, str) and value and ".git" not in Path(value).parts:
                path = Path(value)
                if path.is_absolute():
                    try:
                        path = path.relative_to(self.workdir)
                    except ValueError:
                        continue
                found.append(path.as_posix())
        if name == "glob" and isinstance(tool_input.get("pattern"), str):
            base = tool_input.get("path") or ""
            found.append(f"{base.rstrip('/')}/{tool_input['pattern']}".lstrip("/") if base else tool_input["pattern"])
        return [p for p in found if p not in (".", "")]

    async def call(self, name: str, tool_input: Any) -> Any:
        paths = [p for p in self._paths(name, tool_input) if "\0" not in p]  # the tool refuses those itself
        single = name in ("read", "write", "edit")  # one file: on disk already means nothing to bring in
        if single:
            paths = [p for p in paths if not os.path.lexists(self.workdir / p)
                     and (self.tracked is None or os.path.normpath(p) in self.tracked)]
        if paths:
            await materialise(self.runner, self.admin, paths, folders=not single)
        outcome = await self.tools.call(name, tool_input)
        want = self.workdir / WANT_FILE
        if want.is_symlink():
            want.unlink()  # a link is no request: swarm reads only a file the agent wrote
        elif want.is_file():  # written by bash (or any tool): consumed at once, never part of a change
            asked = [line.strip() for line in want.read_text(errors="replace").splitlines()
                     if line.strip() and "\0" not in line]
            want.unlink()
            brought = await materialise(self.runner, self.admin, asked)
            note = f"\n[swarm: checked out {len(brought)} file(s) you asked for in {WANT_FILE}]"
            if isinstance(outcome.content, str):
                outcome.content += note
        return outcome


async def count_tracked(runner: GitRunner, commit: str) -> tuple[int, list[str]]:
    """How many files `commit` tracks, and their paths."""
    out = (await runner.arun("ls-tree", "-r", "-z", "--name-only", commit)).raw
    paths = [p for p in out.split("\0") if p]
    return len(paths), paths


__all__ = ["SparseTools", "cone_folders", "cone_lines", "count_tracked", "materialise", "reapply",
           "sparse_patterns", "wants_sparse"]
