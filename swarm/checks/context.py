"""What every check reads: file contents at commits, trees, and who touched what.

Contents come from one long-lived `git cat-file --batch` process (a single
process answers thousands of reads far faster than one `git show` each);
whole trees come from one `git ls-tree -r` per commit, cached. Nothing is
checked out. Python modules are parsed once per blob, so a module that is
the same in the base and the merged tree costs one parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from swarm.errors import GitError
from swarm.git.objects import ObjectReader as Blobs
from swarm.git.repo import GitRepo
from swarm.merge.fold import Conflict
from swarm.checks.model import SubtaskChange
from swarm.checks.pysource import ModuleInfo, parse_module


@dataclass
class Tree:
    """The files of one commit: path -> blob id, and the folders they make."""

    commit: str
    files: dict[str, str]
    dirs: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for path in self.files:
            parts = path.split("/")[:-1]
            for i in range(len(parts)):
                self.dirs.add("/".join(parts[: i + 1]))

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs


class CheckContext:
    """The inputs of one check pass and cached reads of the repository."""

    def __init__(self, repo: GitRepo, *, base: str, merged: str, changes: list[SubtaskChange],
                 conflicts: Iterable[Conflict] = ()) -> None:
        self.repo = repo
        self.base = base
        self.merged = merged
        self.changes = changes
        self.conflicts = list(conflicts)
        self.order = {c.id: i for i, c in enumerate(changes)}
        self._paths = {c.id: c.paths() for c in changes}
        self._blobs: Blobs | None = None
        self._trees: dict[str, Tree] = {}
        self._modules: dict[str, ModuleInfo] = {}
        self._texts: dict[str, str | None] = {}

    def close(self) -> None:
        """End the `git cat-file` process."""
        if self._blobs is not None:
            self._blobs.close()

    # -- git reads ---------------------------------------------------------------------

    def git(self, *args: str, check: bool = True) -> str:
        """Run git in the repository (paths printed as they are, not quoted)."""
        return self.repo.git("-c", "core.quotePath=false", *args, check=check)

    def messages(self, start: str, commit: str, limit: int = 64) -> list[str]:
        """The messages of the commits in `start..commit`, newest first: read through the `cat-file` process
        while the history is a line of commits back to `start` (a subtask's branch), else by `git log`."""
        found, at = [], commit
        while at != start and len(found) < limit:
            obj = self.blobs.object(at)
            if obj is None or obj[0] != "commit":
                break
            head, _, message = obj[1].decode("utf-8", errors="replace").partition("\n\n")
            parents = [line[7:] for line in head.splitlines() if line.startswith("parent ")]
            found.append(message)
            if len(parents) != 1:
                break
            at = parents[0]
        if at == start:
            return found
        log = self.git("log", "--format=%B%x00", f"{start}..{commit}", check=False)
        return [m.strip("\n") for m in log.split("\0") if m.strip()]

    def tree(self, commit: str) -> Tree:
        """Every file of `commit` (one `ls-tree` per commit, cached)."""
        if commit not in self._trees:
            out = self.git("ls-tree", "-r", "-z", "--full-tree", commit)
            files: dict[str, str] = {}
            for entry in out.split("\0"):
                meta, _, path = entry.partition("\t")
                parts = meta.split()
                if len(parts) == 3 and parts[1] == "blob":
                    files[path] = parts[2]
            self._trees[commit] = Tree(commit, files)
        return self._trees[commit]

    def text(self, commit: str, path: str) -> str | None:
        """The text of `path` at `commit` (None when absent)."""
        tree = self._trees.get(commit) or (self.tree(commit) if commit in (self.base, self.merged) else None)
        if tree is not None and path not in tree.files:
            return None
        spec = tree.files[path] if tree is not None else f"{commit}:{path}"
        if spec not in self._texts:
            data = self.blobs.read(spec)
            self._texts[spec] = None if data is None else data.decode("utf-8", errors="replace")
        return self._texts[spec]

    @property
    def blobs(self) -> Blobs:
        if self._blobs is None:
            self._blobs = Blobs(self.repo.runner)
        return self._blobs

    def module(self, commit: str, path: str, refs: bool = False) -> ModuleInfo | None:
        """The parsed Python module at `path` in `commit` (None when absent), cached per content.

        Say `refs=True` when its references will be needed: they are then collected in the same parse.
        """
        source = self.text(commit, path)
        if source is None:
            return None
        key = f"{hash(source)}:{len(source)}:{path}"
        if key not in self._modules:
            self._modules[key] = parse_module(source, path, refs=refs)
        return self._modules[key]

    def grep(self, commit: str, words: Iterable[str], globs: list[str], *, whole_words: bool = True) -> list[str]:
        """Files of `commit` (matching `globs`) that contain any of `words`: one `git grep`."""
        words = sorted(set(words))
        if not words:
            return []
        args = ["grep", "-l", "-I", "-F", "--full-name"]
        if whole_words:
            args.append("-w")
        for word in words:
            args += ["-e", word]
        out = self.git(*args, commit, "--", *globs, check=False)  # exit 1: nothing found
        prefix = commit + ":"
        return sorted({line[len(prefix):] if line.startswith(prefix) else line for line in out.splitlines()})

    def is_ancestor(self, ancestor: str, commit: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", ancestor, commit)
        except GitError:  # exit 1: not an ancestor
            return False
        return True

    # -- who touched what -----------------------------------------------------------------

    def change(self, sid: str) -> SubtaskChange:
        """The subtask with id `sid`."""
        for c in self.changes:
            if c.id == sid:
                return c
        raise KeyError(sid)

    def touchers(self, path: str) -> list[str]:
        """Subtasks whose change touches `path` (either side of a rename), in plan order."""
        return [c.id for c in self.changes if path in self._paths[c.id]]

    def sort_ids(self, ids: Iterable[str]) -> list[str]:
        """Subtask ids without repeats, in plan order."""
        return sorted(set(ids), key=lambda s: (self.order.get(s, len(self.order)), s))

    def merged_paths(self) -> dict[str, str]:
        """Every path some subtask left in the merged tree -> its path in the base (renames followed)."""
        tree = self.tree(self.merged)
        out: dict[str, str] = {}
        for c in self.changes:
            for f in c.changed:
                if f["status"] != "removed" and f["path"] in tree.files:
                    out.setdefault(f["path"], c.source_of(f["path"]) if f["status"] == "renamed" else f["path"])
        return out
