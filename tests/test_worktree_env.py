"""Worktrees as development environments: the recipe (setup, copy, link, env, ports) and Python shadowing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import EDITABLE_PYPROJECT, git, swarm, write_plan



def _result(repo: Path) -> dict:
    # the newest run (two runs in the same second sort by their random suffix, not by time)
    latest = max((repo / ".swarm" / "runs").glob("*/result.json"), key=lambda p: p.stat().st_mtime_ns)
    return json.loads(latest.read_text())


@pytest.fixture
def editable(make_repo, tmp_path) -> tuple[Path, str]:
    """A src-layout package with a test, installed editable in a venv that can run pytest; PATH for that venv."""
    repo = make_repo({"pyproject.toml": EDITABLE_PYPROJECT, "src/shadowpkg/__init__.py": "def value():\n    return 1\n",
                      "tests/test_value.py": "import shadowpkg\n\n\ndef test_value():\n    assert shadowpkg.value() == 1\n"})
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    # pytest comes from swarm's own environment; the package is installed editable the way setuptools' lenient
    # mode does it for a src layout (a path .pth, no registry needed here).
    (site / "_dev.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (site / "__editable__.shadowpkg-0.1.pth").write_text(f"{repo / 'src'}\n")
    return repo, f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"


def test_a_subtask_that_breaks_an_editable_package_is_a_test_regression(editable, tmp_path):
    repo, path = editable
    plan = write_plan(tmp_path / "plan.json", {
        "task": "break it", "test_command": "python -m pytest -q tests",
        "subtasks": [{"id": "breaker", "title": "Break value",
                      "command": "sed -i 's/return 1/return 2/' src/shadowpkg/__init__.py"}]})
    out = swarm(repo, "run", "--plan", str(plan), "--sandbox", "off", env={"PATH": path})
    assert "tests use python" in out.stderr + out.stdout and "shadowed by each worktree's src/" in out.stderr + out.stdout
    findings = [f for f in _result(repo)["findings"] if f["kind"] == "test"]
    assert findings and findings[0]["subtasks"] == ["breaker"], _result(repo)["findings"]
    assert "tests/test_value.py" in findings[0]["files"]
    # swarm test on the run's merged branch tests that branch's code too, not the user's checkout.
    merged = swarm(repo, "test", "--run", _result(repo)["run_id"], "--shards", "1", "--", "python", "-m", "pytest",
                   "-q", "tests", env={"PATH": path})
    assert merged.returncode == 1, merged.stdout + merged.stderr
    assert swarm(repo, "test", "--shards", "1", "--", "python", "-m", "pytest", "-q", "tests",
                 env={"PATH": path}).returncode == 0


RECIPE = """
[tool.swarm.worktree]
setup = ["echo \\"set up $SWARM_SUBTASK\\" > setup-ran.txt",
         "(echo nope > vendor/x) 2>/dev/null || echo vendor-read-only >> setup-ran.txt"]
