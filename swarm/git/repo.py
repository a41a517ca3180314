"""A repository as swarm sees it: refs, in-memory merges and commits, its worktrees and places.

Every command goes through swarm.git.runner (the one runner); worktrees are
added and removed only by swarm.git.worktrees, and git on a worktree always
names its git dir and work tree. GitPython is kept for one job: finding the
repository that contains a folder (`discover`), where its checks for bare
repositories, worktrees and parent directories earn their place; it runs once,
before any event loop, and is closed at once. Refs are resolved with plain git
(`resolve` / `aresolve`), so async code never blocks on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import git

from swarm.errors import ConfigError, GitError, SwarmError
from swarm.git.objects import ObjectWriter, object_writer
from swarm.git.runner import GitRunner
from swarm.git.worktrees import JUNK_PATHSPECS, LIST_UNTRACKED, Worktrees, embedded_repos

__all__ = ["GitRepo", "MergeResult", "Staged", "JUNK_PATHSPECS", "TAMPER_TRAILER"]

TAMPER_TRAILER = "Swarm-Tamper:"


def worktrees_folder(setting: str | Path | None) -> Path | None:
    """The `worktrees` setting as a folder (None: the user cache folder)."""
    return Path(setting).expanduser() if setting else None


@dataclass
class Staged:
    """What `stage_all` did besides staging: a `.git` file put back, git repositories of the agent's left out."""

    tampered: str | None
    nested: list[str]

    def message(self, message: str) -> str:
        """`message` with the trailers that say so."""
        if self.tampered:
            message = f"{message}\n\n{TAMPER_TRAILER} {self.tampered}; swarm restored it"
        if self.nested:
            message = f"{message}\n\nSwarm-Left-Out: {', '.join(self.nested)} (a git repository of its own)"
        return message


@dataclass
class MergeResult:
    """The outcome of one `git merge-tree --write-tree`."""

    tree: str
    clean: bool
    conflicted_files: list[str]
    messages: str


