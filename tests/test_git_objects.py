"""Objects swarm writes itself (commits, merged trees) and the staged commit at an agent's end.

Each is checked against what git makes of the same input: the same trees, the
same history shape, `git fsck --strict` clean, and git taking over wherever
the shortcut would not be exactly what git does.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from conftest import git
from swarm.checks.context import CheckContext
from swarm.checks.names import _patch_lines, diff_lines
from swarm.git.objects import clean_message
from swarm.git.repo import GitRepo
from swarm.git.snapshot import Snapshots
from swarm.merge.disjoint import branch_changes, disjoint
from swarm.merge.fold import fold


def branch(repo_path: Path, name: str, base: str, edits: dict[str, str | None], *, mode: str | None = None) -> str:
    """A branch `name` from `base` with `edits` (path -> text, None deletes) in one commit."""
    git(repo_path, "checkout", "-q", "-b", name, base)
    for path, content in edits.items():
        target = repo_path / path
        if content is None:
            target.unlink()
        elif content.startswith("->"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(content[2:])
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            if mode == "x":
                target.chmod(0o755)
    git(repo_path, "add", "-A")
    git(repo_path, "commit", "-q", "-m", name)
    sha = git(repo_path, "rev-parse", "HEAD")
    git(repo_path, "checkout", "-q", "main")
    return sha


def shape(repo_path: Path, commit: str) -> list[tuple[int, str]]:
    """The history from `commit`: each commit's number of parents and subject, newest first."""
    out = git(repo_path, "log", "--format=%P%x00%s", commit)
    return [(len(p.split()), s) for p, s in (line.split("\0") for line in out.splitlines())]


def test_a_commit_swarm_writes_is_the_commit_git_would_write(make_repo):
    repo_path = make_repo({"a.txt": "a\n"})
    repo = GitRepo(repo_path)
    writer = asyncio.run(repo.writer())
    assert writer is not None
    head = repo.resolve("HEAD")
    tree = git(repo_path, "rev-parse", "HEAD^{tree}")
    message = "  \n\nswarm(s1): title   \n\n\n\nbody line \t\nlast\n\n\n"
    commit = writer.commit(tree, [head], message)
    assert git(repo_path, "cat-file", "-t", commit) == "commit"
    shown = git(repo_path, "cat-file", "-p", commit)
    assert f"tree {tree}\nparent {head}\n" in shown
    assert "author swarm <swarm@localhost> " in shown and "committer swarm <swarm@localhost> " in shown
    stripped = subprocess.run(["git", "stripspace"], input=message, capture_output=True, text=True).stdout
    assert clean_message(message) == stripped
    assert git(repo_path, "log", "-1", "--format=%B", commit) == stripped.strip()
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo_path, check=True, capture_output=True)
    # Written again, the same object: the one there stays, nothing breaks.
    stored = repo_path / ".git" / "objects" / commit[:2] / commit[2:]
    before = stored.stat().st_mtime_ns
    body = subprocess.run(["git", "cat-file", "commit", commit], cwd=repo_path, capture_output=True).stdout
    assert writer.write("commit", body) == commit and stored.stat().st_mtime_ns == before


def test_a_repository_git_must_commit_in_gets_no_writer(make_repo, tmp_path):
    for setting in (("core.sharedRepository", "group"), ("i18n.commitEncoding", "ISO-8859-1")):
        repo_path = make_repo({"a.txt": "a\n"}, name=f"repo-{setting[0]}")
        git(repo_path, "config", *setting)
        assert asyncio.run(GitRepo(repo_path).writer()) is None, setting
    sha256 = tmp_path / "sha256"
    sha256.mkdir()
    git(sha256, "init", "-q", "--object-format=sha256", "-b", "main")
    (sha256 / "a.txt").write_text("a\n")
    git(sha256, "add", "-A")
    git(sha256, "commit", "-q", "-m", "a")
    assert asyncio.run(GitRepo(sha256).writer()) is None


def _fold_both_ways(repo_path: Path, base: str, branches: list[tuple[str, str]]):
    fast_repo, git_repo = GitRepo(repo_path), GitRepo(repo_path)
    git_repo._writer = None  # no writer: every merge through `git merge-tree`, every commit through git
    fast = asyncio.run(fold(fast_repo, base, branches, label="swarm t"))
    slow = asyncio.run(fold(git_repo, base, branches, label="swarm t"))
    return fast, slow


