"""`swarm runs` and `swarm show`: past runs listed newest first, one agent's transcript for a person."""

from __future__ import annotations

import json
import time

from conftest import swarm, text, tool, turn, write_plan

FILES = {"app.py": "def greet():\n    return 'hi'\n", "README.md": "# app\n"}


def test_runs_lists_runs_newest_first_with_state_cost_and_applied(make_repo, tmp_path):
    repo = make_repo(FILES)
    first = {"task": "First task", "subtasks": [{"id": "one", "title": "One", "command": "echo 1 > one.txt"}]}
    second = {"task": "Second task, much longer than the table's task column so that it must be shortened "
                      "when shown in the list of runs",
              "subtasks": [{"id": "a", "title": "A", "command": "echo a > a.txt"},
                           {"id": "b", "title": "B", "command": "exit 3"}]}
    ids = []
    for name, plan in (("first.json", first), ("second.json", second)):
        proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / name, plan)), "--json")
        assert proc.returncode in (0, 1), proc.stderr
        ids.append(json.loads(proc.stdout)["run_id"])
        time.sleep(1.1)  # run ids sort by the second they started
    assert swarm(repo, "apply", ids[0]).returncode == 0

    listed = json.loads(swarm(repo, "runs", "--json").stdout)
    assert [r["run_id"] for r in listed] == [ids[1], ids[0]]
    newest, oldest = listed
    assert newest["state"] == "failed" and newest["subtasks"] == 2 and newest["done"] == 1
    assert newest["applied"] is False
    assert oldest["state"] == "done" and oldest["applied"] is True and oldest["task"] == "First task"

    table = swarm(repo, "runs")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["run", "task", "state", "age", "subtasks", "in/out", "cached", "cost", "applied"]
    assert lines[1].startswith(ids[1]) and lines[2].startswith(ids[0])
    assert "…" in lines[1] and "1/2" in lines[1] and lines[1].rstrip().endswith("no")
    assert "1/1" in lines[2] and lines[2].rstrip().endswith("yes")


def test_runs_in_a_repository_without_runs_says_how_to_start(make_repo):
    repo = make_repo(FILES)
    proc = swarm(repo, "runs")
    assert proc.returncode == 0
    assert "no runs" in proc.stdout and "swarm run" in proc.stdout


def test_show_prints_the_transcript_tools_results_and_summary(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "Greet loudly", "subtasks": [{"id": "greet", "title": "Loud greeting",
                                                  "instructions": "Make greet() return 'HI'.", "files": ["app.py"]}]}
    script = {"workers": {"greet": [
        turn(text("Reading app.py first."), tool("read", file_path="app.py")),
        turn(tool("edit", file_path="app.py", old_string="'hi'", new_string="'HI'")),
        turn(tool("read", file_path="missing.py")),
        turn(text("greet() now returns 'HI'.\x1b[31m")),
    ]}}
    server = scripted(script)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]

    for args in (("show", "greet"), ("show", run_id[:15], "greet")):
        shown = swarm(repo, *args)
        assert shown.returncode == 0, shown.stderr
        out = shown.stdout
        assert "subtask greet" in out and "Loud greeting" in out
        assert "Reading app.py first." in out
        assert "read app.py" in out and "edit app.py" in out
        assert "def greet" in out  # the read's result, shortened
        assert "✗" in out and "missing.py" in out  # the failed read is marked as an error
        assert "greet() now returns 'HI'." in out  # the final text, as the summary
        assert "files changed (1): app.py" in out
        assert "\x1b" not in out  # the agent's escape sequence is shown, not sent

    wrong = swarm(repo, "show", "nope")
    assert wrong.returncode == 2
    assert "no subtask 'nope'" in wrong.stderr and "greet" in wrong.stderr
    assert "Traceback" not in wrong.stderr
