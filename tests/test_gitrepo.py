"""The git wrapper: concurrent worktree creation and the in-memory merge."""

from __future__ import annotations

import asyncio

from conftest import git
from swarm.git.repo import GitRepo
from swarm.merge.fold import fold


def test_many_worktrees_created_at_once(make_repo, tmp_path):
    repo_path = make_repo({f"f{i}.txt": f"{i}\n" for i in range(50)})
    repo = GitRepo(repo_path)
    base = repo.resolve("HEAD")
    home = tmp_path / "wt"

    async def add_all() -> None:
        await asyncio.gather(*(repo.add_worktree(home / f"w{i}", f"swarm/t/w{i}", base) for i in range(24)))

    asyncio.run(add_all())
    listed = git(repo_path, "worktree", "list", "--porcelain")
    assert listed.count("worktree ") == 25
    for i in range(24):
        assert (home / f"w{i}" / "f49.txt").read_text() == "49\n"
        assert git(home / f"w{i}", "status", "--porcelain") == ""
    assert len(repo.branches("swarm/t/*")) == 24


def test_fold_merges_in_order_and_reports_conflicts(make_repo, tmp_path):
    repo_path = make_repo({"a.txt": "1\n2\n3\n", "b.txt": "x\n"})
    repo = GitRepo(repo_path)
    base = repo.resolve("HEAD")

    def branch(name: str, path: str, content: str) -> str:
        git(repo_path, "checkout", "-q", "-b", name, base)
        (repo_path / path).write_text(content)
        git(repo_path, "commit", "-qam", name)
        sha = git(repo_path, "rev-parse", "HEAD")
        git(repo_path, "checkout", "-q", "main")
        return sha

    one = branch("one", "a.txt", "one\n2\n3\n")
    two = branch("two", "b.txt", "y\n")
    three = branch("three", "a.txt", "three\n2\n3\n")
    result = asyncio.run(fold(repo, base, [("one", one), ("two", two), ("three", three)],
                              {"one": ["a.txt"], "two": ["b.txt"], "three": ["a.txt"]}))
    assert result.merged == ["one", "two"]
    assert [c.to_dict() for c in result.conflicts] == [
        {"file": "a.txt", "subtasks": ["one", "three"], "resolved": False}]
    assert git(repo_path, "show", f"{result.commit}:a.txt") == "one\n2\n3"
    assert git(repo_path, "show", f"{result.commit}:b.txt") == "y"
    # Nothing touched the checkout.
    assert git(repo_path, "status", "--porcelain") == ""


def test_diffs_with_spaces_and_non_ascii_paths(make_repo):
    from swarm.merge.diffs import parse_diff

    repo_path = make_repo({"a b/u.py": "x\n", "é.py": "y\n" * 5})
    repo = GitRepo(repo_path)
    base = repo.resolve("HEAD")
    (repo_path / "a b/u.py").write_text("x\nz\n")
    git(repo_path, "mv", "é.py", "ü x.py")
    (repo_path / "new file.txt").write_text("n\n")
    git(repo_path, "add", "-A")
    git(repo_path, "commit", "-qm", "change")
    files = parse_diff(asyncio.run(repo.diff(base, repo.resolve("HEAD"))))
    summary = sorted((f["path"], f["status"], f["source_path"]) for f in files)
    assert summary == [("a b/u.py", "modified", "a b/u.py"), ("new file.txt", "added", None),
                       ("ü x.py", "renamed", "é.py")]


def test_a_cancelled_git_command_runs_to_its_end_before_the_cancellation_goes_on(tmp_path, monkeypatch):
    """A checkout cut short leaves index.lock behind, and a pool slot could be given back while git
    still writes in it: cancelling arun waits for git to end."""
    import asyncio
    import os

    from swarm.git.runner import GitRunner

    fake = tmp_path / "bin"
    fake.mkdir()
    done = tmp_path / "git-finished"
    (fake / "git").write_text(f"#!/bin/sh\nsleep 1\ntouch {done}\n")
    (fake / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")

    async def scenario() -> bool:
        task = asyncio.create_task(GitRunner(tmp_path).arun("checkout", "-q", "-f", "HEAD"))
        await asyncio.sleep(0.2)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return done.exists()
        return False

    assert asyncio.run(scenario()) is True


def test_children_are_reaped_without_a_thread_each_and_still_when_pidfds_run_out(monkeypatch):
    import asyncio
    import os
    import threading

    from swarm.env.reaper import LoopPidfdWatcher, use_pidfd_reaper

    if not use_pidfd_reaper():
        import pytest

        pytest.skip("pidfds are not available here (Python 3.12+ reaps children this way itself)")

    async def scenario() -> tuple[int, int, int]:
        before = threading.active_count()
        codes = await asyncio.gather(*[(await asyncio.create_subprocess_exec("sh", "-c", f"exit {i}")).wait()
                                       for i in range(5)])
        threads = threading.active_count() - before
        monkeypatch.setattr(os, "pidfd_open", lambda pid: (_ for _ in ()).throw(OSError(24, "Too many open files")))
        fallback = await asyncio.wait_for((await asyncio.create_subprocess_exec("sh", "-c", "exit 7")).wait(), 10)
        return sum(codes), threads, fallback

    assert isinstance(asyncio.get_child_watcher(), LoopPidfdWatcher)
    assert asyncio.run(scenario()) == (10, 0, 7)
