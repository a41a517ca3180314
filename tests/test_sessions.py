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

from conftest import git, wait_for, swarm, swarm_process, text, tool, turn, write_plan

FILES = {"app.py": "def greet():\n    return 'hi'\n", "README.md": "# app\n"}
PLAN = {"task": "Greet loudly", "subtasks": [
    {"id": "greet", "title": "Loud greeting", "instructions": "Make greet() return 'HI'.", "files": ["app.py"]},
    {"id": "notes", "title": "Notes", "instructions": "Write NOTES.md.", "files": ["NOTES.md"]}]}
EDIT = tool("edit", file_path="app.py", old_string="'hi'", new_string="'HI'")


def _start(repo: Path, server, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test-secret-key-123456"}
    return subprocess.Popen([sys.executable, "-m", "swarm", *args], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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
        wait_for(lambda: any(r["key"] == "greet" and r["turn"] == 1 for r in server.requests)
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


def _killed_run(repo: Path, scripted, tmp_path: Path) -> tuple[str, Path]:
    """A run killed with kill -9 while `slow` holds an uncommitted edit and `quick` has finished (committed)."""
    server = scripted({"workers": {
        "quick": [turn(tool("write", file_path="quick.txt", content="quick\n")), turn(text("Wrote quick.txt."))],
        "slow": [turn(tool("write", file_path="edit.txt", content="only here\n")), turn(text("never sent"), delay=60)]}})
    plan = write_plan(tmp_path / "plan.json", {"task": "Edit", "subtasks": [
        {"id": "quick", "instructions": "Write quick.txt."}, {"id": "slow", "instructions": "Edit."}]})
    proc = _start(repo, server, "run", "--plan", str(plan))
    worktrees = tmp_path / "xdg-cache" / "swarm" / "worktrees"
    try:
        wait_for(lambda: any(worktrees.rglob("edit.txt")) and (runs := list((repo / ".swarm/runs").glob("*")))
                  and '"state": "done"' in (runs[0] / "events.jsonl").read_text())
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    [rid] = [p.name for p in (repo / ".swarm/runs").iterdir()]
    return rid, worktrees


def test_clean_refuses_a_killed_resumable_run_and_force_keeps_its_work_at_a_rescue_ref(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    rid, worktrees = _killed_run(repo, scripted, tmp_path)
    assert json.loads(swarm(repo, "status", "--json").stdout)["state"] == "interrupted"
    quick = git(repo, "rev-parse", f"swarm/{rid}/quick")

    refused = swarm(repo, "clean", rid)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert f"swarm resume {rid}" in said and "--force" in said, said
    assert any(worktrees.rglob("edit.txt")) and git(repo, "rev-parse", f"swarm/{rid}/quick") == quick
    assert (repo / ".swarm/runs" / rid).is_dir()

    forced = swarm(repo, "clean", rid, "--force")
    assert forced.returncode == 0, forced.stderr
    assert not any(worktrees.rglob("edit.txt")) and not git(repo, "branch", "--list", f"swarm/{rid}/*")
    ref = f"refs/swarm-rescue/{rid}"
    kept = git(repo, "log", "--format=%H", ref).split()
    assert quick in kept  # the finished subtask's commit
    edits = [c for c in git(repo, "rev-list", ref).split() if "edit.txt" in git(repo, "ls-tree", "--name-only", c)]
    assert edits and git(repo, "show", f"{edits[0]}:edit.txt") == "only here"
    assert git(repo, "status", "--porcelain") == "" and git(repo, "log", "--format=%s") == "initial"


def test_show_after_resume_and_continue_reads_the_sessions_in_order_and_counts_every_tool_call(make_repo, scripted):
    repo = make_repo(FILES)
    rid, _ = _interrupted_planned_run(repo, scripted)
    server = scripted({"workers": {"greet": [
        turn(tool("read", file_path="app.py")), turn(text("Done: greet() returns 'HI'.")),
        turn()]}})  # the follow-up's answer has no text: its summary is told from the tool calls
    assert swarm(repo, "resume", rid, server=server).returncode == 0
    done = swarm(repo, "continue", "greet", "Check it once more.", "--json", server=server)
    assert done.returncode == 0, done.stderr
    shown = swarm(repo, "show", "greet").stdout
    lines = shown.splitlines()

    def at(needle: str) -> int:
        return next(i for i, line in enumerate(lines) if needle in line)

    # One header per session, in the order they ran, each before its own turns.
    s1, s2, s3 = at("session 1:"), at("session 2: started again"), at("session 3: follow-up: Check it once more.")
    assert s1 < at("turn 1") < at("edit app.py") < s2 < at("turn 2") < at("read app.py") < at("turn 3") < s3 \
        < at("turn 4"), shown
    assert "Loud greeting" in lines[s1] and not any("follow-up" in line for line in lines[:s3])
    # The footer's account of the work: every session's calls (an edit, a read), not "no tool calls".
    footer = shown[shown.index("summary"):]
    assert "no tool calls" not in footer and "changed app.py" in footer and "1 read or search call" in footer, footer
