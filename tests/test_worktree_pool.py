"""The worktree pool: slots reused across runs keep ignored dependencies, lose untracked junk, rescue edits."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git, swarm, write_plan

POOL = {"SWARM_WORKTREE_POOL": "1"}


def _result(repo: Path) -> dict:
    # the newest run (two runs in the same second sort by their random suffix, not by time)
    latest = max((repo / ".swarm" / "runs").glob("*/result.json"), key=lambda p: p.stat().st_mtime_ns)
    return json.loads(latest.read_text())


def _pool(tmp_path: Path) -> Path:
    return next((tmp_path / "xdg-cache" / "swarm" / "worktrees").glob("repo-*/_pool"))


def test_a_slot_is_reused_across_two_runs_keeping_ignored_dependencies_and_dropping_junk(make_repo, tmp_path):
    repo = make_repo({".gitignore": "deps/\n", "app.py": "x = 1\n", "keep.txt": "base\n"})
    first = write_plan(tmp_path / "one.json", {"task": "t", "subtasks": [{
        "id": "first", "title": "install and edit",
        # an installed dependency (ignored), junk the run leaves untracked outside its change, and its edit
        "command": "mkdir -p deps && echo installed > deps/lib.txt && echo 'x = 2' > app.py && "
                   "echo local > keep.txt"}]})
    out = swarm(repo, "run", "--plan", str(first), env=POOL)
    assert out.returncode == 0, out.stdout + out.stderr
    one = _result(repo)["subtasks"][0]
    slot = _pool(tmp_path) / "slot-0"
    assert (slot / "deps" / "lib.txt").read_text() == "installed\n"
    assert git(repo, "rev-parse", one["branch"]) == one["commit"]  # the branch ends at its commit
    run_path = slot.parent.parent / _result(repo)["run_id"] / "first"
    assert not run_path.exists() and not run_path.is_symlink()  # linked to the slot only while it held it
    (slot / "junk.tmp").write_text("left behind\n")  # untracked, not ignored: must not reach the next subtask

    second = write_plan(tmp_path / "two.json", {"task": "t", "subtasks": [{
        "id": "second", "title": "look around",
        "command": "ls > seen.txt; cat deps/lib.txt >> seen.txt; cat app.py keep.txt >> seen.txt"}]})
    out = swarm(repo, "run", "--plan", str(second), env=POOL)
    assert out.returncode == 0, out.stdout + out.stderr
    two = _result(repo)["subtasks"][0]
    seen = git(repo, "show", f"{two['commit']}:seen.txt").splitlines()
    assert "junk.tmp" not in seen and "deps" in seen  # same slot: dependency kept, junk removed
    assert seen[-3:] == ["installed", "x = 1", "base"]  # at its own start commit, not the last run's edits
    assert two["files_changed"] == ["seen.txt"]
    assert sorted(p.name for p in _pool(tmp_path).iterdir() if p.is_dir()) == ["slot-0"]
    assert git(repo, "rev-parse", one["branch"]) == one["commit"]


def test_a_slot_left_dirty_by_a_killed_run_is_rescued_then_reset(make_repo, tmp_path):
    repo = make_repo({"app.py": "x = 1\n"})
    plan = write_plan(tmp_path / "one.json", {"task": "t", "subtasks": [
        {"id": "first", "title": "t", "command": "echo 'x = 5' > app.py"}]})
    assert swarm(repo, "run", "--plan", str(plan), env=POOL).returncode == 0
    run_id = _result(repo)["run_id"]
    slot = _pool(tmp_path) / "slot-0"
    # What a run killed mid-subtask leaves: the slot still on its branch, an edit not committed, the holder noted.
    admin = repo / ".git" / "worktrees" / "slot-0"
    (slot / "app.py").write_text("x = 'unsaved work'\n")
    (admin / "swarm-holder").write_text(json.dumps({"run_id": run_id, "subtask": "first", "pid": 1}))
    plan2 = write_plan(tmp_path / "two.json", {"task": "t", "subtasks": [
        {"id": "second", "title": "t", "command": "cat app.py > seen.txt"}]})
    assert swarm(repo, "run", "--plan", str(plan2), env=POOL).returncode == 0
    two = _result(repo)["subtasks"][0]
    assert two["state"] == "done", two
    assert git(repo, "show", f"{two['commit']}:seen.txt") == "x = 1"
    rescued = git(repo, "log", "--format=%H", f"refs/swarm-rescue/{run_id}")
    assert any("unsaved work" in git(repo, "show", f"{c}:app.py") for c in rescued.split()
               if c and "app.py" in git(repo, "ls-tree", "--name-only", c))

    out = swarm(repo, "clean", "--pool")
    assert out.returncode == 0 and "1 worktree(s) removed" in out.stdout
    assert not slot.exists()
    assert "slot-0" not in git(repo, "worktree", "list")


def test_a_git_repository_an_agent_makes_in_its_slot_breaks_neither_its_commit_nor_the_next_use(make_repo, tmp_path):
    repo = make_repo({"app.py": "x = 1\n"})
    plan = write_plan(tmp_path / "p1.json", {"task": "t", "subtasks": [
        {"id": "one", "title": "one", "command": "git init -q evil && echo 'x = 2' > app.py"}]})
    out = swarm(repo, "run", "--plan", str(plan), "--concurrency", "1", env=POOL)
    first = json.loads((max((repo / ".swarm" / "runs").glob("*/result.json"))).read_text())["subtasks"][0]
    assert first["state"] == "done", out.stdout + out.stderr
    assert git(repo, "show", f"{first['commit']}:app.py") == "x = 2"  # its work is committed ...
    assert "Swarm-Left-Out: evil" in git(repo, "log", "-1", "--format=%B", first["commit"])  # ... without the repo
    plan2 = write_plan(tmp_path / "p2.json", {"task": "t", "subtasks": [
        {"id": "two", "title": "two", "command": "ls > seen.txt && echo 'x = 3' > app.py"}]})
    out = swarm(repo, "run", "--plan", str(plan2), "--concurrency", "1", env=POOL)
    second = json.loads((max((repo / ".swarm" / "runs").glob("*/result.json"),
                             key=lambda p: p.stat().st_mtime_ns)).read_text())["subtasks"][0]
    assert second["state"] == "done", out.stdout + out.stderr
    assert "evil" not in git(repo, "show", f"{second['commit']}:seen.txt")  # the slot was cleaned of it


def test_clean_of_a_killed_run_never_touches_the_pool_slot_another_run_holds_now(make_repo, tmp_path):
    import asyncio
    import os

    from swarm.env.pool import WorktreePool
    from swarm.git.repo import GitRepo
    from swarm.review.clean import clean_runs
    from swarm.run.executor import LocalExecutor
    from swarm.run.records import RunRecords

    repo_path = make_repo({"app.py": "x = 1\n"})
    base = git(repo_path, "rev-parse", "HEAD")
    repo = GitRepo(repo_path)
    pool = WorktreePool(repo)

    async def take(run: str) -> tuple:
        path = repo.worktrees_home() / run / "sub"
        return path, await LocalExecutor(repo, pool=pool)._take("sub", f"swarm/{run}/sub", base, path, None)

    async def scenario() -> tuple:
        link_a, slot_a = await take("runA")
        slot_a._lock.close()  # run A is killed: the kernel frees its lock; its link and holder file stay
        slot_a._lock = None
        records = RunRecords(repo_path, "runA").create()
        records.write_json("run.json", {"run_id": "runA", "pid": 999_999_999, "base_commit": base})
        link_b, slot_b = await take("runB")  # run B, alive, now holds the same slot
        (slot_b.path / "b-work.txt").write_text("B's uncommitted edit\n")
        return link_a, slot_b

    link_a, slot_b = asyncio.run(scenario())
    assert os.path.realpath(link_a) == str(slot_b.path.resolve())
    for force in (False, True):
        clean_runs(repo, ["runA"], force=force)
        assert (slot_b.path / "b-work.txt").read_text() == "B's uncommitted edit\n"  # B's slot, B's edit: untouched
    assert git(repo_path, "for-each-ref", "refs/swarm-rescue/runA") == ""  # and not kept under A's name


def test_a_slot_given_back_with_edits_no_commit_took_is_rescued_by_its_next_holder(make_repo):
    import asyncio

    from swarm.env.pool import WorktreePool
    from swarm.git.repo import GitRepo

    repo_path = make_repo({"app.py": "x = 1\n"})
    base = git(repo_path, "rev-parse", "HEAD")
    repo = GitRepo(repo_path)
    pool = WorktreePool(repo)

    async def scenario() -> str | None:
        slot = pool.acquire()
        await slot.take("runA", "sub", "swarm/runA/sub", base)
        (slot.path / "app.py").write_text("x = 2  # an edit no commit took (the commit failed)\n")
        await slot.give_back()  # not known to be committed: it looks, and keeps the holder
        again = pool.acquire()
        await again.take("runB", "sub", "swarm/runB/sub", base)
        try:
            return again.rescued
        finally:
            await again.give_back(committed=True)

    rescued = asyncio.run(scenario())
    assert rescued == "refs/swarm-rescue/runA"
    assert "x = 2" in git(repo_path, "show", "refs/swarm-rescue/runA^1:app.py")