copy = [".env.local"]
link = ["vendor"]
env = { APP_MODE = "test" }
"""


def test_setup_copy_link_env_and_distinct_ports_for_three_concurrent_subtasks(make_repo, tmp_path):
    repo = make_repo({"pyproject.toml": RECIPE, ".gitignore": ".env.local\nvendor/\nsetup-ran.txt\n", "app.py": "x = 1\n"})
    (repo / ".env.local").write_text("SECRET_URL=local\n")
    (repo / "vendor").mkdir()
    (repo / "vendor" / "lib.js").write_text("lib\n")
    probe = ("cat setup-ran.txt .env.local vendor/lib.js > seen.txt; "
             "echo \"$APP_MODE $SWARM_SUBTASK $SWARM_PORT $SWARM_WORKTREE\" >> seen.txt; "
             "sleep 1")
    ids = ["one", "two", "three"]
    plan = write_plan(tmp_path / "plan.json", {"task": "probe", "subtasks": [
        {"id": i, "title": i, "command": probe.replace("seen.txt", f"seen-{i}.txt"),
         "files": [f"seen-{i}.txt"]} for i in ids]})
    out = swarm(repo, "run", "--plan", str(plan), "--concurrency", "3")
    assert out.returncode == 0, out.stdout + out.stderr
    result = _result(repo)
    ports, wheres = set(), set()
    for sub in result["subtasks"]:
        seen = git(repo, "show", f"{sub['commit']}:seen-{sub['id']}.txt").splitlines()
        sandboxed = os.environ.get("SWARM_SANDBOX") != "off"
        # setup runs sandboxed: the linked folder is read-only there
        assert seen[:-1] == [f"set up {sub['id']}", *(["vendor-read-only"] if sandboxed else []), "SECRET_URL=local",
                             "lib"]
        mode, sid, port, where = seen[-1].split()
        assert (mode, sid) == ("test", sub["id"])
        ports.add(int(port))
        wheres.add(where)
        # only the subtask's output is its change: copied, linked and set-up files stay out of the diff
        assert sub["files_changed"] == [f"seen-{sub['id']}.txt"]
    assert len(wheres) == 3  # three slots of the pool, one per subtask in flight
    assert len(ports) == 3 and min(abs(a - b) for a in ports for b in ports if a != b) >= 10
    assert not (repo / "vendor" / "x").exists()
    log = (repo / ".swarm" / "runs" / result["run_id"] / "setup" / "one.log").read_text()
    assert "echo" in log and "[exit 0]" in log


def test_a_failing_setup_is_the_subtasks_error_with_its_output(make_repo, tmp_path):
    repo = make_repo({"pyproject.toml": '[tool.swarm.worktree]\nsetup = ["echo cannot-install-deps; exit 3"]\n'})
    plan = write_plan(tmp_path / "plan.json", {"task": "t", "subtasks": [
        {"id": "solo", "title": "solo", "command": "echo hi > hi.txt"}]})
    out = swarm(repo, "run", "--plan", str(plan))
    assert out.returncode == 1
    sub = _result(repo)["subtasks"][0]
    assert sub["state"] == "failed" and "exited 3" in sub["error"] and "cannot-install-deps" in sub["error"]


def test_a_symlink_an_agent_leaves_in_a_pooled_slot_never_makes_copy_write_outside(make_repo, tmp_path):
    """Ignored files survive in a pool slot; swarm's `copy` (run with the user's rights, outside any sandbox)
    must not follow a symlink an earlier agent planted there to write the user's files elsewhere."""
    recipe = '[tool.swarm.worktree]\ncopy = [".env.local", "conf/*.local"]\n'
    repo = make_repo({"pyproject.toml": recipe, ".gitignore": ".env.local\nconf/\n", "app.py": "x = 1\n"})
    (repo / ".env.local").write_text("SECRET_URL=local\n")
    (repo / "conf").mkdir()
    (repo / "conf" / "app.local").write_text("DB=local\n")
    victim, victim_dir = tmp_path / "victim.txt", tmp_path / "victim-dir"
    victim.write_text("the user's own file\n")
    victim_dir.mkdir()
    plant = f"rm -rf .env.local conf && ln -s {victim} .env.local && ln -s {victim_dir} conf && echo 1 > planted.txt"
    first = write_plan(tmp_path / "first.json", {"task": "plant", "subtasks": [
        {"id": "plant", "title": "plant", "command": plant, "files": ["planted.txt"]}]})
    planted = swarm(repo, "run", "--plan", str(first), "--concurrency", "1")
    assert _result(repo)["subtasks"][0]["state"] == "done", planted.stdout + planted.stderr
    probe = "cat .env.local conf/app.local > seen.txt; test ! -L .env.local && test ! -L conf && echo real >> seen.txt"
    second = write_plan(tmp_path / "second.json", {"task": "probe", "subtasks": [
        {"id": "probe", "title": "probe", "command": probe, "files": ["seen.txt"]}]})
    out = swarm(repo, "run", "--plan", str(second), "--concurrency", "1")
    assert _result(repo)["subtasks"][0]["state"] == "done", out.stdout + out.stderr
    assert victim.read_text() == "the user's own file\n" and list(victim_dir.iterdir()) == []
    sub = _result(repo)["subtasks"][0]
    assert git(repo, "show", f"{sub['commit']}:seen.txt").splitlines() == ["SECRET_URL=local", "DB=local", "real"]
