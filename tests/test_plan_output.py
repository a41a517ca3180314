"""`swarm plan -o`: an invalid plan is written for the user to fix (exit 1); `-o -` prints the plan on stdout."""

from __future__ import annotations

import json

from conftest import swarm

FILES = {"src/m0.py": "A = 0\n", "src/m1.py": "B = 1\n"}
DUPLICATE = {"subtasks": [{"id": "a", "title": "A", "instructions": "x", "files": ["src/m0.py"]},
                          {"id": "a", "title": "A again", "instructions": "y", "files": ["src/m1.py"]}]}
GOOD = {"subtasks": [{"id": "a", "title": "A", "instructions": "x", "files": ["src/m0.py"]}]}


def test_an_invalid_plan_is_written_to_the_file_with_its_errors_and_the_command(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"planner": [DUPLICATE, DUPLICATE]})
    out = tmp_path / "plan.toml"
    proc = swarm(repo, "plan", "Split it", "-o", str(out), server=server)
    assert proc.returncode == 1
    assert "duplicate" in proc.stderr.lower() and f"swarm run --plan {out}" in proc.stderr
    written = out.read_text()
    assert written.count("[[subtasks]]") == 2 and 'title = "A again"' in written and 'task = "Split it"' in written
    assert "Traceback" not in proc.stderr


def test_plan_to_stdout_with_dash(make_repo, scripted):
    repo = make_repo(FILES)
    proc = swarm(repo, "plan", "Split it", "-o", "-", server=scripted({"planner": GOOD}))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["subtasks"][0]["id"] == "a"
    assert not (repo / "-").exists()
