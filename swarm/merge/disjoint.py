"""The fold of subtasks that changed different files: no git process per subtask.

When every branch begins at the base, none deletes a file, and no two touch
the same path (nor one a file where another makes a folder), merging each onto
the result so far cannot conflict and its tree is known in advance: the base's
tree with the changes of every subtask merged so far. `fold_disjoint` builds
exactly the commits `swarm.merge.fold.fold` would (the first branch taken as
it is, then one merge commit per subtask with the same parents and message),
writing the changed folders' trees and the commits itself (swarm.git.objects):
one `git diff-tree --stdin` and one `git cat-file --batch` for the whole run
instead of two git processes per subtask. Anything else (a deletion, where
rename detection could matter; a shared path; a branch that does not begin
at the base) is left to `fold`, which then merges as it always has.
"""

from __future__ import annotations

import re
from typing import Any

from swarm.git.objects import ObjectReader, ObjectWriter, read_tree, tree_body

__all__ = ["fold_disjoint"]

Entry = tuple[str, str]  # (mode, object id)
TREE = "40000"


def branch_changes(runner: Any, base: str, commits: list[str]) -> dict[str, dict[str, Entry | None]] | None:
    """Each commit's files changed from `base` (path -> new entry, None for a deletion), in one process."""
    lines = "".join(f"{commit} {base}\n" for commit in commits)
    out = runner.run("diff-tree", "-r", "-z", "--no-renames", "--stdin", input=lines, check=False)
    if out.code != 0:
        return None
    changes: dict[str, dict[str, Entry | None]] = {c: {} for c in commits}
    current: dict[str, Entry | None] | None = None
    tokens = out.stdout.split(b"\0")
    i = 0
    while i < len(tokens):
        token = tokens[i].decode("utf-8", "surrogateescape")
        if token.startswith(":"):
            if current is None or i + 1 >= len(tokens):
                return None
            _old_mode, new_mode, _old, new, status = token[1:].split(" ")
            path = tokens[i + 1].decode("utf-8", "surrogateescape")
            current[path] = None if status == "D" else (new_mode, new)
            i += 2
            continue
        if re.fullmatch(r"[0-9a-f]{40}", token):
            current = changes.get(token)
        i += 1
    return changes


def disjoint(changes: list[dict[str, Entry | None]]) -> bool:
    """No deletion, and no path of one change is a path (or a folder) of another's."""
    files: set[str] = set()
    folders: set[str] = set()
    for change in changes:
        if any(entry is None for entry in change.values()):
            return False
        mine = set(change)
        above = {path.rsplit("/", k)[0] for path in mine for k in range(1, path.count("/") + 1)}
        if mine & (files | folders) or above & files:
            return False
        files |= mine
        folders |= above
    return True


class TreeEditor:
    """Trees of the object store changed path by path, each changed folder written as a new tree object."""

    def __init__(self, reader: ObjectReader, writer: ObjectWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._read: dict[str, dict[str, Entry]] = {}

    def entries(self, tree: str) -> dict[str, Entry]:
        if tree not in self._read:
            obj = self.reader.object(tree)
            if obj is None or obj[0] != "tree":
                raise ValueError(f"no tree {tree}")
            self._read[tree] = read_tree(obj[1])
        return self._read[tree]

    def apply(self, tree: str | None, changes: dict[str, Entry]) -> str:
        """`tree` (None: an empty folder) with `changes` (path relative to it -> new entry); its new id."""
        entries = dict(self.entries(tree)) if tree else {}
        inner: dict[str, dict[str, Entry]] = {}
        for path, entry in changes.items():
            head, sep, rest = path.partition("/")
            if sep:
                inner.setdefault(head, {})[rest] = entry
            else:
                entries[head] = entry
        for name, below in inner.items():
            current = entries.get(name)
            if current is not None and current[0] != TREE:
                raise ValueError(f"{name} is a file, not a folder")
            entries[name] = (TREE, self.apply(current[1] if current else None, below))
        body = tree_body(entries)
        self._read.setdefault(oid := self.writer.write("tree", body), entries)
        return oid


def _begins_at(reader: ObjectReader, base: str, commit: str, limit: int = 64) -> bool:
    """Whether `commit`'s history back to `base` is a line of single-parent commits (a subtask's branch)."""
    at = commit
    for _ in range(limit):
        if at == base:
            return True
        obj = reader.object(at)
        if obj is None or obj[0] != "commit":
            return False
        parents = re.findall(r"^parent ([0-9a-f]{40})$", obj[1].split(b"\n\n", 1)[0].decode(), re.M)
        if len(parents) != 1:
            return False
        at = parents[0]
    return False


def fold_disjoint(runner: Any, writer: ObjectWriter, base: str, base_tree: str, branches: list[tuple[str, str]],
                  trees: dict[str, str], label: str) -> tuple[str, str, list[str]] | None:
    """(the integration commit, its tree, the subtasks merged) as `fold` makes them, or None when the branches
    are not disjoint changes from `base` (then `fold` merges them with git). `trees`: each commit's tree."""
    changed = [(sid, commit) for sid, commit in branches if commit != base]
    if len(changed) < 2:
        return None
    found = branch_changes(runner, base, [commit for _, commit in changed])
    if found is None or not disjoint([found[commit] for _, commit in changed]):
        return None
    reader = ObjectReader(runner)
    try:
        if not all(_begins_at(reader, base, commit) for _, commit in changed):
            return None
        editor = TreeEditor(reader, writer)
        result, tree = base, base_tree
        for sid, commit in changed:
            entries = {path: entry for path, entry in found[commit].items() if entry is not None}
            tree = editor.apply(tree, entries)
            if result == base:
                if tree != trees.get(commit):
                    return None  # not what git has: leave it to git
                result = commit  # the first change is taken as it is (a fast-forward)
            else:
                result = writer.commit(tree, [result, commit], f"{label}: merge subtask {sid}")
    except (ValueError, OSError):
        return None
    finally:
        reader.close()
    return result, tree, [sid for sid, _ in branches]