def test_the_fold_of_subtasks_on_different_files_is_the_fold_git_makes(make_repo):
    repo_path = make_repo({"pkg/a.py": "A = 1\n", "pkg/sub/b.py": "B = 2\n", "docs/x.md": "x\n", "top.txt": "t\n"})
    base = git(repo_path, "rev-parse", "HEAD")
    branches = [
        ("s1", branch(repo_path, "s1", base, {"pkg/a.py": "A = 10\n"})),
        ("s2", branch(repo_path, "s2", base, {"new/deep/er/c.py": "C = 3\n"})),
        ("s3", branch(repo_path, "s3", base, {"pkg/sub/run.sh": "#!/bin/sh\n"}, mode="x")),
        ("s4", branch(repo_path, "s4", base, {"docs/link": "->x.md", "docs/é ü.md": "ü\n"})),
        ("s5", base),  # changed nothing
        ("s6", branch(repo_path, "s6", base, {"pkg/sub/b.py": "B = 20\n", "top.txt": "t2\n"})),
    ]
    repo = GitRepo(repo_path)
    changes = branch_changes(repo.runner, base, [c for _, c in branches if c != base])
    assert changes is not None and disjoint(list(changes.values()))
    fast, slow = _fold_both_ways(repo_path, base, branches)
    assert fast.merged == slow.merged == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert fast.conflicts == slow.conflicts == []
    assert fast.commit != slow.commit  # written at another moment: the trees and the history must agree
    assert git(repo_path, "rev-parse", f"{fast.commit}^{{tree}}") == git(repo_path, "rev-parse", f"{slow.commit}^{{tree}}")
    assert shape(repo_path, fast.commit) == shape(repo_path, slow.commit)
    assert git(repo_path, "rev-parse", f"{fast.commit}^2") == branches[-1][1]
    assert git(repo_path, "ls-tree", "-r", fast.commit, "pkg/sub/run.sh").startswith("100755 ")
    assert git(repo_path, "ls-tree", "-r", fast.commit, "docs/link").startswith("120000 ")
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo_path, check=True, capture_output=True)


def test_the_fold_leaves_deletions_shared_paths_and_folder_clashes_to_git(make_repo):
    repo_path = make_repo({"pkg/a.py": "A = 1\n", "pkg/b.py": "B = 1\n", "c.txt": "c\n"})
    base = git(repo_path, "rev-parse", "HEAD")
    cases = {
        "a deletion": [("d1", branch(repo_path, "d1", base, {"pkg/b.py": None})),
                       ("d2", branch(repo_path, "d2", base, {"pkg/new.py": "N = 1\n"}))],
        "one file twice": [("o1", branch(repo_path, "o1", base, {"c.txt": "one\n"})),
                           ("o2", branch(repo_path, "o2", base, {"c.txt": "two\n"}))],
        "a file where a folder goes": [("f1", branch(repo_path, "f1", base, {"x": "file\n"})),
                                       ("f2", branch(repo_path, "f2", base, {"x/y.txt": "in a folder\n"}))],
    }
    repo = GitRepo(repo_path)
    for name, branches in cases.items():
        changes = branch_changes(repo.runner, base, [c for _, c in branches])
        assert changes is not None and not disjoint([changes[c] for _, c in branches]), name
        fast, slow = _fold_both_ways(repo_path, base, branches)
        assert fast.merged == slow.merged, name
        assert [c.to_dict() for c in fast.conflicts] == [c.to_dict() for c in slow.conflicts], name
        assert git(repo_path, "rev-parse", f"{fast.commit}^{{tree}}") == \
            git(repo_path, "rev-parse", f"{slow.commit}^{{tree}}"), name
    assert fast.conflicts  # the folder clash is one, as git says


def _worktree(repo_path: Path, tmp_path: Path) -> tuple[GitRepo, Path, str]:
    repo = GitRepo(repo_path)
    base = repo.resolve("HEAD")
    where = tmp_path / "wt"
    asyncio.run(repo.worktrees.add(where, base, branch="swarm/t/s1"))
    return repo, where, base


def test_a_worktree_staged_while_its_agent_waits_is_committed_as_it_was(make_repo, tmp_path):
    repo_path = make_repo({"a.txt": "a\n", "keep.txt": "k\n"})
    repo, where, base = _worktree(repo_path, tmp_path)

    async def scenario() -> tuple[str | None, Snapshots]:
        snaps = Snapshots(repo, where, base, delay=0.05)

        async def write() -> None:
            (where / "a.txt").write_text("changed\n")
            (where / "new dir").mkdir()
            (where / "new dir" / "n.txt").write_text("n\n")

        await snaps.call("write", write)
        await asyncio.sleep(0.5)  # the agent waits for its next reply: the worktree is staged meanwhile
        assert snaps._snapshot is not None and snaps._snapshot.generation == snaps.generation
        await snaps.call("read", lambda: asyncio.sleep(0))  # reading changes nothing: still good
        return await snaps.commit("swarm(s1): one\n\nwhat it did"), snaps

    commit, snaps = asyncio.run(scenario())
    assert commit == git(repo_path, "rev-parse", "swarm/t/s1")
    assert git(repo_path, "rev-parse", f"{commit}^") == base
    assert git(repo_path, "show", f"{commit}:a.txt") == "changed"
    assert git(repo_path, "show", f"{commit}:new dir/n.txt") == "n"
    assert git(repo_path, "log", "-1", "--format=%B", commit) == "swarm(s1): one\n\nwhat it did"
    assert git(where, "status", "--porcelain") == ""  # the worktree's index is that commit
    # The diff was worked out while the agent waited, and it is git's diff of the commit.
    known = repo.known_diff(base, commit)
    assert known is not None and known == asyncio.run(GitRepo(repo_path).diff(base, commit))


