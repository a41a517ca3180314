"""Trees built on a temporary index, diffs as bytes, and the one commit made in the user's own name.

These commands go through the one runner like every other; they differ on
purpose: they set GIT_INDEX_FILE to a file of their own (never the user's
index), exchange patches as bytes so files in any encoding survive, and
`user_commit` makes the one commit that is the user's (`swarm apply`) with
their identity and signing settings.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType

from swarm.errors import GitError
from swarm.git.repo import GitRepo

# Patches swarm applies again must name files the way `git apply` reads them back.
_QUOTED = ["-c", "core.quotePath=true"]


def diff_text(repo: GitRepo, old: str, new: str, *paths: str) -> str:
    """The full diff between two commits: binary-safe, full blob ids, renames found."""
    args = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--binary", "--full-index", "-M", "--src-prefix=a/",
            "--dst-prefix=b/", old, new]
    if paths:
        args += ["--", *paths]
    return repo.runner.run(*_QUOTED, *args).raw


def tree_of(repo: GitRepo, commit: str) -> str:
    """The tree id of a commit."""
    return repo.git("rev-parse", f"{commit}^{{tree}}")


class ScratchIndex:
    """A temporary index holding a tree: patches are applied to it and a tree written from it.

    Used as a context manager; the index file is removed at the end. The user's
    index and working tree are never involved.
    """

    def __init__(self, repo: GitRepo, tree_ish: str) -> None:
        self.repo = repo
        handle, name = tempfile.mkstemp(prefix="swarm-index-", dir=repo.git_dir)
        os.close(handle)
        self.path = Path(name)
        self.path.unlink()  # git wants to create the index itself
        repo.runner.run("read-tree", tree_ish, index=self.path)

    def __enter__(self) -> "ScratchIndex":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        for path in (self.path, self.path.with_name(self.path.name + ".lock")):
            path.unlink(missing_ok=True)

    def apply(self, patch: str, reverse: bool = False) -> list[str]:
        """Apply a patch (or take it out, with `reverse`), three-way where its context moved.

        Returns the files that conflict ([] when it went in cleanly).
        """
        flags = ["-R"] if reverse else []
        applied = self.repo.runner.run(*_QUOTED, "apply", "--cached", "--3way", *flags, "--whitespace=nowarn", "-",
                                       input=patch, index=self.path, check=False)
        if applied.code == 0:
            return []
        out = self.repo.runner.run("ls-files", "-u", "-z", index=self.path).stdout
        conflicted = sorted({entry.split(b"\t", 1)[1].decode("utf-8", "surrogateescape")
                             for entry in out.split(b"\0") if b"\t" in entry})
        if conflicted:
            return conflicted
        # Not a merge conflict: the patch could not be placed at all (e.g. a file it edits is missing).
        raise GitError(["apply", "--cached", "--3way"], applied.code, applied.stderr)

    def write_tree(self) -> str:
        """The tree the index now holds."""
        return self.repo.runner.run("write-tree", index=self.path).text.strip()


def user_commit(repo: GitRepo, tree: str, parents: list[str], message: str) -> str:
    """A commit made as the user: their name, e-mail and signing settings, no swarm identity."""
    args = ["commit-tree", tree, "-F", "-"]
    for parent in parents:
        args += ["-p", parent]
    out = repo.runner.run(*args, input=message, user=True, check=False)
    if out.code != 0:
        raise GitError(["commit-tree"], out.code, out.stderr)
    return out.text.strip()
