"""`swarm apply` and `swarm clean`: one commit on the user's branch, refusals that change nothing, rescue refs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from conftest import git, swarm, write_plan
from swarm.cli import main

FILES = {"a.py": "def a():\n    return 1\n", "b.py": "def b():\n    return 2\n",
         "c.py": "".join(f"c{i} = {i}\n" for i in range(1, 21)), "README.md": "# readme\n\nline\n"}

THREE = [
    {"id": "alpha", "title": "Edit a", "command": "sed -i 's/return 1/return 10/' a.py"},
    {"id": "beta", "title": "Edit b", "command": "sed -i 's/return 2/return 20/' b.py && echo new > new.txt"},
    {"id": "docs", "title": "Docs", "command": "printf '# readme\\n\\nline\\n\\nMore docs.\\n' > README.md"},
]


def run_plan(repo: Path, tmp_path: Path, subtasks: list[dict] = THREE, name: str = "plan.json") -> dict:
    plan = {"task": "Bigger numbers and more docs", "subtasks": subtasks}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / name, plan)), "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def cli(repo: Path, *args: str):
    return CliRunner().invoke(main, ["-C", str(repo), *args])


def cache() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "swarm" / "worktrees"


def test_three_subtasks_one_dropped_apply_as_one_commit_then_clean_all(make_repo, tmp_path):
    repo = make_repo(FILES)
    head = git(repo, "rev-parse", "HEAD")
    run = run_plan(repo, tmp_path)
    rid = run["run_id"]
    assert cli(repo, "review", "--drop", "beta").exit_code == 0
    out = cli(repo, "apply")
    assert out.exit_code == 0, out.output
    assert f"applied {rid} to main" in out.output and "(alpha, docs)" in out.output

    # Exactly one new commit on main, holding exactly alpha's and docs' changes.
    assert git(repo, "rev-list", "--count", f"{head}..HEAD") == "1"
    assert git(repo, "rev-parse", "HEAD^") == head
    assert git(repo, "diff", "--name-only", head, "HEAD").split() == ["README.md", "a.py"]
    assert (repo / "a.py").read_text() == "def a():\n    return 10\n"
    assert (repo / "b.py").read_text() == FILES["b.py"] and not (repo / "new.txt").exists()
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("Bigger numbers and more docs")
    assert "- alpha: Edit a" in message and "- docs: Docs" in message and "- beta" not in message
    assert git(repo, "log", "-1", "--format=%an") == "Test User"  # the user's commit, not swarm's
    assert git(repo, "status", "--porcelain") == ""
    applied = json.loads((repo / ".swarm/runs" / rid / "applied.json").read_text())
    assert applied["source"] == "reviewed" and applied["commit"] == git(repo, "rev-parse", "HEAD")

    again = cli(repo, "apply")
    assert again.exit_code == 1 and "already applied" in again.output

    # Applied, so clean needs no --force; --all --force leaves no worktree nor swarm/ branch.
    cleaned = cli(repo, "clean", "--all", "--force")
    assert cleaned.exit_code == 0, cleaned.output
    assert git(repo, "branch", "--list", "swarm/*") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert not any(cache().glob("*/*"))
    assert git(repo, "for-each-ref", "refs/swarm-rescue/") == ""  # applied work needs no rescue


def test_stage_only_and_a_custom_message(make_repo, tmp_path):
    repo = make_repo(FILES)
    head = git(repo, "rev-parse", "HEAD")
    run_plan(repo, tmp_path)
    # The user's own unrelated work in progress, staged and unstaged, survives.
    (repo / "c.py").write_text(FILES["c.py"] + "mine = True\n")
    git(repo, "add", "c.py")
    (repo / "notes.txt").write_text("todo\n")
    out = cli(repo, "apply", "--stage")
    assert out.exit_code == 0, out.output
    assert "staged" in out.output
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "diff", "--cached", "--name-only").split() == ["README.md", "a.py", "b.py", "c.py", "new.txt"]
    assert (repo / "new.txt").read_text() == "new\n" and "mine = True" in (repo / "c.py").read_text()
    assert (repo / "notes.txt").exists()

    repo2 = make_repo(FILES, name="repo2")
    run_plan(repo2, tmp_path, name="plan2.json")
    out = cli(repo2, "apply", "-m", "Numbers, docs")
    assert out.exit_code == 0, out.output
    message = git(repo2, "log", "-1", "--format=%B")
    assert message.startswith("Numbers, docs\n") and "- beta: Edit b" in message


def test_apply_refuses_when_uncommitted_changes_touch_the_same_files(make_repo, tmp_path):
    repo = make_repo(FILES)
    head = git(repo, "rev-parse", "HEAD")
    run_plan(repo, tmp_path)
    (repo / "a.py").write_text("def a():\n    return 'mine'\n")
    (repo / "new.txt").write_text("an untracked file in the way\n")
    out = cli(repo, "apply")
    assert out.exit_code == 1
    assert "your uncommitted changes touch files the run changes: a.py, new.txt" in out.output
    assert "Nothing was changed" in out.output
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / "a.py").read_text() == "def a():\n    return 'mine'\n"
    assert (repo / "b.py").read_text() == FILES["b.py"]
    assert git(repo, "diff", "--cached", "--name-only") == ""


def test_apply_merges_onto_a_branch_that_moved_or_refuses_on_conflict(make_repo, tmp_path):
    repo = make_repo(FILES)
    run_plan(repo, tmp_path, [{"id": "tail", "title": "Edit the end of c",
                               "command": "sed -i 's/^c19 = 19$/c19 = 190/' c.py"}])
    # The user commits on main meanwhile: another part of the same file.
    (repo / "c.py").write_text(FILES["c.py"].replace("c2 = 2\n", "c2 = 'two'\n"))
    git(repo, "commit", "-qam", "user edit")
    moved = git(repo, "rev-parse", "HEAD")
    out = cli(repo, "apply")
    assert out.exit_code == 0, out.output
    assert git(repo, "rev-parse", "HEAD^") == moved
    text = (repo / "c.py").read_text()
    assert "c2 = 'two'" in text and "c19 = 190" in text
    assert git(repo, "status", "--porcelain") == ""

    repo2 = make_repo(FILES, name="repo2")
    run_plan(repo2, tmp_path, name="plan2.json")
    (repo2 / "a.py").write_text("def a():\n    return 'user'\n")
    git(repo2, "commit", "-qam", "user edit on the same line")
    head = git(repo2, "rev-parse", "HEAD")
    out = cli(repo2, "apply")
    assert out.exit_code == 1
    assert "conflict with the run's in: a.py" in out.output and "Nothing was changed" in out.output
    assert git(repo2, "rev-parse", "HEAD") == head
    assert git(repo2, "status", "--porcelain") == ""
    assert (repo2 / "b.py").read_text() == FILES["b.py"]  # nothing half-applied


def test_clean_refuses_unapplied_work_and_force_keeps_a_rescue_ref(make_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("SWARM_WORKTREE_POOL", "0")  # a worktree folder per subtask, kept after the run
    repo = make_repo(FILES)
    first = run_plan(repo, tmp_path)
    second = run_plan(repo, tmp_path, [{"id": "solo", "title": "Edit c", "command": "echo x >> c.py"}],
                      name="plan2.json")
    rid, other = first["run_id"], second["run_id"]
    refused = cli(repo, "clean", rid)
    assert refused.exit_code == 1
    assert f"{rid} has work not applied" in refused.output and "--force" in refused.output
    assert git(repo, "branch", "--list", f"swarm/{rid}/*") != ""

    beta = first["subtasks"][1]["commit"]
    forced = cli(repo, "clean", rid, "--force")
    assert forced.exit_code == 0, forced.output
    assert f"refs/swarm-rescue/{rid}" in forced.output
    assert git(repo, "branch", "--list", f"swarm/{rid}/*") == ""
    assert not (repo / ".swarm/runs" / rid).exists()
    # Every subtask's commit is still reachable from the rescue ref.
    for sub in first["subtasks"]:
        git(repo, "merge-base", "--is-ancestor", sub["commit"], f"refs/swarm-rescue/{rid}")
    assert git(repo, "show", f"{beta}:new.txt") == "new"
    # The other run was not touched.
    assert git(repo, "branch", "--list", f"swarm/{other}/*") != ""
    assert (next(cache().glob(f"*/{other}/solo")) / "c.py").exists()
    assert json.loads(swarm(repo, "status", other, "--json").stdout)["state"] == "done"

    # --all refuses the other's unapplied work too, unless forced.
    assert cli(repo, "clean", "--all").exit_code == 1
    assert cli(repo, "clean", "--all", "--force").exit_code == 0
    assert git(repo, "branch", "--list", "swarm/*") == ""
    assert len(git(repo, "for-each-ref", "refs/swarm-rescue/").splitlines()) == 2


def test_later_cleans_prune_old_rescue_refs_and_sweep_killed_runs(make_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("SWARM_WORKTREE_POOL", "0")  # a worktree folder per subtask, as a killed run leaves it
    repo = make_repo(FILES)
    head = git(repo, "rev-parse", "HEAD")
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    env = {**os.environ, "GIT_COMMITTER_DATE": "2000-01-01T00:00:00"}
    old = subprocess.run(["git", "commit-tree", tree, "-p", head, "-m", "swarm rescue: run old"], cwd=repo, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    git(repo, "update-ref", "refs/swarm-rescue/20000101-000000-0000", old)
    recent = git(repo, "commit-tree", tree, "-p", head, "-m", "swarm rescue: run recent")
    git(repo, "update-ref", "refs/swarm-rescue/20990101-000000-0000", recent)
    # A killed run: its worktree folder deleted by hand, another folder with no run behind it.
    run = run_plan(repo, tmp_path, [{"id": "solo", "title": "Edit c", "command": "echo x >> c.py"}])
    worktree = next(cache().glob(f"*/{run['run_id']}/solo"))
    shutil.rmtree(worktree)
    stray = worktree.parent.parent / "20990101-000000-dead" / "x"
    stray.mkdir(parents=True)

    out = cli(repo, "clean", run["run_id"], "--force")
    assert out.exit_code == 0, out.output
    assert "pruned 1 rescue ref" in out.output and "swept 1 worktree folder" in out.output
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/swarm-rescue/").split()
    assert refs == [f"refs/swarm-rescue/{run['run_id']}", "refs/swarm-rescue/20990101-000000-0000"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert not stray.exists()


def test_clean_leaves_a_running_run_alone(make_repo, tmp_path):
    repo = make_repo(FILES)
    done = run_plan(repo, tmp_path)
    assert cli(repo, "apply").exit_code == 0
    plan = {"task": "slow", "subtasks": [{"id": "slow", "title": "Slow", "command": "sleep 3; echo 'x = 0' >> c.py"}]}
    running = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan",
                                str(write_plan(tmp_path / "slow.json", plan)), "--json"],
                               cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(cache().glob("*/*/slow")):
            time.sleep(0.05)
        out = cli(repo, "clean", "--all")
        assert out.exit_code == 1
        assert f"cleaned {done['run_id']}" in out.output and "looks still running" in out.output
    finally:
        stdout, stderr = running.communicate(timeout=60)
    assert running.returncode == 0, stderr
    result = json.loads(stdout)
    assert git(repo, "show", f"{result['merged_branch']}:c.py").endswith("x = 0")
    assert not (repo / ".swarm/runs" / done["run_id"]).exists()