def test_a_change_after_the_staging_is_never_lost(make_repo, tmp_path):
    repo_path = make_repo({"a.txt": "a\n"})
    repo, where, base = _worktree(repo_path, tmp_path)

    async def scenario(trusted: bool) -> str | None:
        snaps = Snapshots(repo, where, base, delay=0.05, trusted=lambda: trusted)

        async def write(text: str) -> None:
            (where / "a.txt").write_text(text)

        await snaps.call("write", lambda: write("first\n"))
        await asyncio.sleep(0.4)
        assert snaps._snapshot is not None
        # A later write through a tool makes the staged state stale: the commit reads the worktree again.
        await snaps.call("edit", lambda: write("second\n"))
        await snaps.call("bash", lambda: asyncio.sleep(0))
        await asyncio.sleep(0.4)  # staged again, after the shell ran
        # A shell's job that outlived its call (possible only unconfined) writes after the staging.
        (where / "late.txt").write_text("late\n")
        return await snaps.commit("swarm(s1): t")

    commit = asyncio.run(scenario(trusted=False))
    assert git(repo_path, "show", f"{commit}:a.txt") == "second"
    assert git(repo_path, "show", f"{commit}:late.txt") == "late"


def test_the_names_check_reads_the_same_lines_from_the_runs_diff(make_repo):
    repo_path = make_repo({"pkg/old_name.py": "def fetch_user():\n    return 1\n" * 3, "é.py": "x = 1\n",
                           "gone.py": "def retired():\n    pass\n", "keep.py": "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n"})
    base = git(repo_path, "rev-parse", "HEAD")
    git(repo_path, "mv", "pkg/old_name.py", "pkg/new_name.py")
    (repo_path / "pkg" / "new_name.py").write_text("def load_user():\n    return 1\n" + "def fetch_user():\n"
                                                  "    return 1\n" * 2)
    (repo_path / "é.py").write_text("x = 2\ny = load_user()\n")
    (repo_path / "gone.py").unlink()
    (repo_path / "keep.py").write_text("a = 1\nb = 20\nc = 3\nd = 4\ne = 50\n")
    git(repo_path, "add", "-A")
    git(repo_path, "commit", "-q", "-m", "change")
    commit = git(repo_path, "rev-parse", "HEAD")
    repo = GitRepo(repo_path)
    ctx = CheckContext(repo, base=base, merged=commit, changes=[])
    from_git = diff_lines(ctx, base, commit)  # nothing known yet: `git diff -U0`
    text = asyncio.run(repo.diff(base, commit))  # what a run keeps from each subtask's commit
    assert repo.known_diff(base, commit) == text
    from_run = _patch_lines(text)
    assert from_run.added == from_git.added and from_run.removed == from_git.removed
    assert from_run.added["é.py"] == ["x = 2", "y = load_user()"]
    assert from_run.removed["gone.py"] == ["def retired():", "    pass"]


def test_the_tamper_check_reads_a_branchs_messages_without_git_log(make_repo):
    repo_path = make_repo({"a.txt": "a\n"})
    base = git(repo_path, "rev-parse", "HEAD")
    for i in range(3):
        (repo_path / "a.txt").write_text(f"{i}\n")
        git(repo_path, "commit", "-qam", f"step {i}\n\nSwarm-Tamper: t{i}")
    tip = git(repo_path, "rev-parse", "HEAD")
    ctx = CheckContext(GitRepo(repo_path), base=base, merged=tip, changes=[])
    try:
        walked = ctx.messages(base, tip)
        logged = [m.strip("\n") for m in git(repo_path, "log", "--format=%B%x00", f"{base}..{tip}").split("\0")
                  if m.strip()]
        assert [m.strip("\n") for m in walked] == logged and len(walked) == 3
        # A merge in the way: git log answers, the same way.
        git(repo_path, "checkout", "-q", "-b", "side", base)
        (repo_path / "b.txt").write_text("b\n")
        git(repo_path, "add", "-A")
        git(repo_path, "commit", "-qm", "side")
        git(repo_path, "checkout", "-q", "main")
        git(repo_path, "merge", "-q", "--no-edit", "side")
        merged = git(repo_path, "rev-parse", "HEAD")
        assert len(ctx.messages(base, merged)) == 5
    finally:
        ctx.close()


def test_a_worktree_given_back_is_never_staged_after(make_repo, tmp_path):
    repo_path = make_repo({"a.txt": "a\n"})
    repo, where, base = _worktree(repo_path, tmp_path)

    async def scenario() -> Snapshots:
        snaps = Snapshots(repo, where, base, delay=0.05)

        async def write() -> None:
            (where / "a.txt").write_text("b\n")

        await snaps.call("write", write)
        await snaps.stop()  # given back to the pool: another subtask may take the slot now
        await asyncio.sleep(0.3)
        return snaps

    snaps = asyncio.run(scenario())
    assert snaps._snapshot is None and snaps._running is None
    assert git(where, "diff", "--cached", "--name-only") == ""  # nothing staged in the slot behind its back