class GitRepo:
    """A repository: its top level, its git dir, and the git commands swarm uses."""

    def __init__(self, root: Path, *, worktrees: str | Path | None = None) -> None:
        self.root = root
        self.runner = GitRunner(root)
        # The `worktrees` setting (config, SWARM_WORKTREES), passed in; None is the user cache folder.
        self.worktrees_base = worktrees_folder(worktrees)
        self.git_dir = Path(self.git("rev-parse", "--absolute-git-dir"))
        self.common_dir = Path(self.git("rev-parse", "--path-format=absolute", "--git-common-dir"))
        self.worktrees = Worktrees(self.runner, self.common_dir)
        self._writer: ObjectWriter | None | bool = False  # not made yet
        self._trees: dict[str, str] = {}  # commit -> its tree (commits do not change)
        self._diffs: dict[tuple[str, str], str] = {}  # (base, tree) -> the diff text, worked out ahead

    @classmethod
    def discover(cls, path: str | Path = ".", *, worktrees: str | Path | None = None) -> "GitRepo":
        """Find the repository containing `path`, or explain that there is none."""
        try:
            os.getcwd()
        except FileNotFoundError:
            raise ConfigError("the current folder no longer exists (deleted, or moved away); cd into your "
                              "repository and run swarm again") from None
        if not Path(path).exists():
            raise ConfigError(f"{path} does not exist; give the path of a folder in your repository (-C PATH)")
        try:
            repo = git.Repo(path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise ConfigError(f"{Path(path).resolve()} is not inside a git repository; "
                              "run swarm from a repository (git init, then commit your files)") from None
        try:
            if repo.bare or repo.working_tree_dir is None:
                raise ConfigError(f"{Path(repo.git_dir).resolve()} is a bare repository (no working tree); "
                                  f"run swarm in a clone of it: git clone {Path(repo.git_dir).resolve()} DIR")
            return cls(Path(repo.working_tree_dir).resolve(), worktrees=worktrees)
        finally:
            repo.close()

    # -- running git ---------------------------------------------------------------------

    def git(self, *args: str, check: bool = True, input: str | None = None) -> str:
        """Run git in the repository (blocking) and return stdout without the trailing newline."""
        return self.runner.run(*args, check=check, input=input).text

    async def agit(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        """Run git in the repository without blocking the event loop; return (code, stdout, stderr)."""
        out = await self.runner.arun(*args, check=check)
        return out.code, out.stdout.decode("utf-8", "replace"), out.stderr

    def in_worktree(self, path: Path) -> GitRunner:
        """git for one of swarm's worktrees (its git dir named explicitly; the `.git` file is not read)."""
        return self.worktrees.runner(path)

    # -- refs and commits ---------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """The commit a ref names, or a clear error."""
        out = self.runner.run("rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}", check=False)
        if out.code != 0 or not out.text:
            raise SwarmError(f"cannot resolve {ref!r} to a commit in {self.root}")
        return out.text

    async def aresolve(self, ref: str) -> str:
        """`resolve` for async code."""
        out = await self.runner.arun("rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}",
                                     check=False)
        if out.code != 0 or not out.text:
            raise SwarmError(f"cannot resolve {ref!r} to a commit in {self.root}")
        return out.text

    def has_commits(self) -> bool:
        return self.git("rev-parse", "--verify", "-q", "HEAD", check=False) != ""

    def branch_exists(self, branch: str) -> bool:
        return self.git("rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False) != ""

    def branches(self, pattern: str) -> list[str]:
        out = self.git("for-each-ref", "--format=%(refname:short)", f"refs/heads/{pattern}")
        return [line for line in out.splitlines() if line]

    async def branch_head(self, branch: str) -> str | None:
        """The commit `branch` points at, or None when there is no such branch (async)."""
        out = await self.runner.arun("rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False)
        return out.text.strip() or None

    def update_branch(self, branch: str, commit: str) -> None:
        self.git("update-ref", f"refs/heads/{branch}", commit)

    async def aupdate_branch(self, branch: str, commit: str) -> None:
        """`update_branch` for async code."""
        await self.runner.arun("update-ref", f"refs/heads/{branch}", commit)

    def delete_branch(self, branch: str) -> None:
        self.git("update-ref", "-d", f"refs/heads/{branch}")

    async def merge_tree(self, ours: str, theirs: str) -> MergeResult:
        """Merge two commits in memory (no working tree, no index)."""
        out = await self.runner.arun("merge-tree", "--write-tree", "--name-only", "-z", ours, theirs, check=False)
        if out.code not in (0, 1):
            raise GitError(["merge-tree", ours, theirs], out.code, out.stderr)
        # -z output: tree NUL, conflicted names NUL..., NUL, then messages.
        head, _, messages = out.raw.partition("\0\0")
        parts = head.split("\0")
        tree, files = parts[0], [p for p in parts[1:] if p]
        if out.code == 0:
            files = []
        return MergeResult(tree=tree, clean=out.code == 0, conflicted_files=sorted(set(files)), messages=messages)

    async def trees(self, commits: list[str]) -> dict[str, str]:
        """The tree of each commit, in one git process (none for commits whose tree is known)."""
        unknown = [c for c in commits if c not in self._trees]
        if unknown:
            out = await self.runner.arun("rev-parse", *(f"{c}^{{tree}}" for c in unknown))
            self._trees.update(zip(unknown, out.text.split()))
        return {c: self._trees[c] for c in commits}

    async def is_ancestor(self, ancestor: str, commit: str) -> bool:
        out = await self.runner.arun("merge-base", "--is-ancestor", ancestor, commit, check=False)
        return out.code == 0

    async def commit_tree(self, tree: str, parents: list[str], message: str) -> str:
        args = ["commit-tree", tree, "-F", "-"]
        for parent in parents:
            args += ["-p", parent]
        return (await self.runner.arun(*args, input=message)).text.strip()

    async def diff(self, base: str, commit: str) -> str:
        """The diff between two commits (or trees), as text for the diff model (swarm.merge.diffs)."""
        ahead = self.known_diff(base, commit)
        if ahead is not None:
            return ahead
        out = await self.runner.arun("-c", "core.quotePath=true", "diff", "--no-color", "--no-ext-diff",
                                     "--no-textconv", "-M", base, commit)
        self._diffs[(base, self._trees.get(commit, commit))] = out.raw
        return out.raw

    def known_diff(self, base: str, commit: str) -> str | None:
        """`diff(base, commit)` when this process has it already (no git process), else None."""
        return self._diffs.get((base, self._trees.get(commit, commit)))

    # -- worktrees ------------------------------------------------------------------------

    @contextmanager
    def admin_lock(self) -> Iterator[None]:
        """The lock for git's administrative files (see swarm.git.worktrees)."""
        with self.worktrees.lock():
            yield

    async def add_worktree(self, path: Path, branch: str, start: str) -> None:
        """Create `branch` at `start` checked out at `path`."""
        await self.worktrees.add(path, start, branch=branch)

    async def add_detached_worktree(self, path: Path, commit: str) -> None:
        """A worktree at `commit` with no branch (integration and test checkouts)."""
        await self.worktrees.add(path, commit)

    def remove_worktree(self, path: Path) -> None:
        self.worktrees.remove(path)

    async def aremove_worktree(self, path: Path) -> None:
        await self.worktrees.aremove(path)

    @staticmethod
    def junk_pathspecs() -> list[str]:
        return list(JUNK_PATHSPECS)

    async def stage_all(self, worktree: Path) -> "Staged":
        """Stage every change in a worktree (its index then holds what a commit of it would).

        A `.git` file the agent changed is put back first; a git repository of the agent's own inside the
        worktree is left out. The returned `Staged` says both, for the commit's message.
        """
        tampered = await asyncio.to_thread(self.worktrees.restore_git_file, worktree)
        where = self.in_worktree(worktree)
        added = await where.arun("add", "-A", "--", ".", *JUNK_PATHSPECS, check=False)
        nested: list[str] = []
        if added.code != 0 or "embedded git repository" in added.stderr:
            # An agent's `git init` inside its worktree: git refuses it, or adds it as a submodule link.
            nested = embedded_repos(worktree, (await where.arun(*LIST_UNTRACKED, check=False)).raw)
            nested += re.findall(r"adding embedded git repository: (.+)", added.stderr)
            if not nested:
                raise GitError(["add", "-A"], added.code, added.stderr)
            await where.arun("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", *nested)
            await where.arun("add", "-A", "--", ".", *JUNK_PATHSPECS, *(f":(exclude,literal){n}" for n in nested))
        return Staged(tampered, nested)

    async def commit_all(self, worktree: Path, message: str) -> str | None:
        """Commit every change in a worktree; return the new commit, or None when nothing changed.

        A `.git` file the agent changed is put back first, and the commit says
        so in a `Swarm-Tamper:` trailer (the checks report it as a finding).
        """
        staged = await self.stage_all(worktree)
        where = self.in_worktree(worktree)
        # `commit` itself says when nothing is staged (one git process fewer per subtask than asking first).
        done = await where.arun("commit", "-q", "--no-verify", *(["--allow-empty"] if staged.tampered else []),
                                "-F", "-", input=staged.message(message), check=False)
        if done.code != 0:
            staged_any = await where.arun("diff", "--cached", "--quiet", check=False)
            if staged_any.code == 0:
                return None
            raise GitError(["commit"], done.code, done.stderr or done.text)
        return self._head_of(where) or (await where.arun("rev-parse", "HEAD")).text.strip()

    async def writer(self) -> ObjectWriter | None:
        """The repository's object writer (swarm.git.objects), made once; None where git must make commits."""
        if self._writer is False:
            self._writer = await object_writer(self.runner, self.common_dir)
        return self._writer

    def remember(self, commit: str, tree: str) -> None:
        """`commit`'s tree, known without asking git (swarm wrote the commit)."""
        self._trees[commit] = tree

    def remember_diff(self, base: str, tree: str, text: str) -> None:
        """The diff from `base` to `tree`, worked out ahead of the commit that will have that tree."""
        self._diffs[(base, tree)] = text

    def _head_of(self, where: GitRunner) -> str | None:
        head = self.head_ref(where)
        return head[1] if head else None

    def head_ref(self, where: GitRunner) -> tuple[str, str] | None:
        """The branch a worktree's HEAD names and its commit, read from the files git writes (no git
        process): its git dir's HEAD names a branch, whose loose ref holds the commit. None when it is not
        that simple (a detached HEAD, a packed ref)."""
        try:
            head = (Path(str(where.git_dir)) / "HEAD").read_text().strip()
            if not head.startswith("ref: refs/heads/"):
                return None
            commit = (self.common_dir / head[5:]).read_text().strip()
        except (OSError, ValueError):
            return None
        return (head[5:], commit) if re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", commit) else None

    # -- swarm's own places ----------------------------------------------------------------

    def exclude_swarm_dir(self) -> None:
        """Make sure `.swarm/` is ignored through `.git/info/exclude` (never touching .gitignore)."""
        exclude = self.common_dir / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        lines = exclude.read_text().splitlines() if exclude.exists() else []
        if ".swarm/" not in lines:
            with exclude.open("a") as handle:
                if lines and lines[-1] != "":
                    handle.write("\n")
                handle.write(".swarm/\n")

    def worktrees_home(self) -> Path:
        """Where this repository's worktrees live: outside the checkout, keyed by repo."""
        if self.worktrees_base is not None:
            base = self.worktrees_base
        else:
            cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            base = Path(cache) / "swarm" / "worktrees"
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:8]
        return base / f"{self.root.name}-{digest}"


def tracked_sizes(repo: GitRepo, commit: str) -> list[tuple[str, int]]:
    """Every tracked file of `commit` with its size in bytes."""
    files = []
    for line in repo.git("ls-tree", "-r", "-l", "--full-tree", commit).splitlines():
        meta, _, path = line.partition("\t")
        size = meta.split()[3]
        files.append((path, int(size) if size.isdigit() else 0))
    return files
