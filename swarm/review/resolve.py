"""Conflicts a run left open, taken into the review: the resolver's refused attempt, or a resolution by hand.

`swarm review --keep resolver:FILE` takes FILE as the resolver left it
(kept on `swarm/<run>/_resolver-<subtask>` when verification refused it).
`swarm review --resolve FILE` makes a worktree at the merged result with the
left-out subtask merged in and FILE's conflict markers in place, beside the
run's other worktrees; once edited, `swarm review --keep hand:FILE` takes the
file from there. Either way the left-out subtask's other files come along and
the reviewed result (`swarm/<run>/reviewed`) is rebuilt from it; `swarm apply`
takes that.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarm.errors import SelectionError
from swarm.git.repo import GitRepo
from swarm.review.selection import RunReview

SOURCES = ("resolver", "hand")
# In a hand resolution only the markers that open or close a side count: a person may well keep a line
# of seven `=` (a Markdown heading's underline), which the resolver's stricter check refuses.
_OPEN_MARKER = re.compile(r"^(<{7} |>{7} |\|{7} )", re.MULTILINE)


@dataclass
class Taken:
    """One conflicted file whose content the reviewed result takes from outside the subtasks' diffs."""

    path: str
    source: str  # "resolver" or "hand"
    subtask: str  # the subtask the conflict left out
    blob: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "from": self.source, "subtask": self.subtask, "blob": self.blob}


def is_taking(name: str) -> bool:
    """Whether a `--keep` value names a conflict's resolution (`resolver:FILE`, `hand:FILE`)."""
    return name.partition(":")[0] in SOURCES and ":" in name


def open_conflict(review: RunReview, path: str) -> dict[str, Any]:
    """The open conflict of the run in `path`, or an error listing those there are."""
    open_ = [c for c in review.result.conflicts if not c.get("resolved") and c.get("subtasks")]
    for conflict in open_:
        if conflict.get("file") == path:
            return conflict
    listed = ", ".join(sorted({str(c.get("file")) for c in open_})) or "none"
    raise SelectionError(f"{path}: no open conflict in run {review.run_id} (open conflicts: {listed}); "
                         f"`swarm review {review.run_id}` lists them")


def hand_worktree(repo: GitRepo, review: RunReview, subtask: str) -> Path:
    """Where the conflict with `subtask` is resolved by hand: beside the run's worktrees (cleaned with them)."""
    return repo.worktrees_home() / review.run_id / f"_hand-{subtask}"


def prepare_hand(repo: GitRepo, review: RunReview, path: str) -> tuple[Path, bool]:
    """The hand-resolution worktree for `path` (made now, or already there): (folder, made now).

    It holds the merged result with the left-out subtask merged in, uncommitted:
    the conflicted files carry git's markers. An existing one is left as it is,
    so an edit under way is never lost.
    """
    conflict = open_conflict(review, path)
    subtask = conflict["subtasks"][-1]
    folder = hand_worktree(repo, review, subtask)
    if folder.is_dir() and repo.worktrees.admin_dir(folder) is not None:
        return folder, False
    commit = review.change(subtask).commit
    asyncio.run(repo.add_detached_worktree(folder, review.tip))
    repo.in_worktree(folder).run("merge", "--no-ff", "--no-commit", commit, check=False)
    return folder, True


def take(repo: GitRepo, review: RunReview, name: str) -> Taken:
    """What `--keep resolver:FILE` or `--keep hand:FILE` takes, or an error saying what to do instead."""
    source, _, path = name.partition(":")
    conflict = open_conflict(review, path)
    subtask = conflict["subtasks"][-1]
    if source == "resolver":
        attempt = conflict.get("attempt")
        if not attempt:
            raise SelectionError(f"--keep {name}: the resolver left no attempt at {path} in run {review.run_id}; "
                                 f"resolve it by hand: `swarm review --resolve {path}`")
        blob = repo.git("rev-parse", "--verify", "-q", f"{attempt}:{path}", check=False)
        if not blob:
            raise SelectionError(f"--keep {name}: the resolver's attempt {attempt[:10]} has no {path} (it removed "
                                 f"it); resolve it by hand: `swarm review --resolve {path}`")
        return Taken(path, source, subtask, blob)
    folder = hand_worktree(repo, review, subtask)
    if not folder.is_dir() or repo.worktrees.admin_dir(folder) is None:
        raise SelectionError(f"--keep {name}: no hand resolution of {path} yet; run `swarm review --resolve {path}`, "
                             f"edit the file it names, then this again")
    target = folder / path
    # Only a regular file, reached through real folders of the worktree: a symlink (one a subtask committed,
    # say `config -> ~/.aws/credentials`) would bring the content of a file outside into the result.
    if target.is_symlink() or not Path(os.path.realpath(target)).is_relative_to(folder.resolve()):
        raise SelectionError(f"--keep {name}: {target} is a symbolic link (or lies behind one); swarm takes only "
                             f"a regular file there: replace it with the content you want, then run this again")
    problems = _hand_problems(folder, path)
    if problems:
        raise SelectionError(f"--keep {name}: {'; '.join(problems)} in {folder / path}; finish the edit there, "
                             f"then run this again")
    if not (folder / path).is_file():
        raise SelectionError(f"--keep {name}: {folder / path} is gone; put the file back, or `swarm review "
                             f"--drop {subtask}` to leave {subtask} out")
    blob = repo.git("hash-object", "-w", "--", str(folder / path))
    return Taken(path, source, subtask, blob)


def _hand_problems(folder: Path, path: str) -> list[str]:
    """What is still wrong with a file resolved by hand: markers opening or closing a side, Python that does
    not parse."""
    file = folder / path
    if not file.is_file():
        return []
    text = file.read_text(errors="replace")
    if _OPEN_MARKER.search(text):
        return [f"{path}: conflict markers are still there"]
    if path.endswith(".py"):
        try:
            ast.parse(text)
        except SyntaxError as e:
            return [f"{path}: does not parse ({e.msg}, line {e.lineno})"]
    return []


def attempt_diff(repo: GitRepo, review: RunReview, conflict: dict[str, Any]) -> str:
    """The resolver's refused attempt at a conflicted file, as a diff from the merged result."""
    attempt = conflict.get("attempt")
    if not attempt:
        return ""
    return repo.git("-c", "core.quotePath=false", "diff", "--no-color", "--no-ext-diff", review.tip, attempt,
                    "--", str(conflict["file"]), check=False)
