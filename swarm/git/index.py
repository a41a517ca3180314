"""Trees built on a temporary index, diffs as bytes, and commits in the user's own name.

`GitRepo.git` strips GIT_INDEX_FILE from git's environment, so that no
command can write to a wrong index by accident, and signs swarm's own commits
as swarm. The few commands here differ on purpose: they set GIT_INDEX_FILE to
a file of their own (never the user's index), exchange patches as bytes so
files in any encoding survive, and `user_commit` makes the one commit that is
the user's (`swarm apply`) with their identity and signing settings.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from swarm.errors import GitError
from swarm.git.repo import GitRepo, git_env

_SAFE = ["-c", "core.quotePath=true", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false"]


def git_bytes(repo: GitRepo, *args: str, input: bytes | None = None, index: Path | None = None,
              user: bool = False, check: bool = True) -> tuple[int, bytes, str]:
    """Run git in `repo`; return (exit code, stdout bytes, stderr text).

    `index` points git at a temporary index; `user` keeps the user's identity
    and configuration (swarm's own commits use git_env's).
    """
    if user:
        env = {k: v for k, v in os.environ.items()
               if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")}
        env["GIT_TERMINAL_PROMPT"] = "0"
        cmd = ["git", *args]
    else:
        env = git_env()
        cmd = ["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *_SAFE, *args]
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    proc = subprocess.run(cmd, cwd=repo.root, env=env, input=input, capture_output=True)
    stderr = proc.stderr.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        raise GitError(list(args), proc.returncode, stderr or proc.stdout.decode("utf-8", "replace"))
    return proc.returncode, proc.stdout, stderr


def diff_text(repo: GitRepo, old: str, new: str, *paths: str) -> str:
    """The full diff between two commits: binary-safe, full blob ids, renames found."""
    args = ["diff", "--no-color", "--no-ext-diff", "--binary", "--full-index", "-M", "--src-prefix=a/",
            "--dst-prefix=b/", old, new]
    if paths:
        args += ["--", *paths]
    _, out, _ = git_bytes(repo, *args)
    return out.decode("utf-8", "surrogateescape")


def tree_of(repo: GitRepo, commit: str) -> str:
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
        git_bytes(repo, "read-tree", tree_ish, index=self.path)

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
        code, _, stderr = git_bytes(self.repo, "apply", "--cached", "--3way", *flags, "--whitespace=nowarn", "-",
                                    input=patch.encode("utf-8", "surrogateescape"), index=self.path,
                                    check=False)
        if code == 0:
            return []
        _, out, _ = git_bytes(self.repo, "ls-files", "-u", "-z", index=self.path)
        conflicted = sorted({entry.split(b"\t", 1)[1].decode("utf-8", "surrogateescape")
                             for entry in out.split(b"\0") if b"\t" in entry})
        if conflicted:
            return conflicted
        # Not a merge conflict: the patch could not be placed at all (e.g. a file it edits is missing).
        raise GitError(["apply", "--cached", "--3way"], code, stderr)

    def write_tree(self) -> str:
        _, out, _ = git_bytes(self.repo, "write-tree", index=self.path)
        return out.decode().strip()


def user_commit(repo: GitRepo, tree: str, parents: list[str], message: str) -> str:
    """A commit made as the user: their name, e-mail and signing settings, no swarm identity."""
    args = ["commit-tree", tree, "-F", "-"]
    for parent in parents:
        args += ["-p", parent]
    code, out, stderr = git_bytes(repo, *args, input=message.encode(), user=True, check=False)
    if code != 0:
        raise GitError(["commit-tree"], code, stderr)
    return out.decode().strip()
