"""Bad input exits 2 with one line saying what to do; surprising repository states are notes, not errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import git, swarm, text, turn, write_plan

PLAN = {"task": "T", "subtasks": [{"id": "one", "instructions": "Do it."}]}


def _one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_plan_that_is_not_utf8(make_repo, tmp_path):
    repo = make_repo({"a.py": "x = 1\n"})
    plan = tmp_path / "plan.json"
    plan.write_bytes(json.dumps(PLAN).replace("Do it.", "Caf\xe9").encode("latin-1"))
    _one_line_error(swarm(repo, "run", "--plan", str(plan)), "not UTF-8", "save it as UTF-8")


@pytest.mark.parametrize("name", ["plan.yaml", "plan.txt", "plan"])
def test_plan_with_an_unknown_extension(make_repo, tmp_path, name):
    repo = make_repo({"a.py": "x = 1\n"})
    plan = write_plan(tmp_path / name, PLAN)
    _one_line_error(swarm(repo, "run", "--plan", str(plan)), ".json or .toml")


def test_not_a_git_repository(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    _one_line_error(swarm(folder, "run", "--plan", str(write_plan(tmp_path / "p.json", PLAN))),
                    "not inside a git repository")


def test_bare_repository(make_repo, tmp_path):
    source = make_repo({"a.py": "x = 1\n"})
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(bare))
    _one_line_error(swarm(bare, "run", "--plan", str(write_plan(tmp_path / "p.json", PLAN))),
                    "bare repository", "git clone")


@pytest.mark.parametrize("kind", ["file", "under-a-file"])
def test_worktrees_setting_that_is_not_a_writable_folder(make_repo, tmp_path, kind):
    repo = make_repo({"a.py": "x = 1\n"})
    target = tmp_path / "not-a-folder"
    target.write_text("a file\n")
    value = target if kind == "file" else target / "below"
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", PLAN)),
                 env={"SWARM_WORKTREES": str(value)})
    _one_line_error(proc, "worktrees", "SWARM_WORKTREES")


def test_notes_for_uncommitted_changes_submodules_and_a_detached_head(make_repo, scripted, tmp_path):
    lib = make_repo({"lib.py": "y = 2\n"}, name="lib")
    repo = make_repo({"a.py": "x = 1\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-q", "-m", "add a submodule")
    git(repo, "checkout", "-q", "--detach")
    Path(repo / "a.py").write_text("x = 'not committed'\n")
    server = scripted({"workers": {"one": [turn(text("Nothing to do."))]}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", PLAN)), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    assert any("uncommitted change" in n and "left out of the run" in n for n in notes), proc.stderr
    assert any("vendor/lib" in n and "left empty" in n for n in notes), proc.stderr
    assert any("HEAD is detached" in n for n in notes), proc.stderr
    assert (repo / "a.py").read_text() == "x = 'not committed'\n"
