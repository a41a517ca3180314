"""A run over several sessions (`swarm run`, Ctrl-C or kill -9, `swarm resume`, `swarm continue`): its cost is
everything spent in all of them, `--max-cost` counts it, `swarm clean` keeps a resumable run's work, and
`swarm show` reads the sessions in order."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import git, swarm, swarm_process, text, tool, turn, write_plan

FILES = {"app.py": "def greet():\n    return 'hi'\n", "README.md": "# app\n"}
PLAN = {"task": "Greet loudly", "subtasks": [
    {"id": "greet", "title": "Loud greeting", "instructions": "Make greet() return 'HI'.", "files": ["app.py"]},
    {"id": "notes", "title": "Notes", "instructions": "Write NOTES.md.", "files": ["NOTES.md"]}]}
EDIT = tool("edit", file_path="app.py", old_string="'hi'", new_string="'HI'")


def _start(repo: Path, server, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test-secret-key-123456"}
    return subprocess.Popen([sys.executable, "-m", "swarm", *args], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def _events(repo: Path, rid: str) -> list[dict]:
    path = repo / ".swarm/runs" / rid / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _turn_costs_by_session(repo: Path, rid: str) -> list[float]:
    """Each session's agents' turn costs, from events.jsonl (a session starts at its `run running` event)."""
    costs: list[float] = []
    for event in _events(repo, rid):
        if event["type"] == "run" and event.get("state") == "running":
            costs.append(0.0)
        elif event["type"] == "turn":
            costs[-1] += event["usage"]["cost_usd"]
    return costs


def _interrupted_planned_run(repo: Path, scripted) -> tuple[str, dict]:
    """`swarm run TASK` planned by the model, Ctrl-C while `greet` waits on its second turn (`notes` done)."""
    server = scripted({"planner": PLAN, "workers": {
        "greet": [turn(text("Editing."), EDIT), turn(text("never sent"), delay=60)],
        "notes": [turn(tool("write", file_path="NOTES.md", content="notes\n")), turn(text("Wrote NOTES.md."))]}})
    proc = _start(repo, server, "run", "Greet loudly", "--json")
    try:
        _wait_for(lambda: any(r["key"] == "greet" and r["turn"] == 1 for r in server.requests)
                  and sum(1 for r in server.requests if r["key"] == "notes") >= 2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    before = json.loads(out)
    assert before["state"] == "interrupted" and before["planner_usage"]["cost_usd"] > 0
    return before["run_id"], before


def test_cost_after_resume_is_every_sessions_spend_planner_included(make_repo, scripted):
    repo = make_repo(FILES)
    rid, before = _interrupted_planned_run(repo, scripted)
    planner = before["planner_usage"]["cost_usd"]
    assert before["usage"]["cost_usd"] == pytest.approx(planner + _turn_costs_by_session(repo, rid)[0], abs=1e-5)

    server = scripted({"workers": {"greet": [turn(text("Done: greet() returns 'HI'."))]}})
    resumed = swarm(repo, "resume", rid, "--json", server=server)
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    sessions = _turn_costs_by_session(repo, rid)
    assert len(sessions) == 2 and sessions[1] > 0
    # Everything: the planner and the interrupted session (both subtasks' turns), plus the resumed one.
    assert after["usage"]["cost_usd"] == pytest.approx(before["usage"]["cost_usd"] + sessions[1], abs=1e-5)
    assert after["planner_usage"] == before["planner_usage"]
    assert [s["kind"] for s in after["usage_by_session"]] == ["run", "resume"]
    assert sum(s["usage"]["cost_usd"] for s in after["usage_by_session"]) == \
        pytest.approx(after["usage"]["cost_usd"], abs=1e-5)
    # A subtask's cost is its every attempt: greet's interrupted first turn counts with its resumed one.
    greet = next(s for s in after["subtasks"] if s["id"] == "greet")
    greet_turns = sum(e["usage"]["cost_usd"] for e in _events(repo, rid) if e["type"] == "turn"
                      and e.get("subtask") == "greet")
    assert greet["usage"]["cost_usd"] == pytest.approx(greet_turns, abs=1e-5)
    notes_before = next(s for s in before["subtasks"] if s["id"] == "notes")["usage"]["cost_usd"]
    assert next(s for s in after["subtasks"] if s["id"] == "notes")["usage"]["cost_usd"] == \
        pytest.approx(notes_before, abs=1e-6)

    # Every place that shows the run's cost shows the same total.
    total = f"${after['usage']['cost_usd']:.4f}"
    [listed] = json.loads(swarm(repo, "runs", "--json").stdout)
    assert listed["cost_usd"] == pytest.approx(after["usage"]["cost_usd"], abs=1e-6)
    assert total in swarm(repo, "runs").stdout
    status = json.loads(swarm(repo, "status", "--json").stdout)
    assert status["usage"]["cost_usd"] == pytest.approx(after["usage"]["cost_usd"], abs=1e-6)
    shown = swarm(repo, "status").stdout
    assert total in shown and f"${planner:.4f}" in shown  # the planner's row is still there


def test_cost_after_continue_adds_the_follow_up_to_everything_before(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"planner": PLAN, "workers": {
        "greet": [turn(text("Editing."), EDIT), turn(text("greet() returns 'HI'.")), turn(text("Checked again."))],
        "notes": [turn(tool("write", file_path="NOTES.md", content="notes\n")), turn(text("Wrote NOTES.md."))]}})
    first = swarm(repo, "run", "Greet loudly", "--json", server=server)
    assert first.returncode == 0, first.stderr
    before = json.loads(first.stdout)
    done = swarm(repo, "continue", "greet", "Check it again.", "--json", server=server)
    assert done.returncode == 0, done.stderr
    after = json.loads(done.stdout)
    sessions = _turn_costs_by_session(repo, before["run_id"])
    assert len(sessions) == 2 and sessions[1] > 0
    assert after["usage"]["cost_usd"] == pytest.approx(before["usage"]["cost_usd"] + sessions[1], abs=1e-5)
    assert after["usage"]["cost_usd"] > before["usage"]["cost_usd"]
    assert [s["kind"] for s in after["usage_by_session"]] == ["run", "continue"]
    [listed] = json.loads(swarm(repo, "runs", "--json").stdout)
    assert listed["cost_usd"] == pytest.approx(after["usage"]["cost_usd"], abs=1e-6)


NOTES = "Keep the formatting exactly as the project has it. " * 300
COSTLY_PLAN = {"task": "Write a.txt", "subtasks": [
    {"id": "a", "title": "Write a", "instructions": "Write a.txt", "files": ["a.txt"]},
    {"id": "fmt", "title": "Format", "instructions": NOTES, "command": "true", "depends_on": ["a"]}]}


def test_max_cost_on_resume_counts_what_earlier_sessions_spent(make_repo, scripted):
    repo = make_repo({"README.md": "# r\n"})
    server = scripted({"planner": COSTLY_PLAN, "workers": {"a": [
        turn(tool("write", file_path="a.txt", content="A\n")), turn(text("Wrote a.txt."))]}})
    first = swarm_process(repo, "run", "Write a.txt", "--max-cost", "0.02", server=server)
    assert first.returncode == 3, first.stderr  # the planner alone spent more than $0.02
    rid = re.search(r"swarm resume (\S+) --max-cost", first.stderr).group(1)
    spent = json.loads((repo / ".swarm/runs" / rid / "result.json").read_text())["usage"]["cost_usd"]
    assert spent > 0.02
    # The same ceiling again: what the planner spent still counts, so no agent call goes out.
    again = swarm_process(repo, "resume", rid, "--max-cost", "0.02", server=server)
    assert again.returncode == 3, again.stderr
    assert not [r for r in server.requests if r["role"] == "worker"]
    line = re.search(r"spent \$([\d.]+) of --max-cost \$0\.02", again.stderr)
    assert line and float(line.group(1)) == round(spent, 4), again.stderr
    raised = swarm_process(repo, "resume", rid, "--max-cost", "5", "--json", server=server)
    assert raised.returncode == 0, raised.stderr
    assert json.loads(raised.stdout)["usage"]["cost_usd"] > spent
