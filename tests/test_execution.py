"""Planning and execution control: the planner, fork-join, failure policies, rate limits, budgets, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import git, swarm, swarm_process, text, tool, turn, write_plan

FILES = {f"src/m{i}.py": f"VALUE_{i} = {i}\n" + "x = 1\n" * (i * 20) for i in range(6)}
FILES["README.md"] = "# demo repo\n\nUses `VALUE_1` everywhere.\n"


def writer(path: str, content: str, delay: float = 0.0, turns: int = 1) -> list:
    steps = [turn(tool("write", file_path=path, content=content), delay=delay)]
    steps += [turn(tool("read", file_path=path), delay=delay) for _ in range(turns - 1)]
    return steps + [turn(text(f"Wrote {path}."), delay=delay)]


def run_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def test_planned_run_with_a_dependency(make_repo, scripted):
    repo = make_repo(FILES)
    plan = {"shared": "Constants are upper case.", "test_command": "true", "subtasks": [
        {"id": "a", "title": "A", "instructions": "Write a.txt", "files": ["a.txt"]},
        {"id": "b", "title": "B", "instructions": "Write b.txt", "files": ["b.txt"]},
        {"id": "c", "title": "C", "instructions": "Combine", "files": ["c.txt"], "depends_on": ["a", "b"]}]}
    server = scripted({"planner": plan, "delay": 0.2, "workers": {
        "a": writer("a.txt", "A\n"), "b": writer("b.txt", "B\n"),
        "c": [turn(tool("bash", command="cat a.txt b.txt > c.txt")), turn(text("Combined."))]}})
    proc = swarm(repo, "run", "Rename VALUE_1 to FIRST_VALUE and combine the files", "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = run_json(proc)
    planner = [r for r in server.requests if r["role"] == "planner"]
    assert len(planner) == 1
    body = planner[0]["body"]
    assert "tool_choice" not in body  # offered, never forced: the current model refuses forced tool use
    assert [t["name"] for t in body["tools"]] == ["submit_plan"]
    prompt = body["messages"][0]["content"]
    assert "src/m5.py" in prompt and "# demo repo" in prompt and "VALUE_1" in prompt and "README.md:3" in prompt
    ends = {r["key"]: r["end"] for r in server.requests if r["role"] == "worker"}
    c_start = min(r["start"] for r in server.requests if r["key"] == "c")
    assert c_start > max(ends["a"], ends["b"])
    assert git(repo, "show", f"{result['merged_branch']}:c.txt") == "A\nB"
    saved = json.loads((repo / ".swarm/runs" / result["run_id"] / "plan.json").read_text())
    assert saved["task"].startswith("Rename VALUE_1") and saved["shared"] == "Constants are upper case."
    assert result["timings"]["plan"] > 0


def test_invalid_plan_gets_one_repair_round(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    cyclic = {"subtasks": [{"id": "a", "title": "A", "instructions": "x", "depends_on": ["b"]},
                           {"id": "b", "title": "B", "instructions": "y", "depends_on": ["a"]}]}
    overlapping = {"subtasks": [{"id": "a", "title": "A", "instructions": "x", "files": ["src/**"]},
                                {"id": "b", "title": "B", "instructions": "y", "files": ["src/m1.py"]}]}
    good = {"subtasks": [{"id": "a", "title": "A", "instructions": "x", "files": ["src/m0.py"]},
                         {"id": "b", "title": "B", "instructions": "y", "files": ["src/m1.py"]}]}
    server = scripted({"planner": [cyclic, good]})
    proc = swarm(repo, "plan", "Split the work", "-o", str(tmp_path / "plan.toml"), server=server)
    assert proc.returncode == 0, proc.stderr
    rounds = [r["body"] for r in server.requests if r["role"] == "planner"]
    assert len(rounds) == 2
    feedback = rounds[1]["messages"][-1]["content"][0]
    assert feedback["is_error"] is True and "dependency cycle" in feedback["content"]
    written = (tmp_path / "plan.toml").read_text()
    assert "[[subtasks]]" in written and 'files = ["src/m0.py"]' in written

    server = scripted({"planner": [overlapping, overlapping]})
    proc = swarm(repo, "plan", "Split the work", "-o", str(tmp_path / "bad.json"), server=server)
    assert proc.returncode == 1
    assert "both claim src/m1.py" in proc.stderr and "after one repair round" in proc.stderr
    # Written all the same, for the user to fix, with the command to run once fixed.
    assert json.loads((tmp_path / "bad.json").read_text())["subtasks"][0]["files"] == ["src/**"]
    assert f"swarm run --plan {tmp_path / 'bad.json'}" in proc.stderr


def test_edited_plan_file_runs_and_dry_run_estimates(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = {"subtasks": [{"id": "one", "title": "One", "instructions": "Write one.txt", "files": ["one.txt"]}]}
    server = scripted({"planner": plan, "workers": {"one": writer("one.txt", "1\n"),
                                                    "two": writer("two.txt", "2\n")}})
    assert swarm(repo, "plan", "Write files", "-o", str(tmp_path / "plan.json"), server=server).returncode == 0
    edited = json.loads((tmp_path / "plan.json").read_text())
    edited["subtasks"].append({"id": "two", "title": "Two", "instructions": "Write two.txt", "files": ["two.txt"]})
    write_plan(tmp_path / "plan.json", edited)

    dry = swarm(repo, "run", "--plan", str(tmp_path / "plan.json"), "--dry-run", server=server)
    assert dry.returncode == 0, dry.stderr
    assert "estimate (rough): 2 agent(s)" in dry.stdout and "model calls" in dry.stdout and "$" in dry.stdout
    assert not (repo / ".swarm").exists()

    result = run_json(swarm(repo, "run", "--plan", str(tmp_path / "plan.json"), "--json", server=server))
    assert [s["id"] for s in result["subtasks"]] == ["one", "two"] and result["state"] == "done"


def test_each_splits_files_into_balanced_chunks(make_repo, scripted):
    repo = make_repo(FILES)
    server = scripted({"workers": {f"chunk-{k}": [turn(text(f"chunk {k} done"))] for k in (1, 2)}})
    proc = swarm(repo, "run", "Add a module docstring", "--each", "src/*.py", "--chunks", "2", "--json",
                 server=server)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((repo / ".swarm/runs" / run_json(proc)["run_id"] / "plan.json").read_text())
    groups = [s["files"] for s in plan["subtasks"]]
    assert sorted(sum(groups, [])) == sorted(p for p in FILES if p.startswith("src/"))
    sizes = [sum(len(FILES[p]) for p in g) for g in groups]
    assert max(sizes) / min(sizes) < 1.5
    first = [r["body"] for r in server.requests if r["turn"] == 0][0]["messages"][0]["content"][0]["text"]
    assert "Apply this to exactly these files" in first


def test_fail_fast_cancels_keeps_work_and_skips_dependents(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "t", "subtasks": [
        {"id": "boom", "command": "sleep 1.5; exit 1"},
        {"id": "slow", "instructions": "slow work", "files": ["slow.txt"]},
        {"id": "after", "instructions": "later", "depends_on": ["slow"]}]}
    server = scripted({"workers": {"slow": writer("slow.txt", "partial\n", delay=0.6, turns=8)}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", plan)), "--on-failure", "fail-fast",
                 "--json", server=server)
    assert proc.returncode == 1
    result = run_json(proc)
    states = {s["id"]: s for s in result["subtasks"]}
    assert states["boom"]["state"] == "failed"
    assert states["slow"]["state"] == "cancelled"
    assert states["after"]["state"] == "skipped" and "slow" in states["after"]["error"]
    # The cancelled agent's work so far is a commit on its branch.
    assert git(repo, "show", f"{states['slow']['branch']}:slow.txt") == "partial"
    assert "work in progress" in git(repo, "log", "-1", "--format=%s", states["slow"]["branch"])
    assert result["state"] == "failed"


def test_best_effort_skips_dependents_and_retry_reruns(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "t", "subtasks": [
        {"id": "bad", "instructions": "fails", "files": ["bad.txt"]},
        {"id": "good", "instructions": "works", "files": ["good.txt"]},
        {"id": "child", "instructions": "needs bad", "depends_on": ["bad"]}]}
    script = {"workers": {"bad": writer("bad.txt", "bad\n"), "good": writer("good.txt", "good\n")}}
    server = scripted(script)
    server.inject(400, subtask="bad")
    result = run_json(swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", plan)), "--json",
                            server=server))
    states = {s["id"]: s for s in result["subtasks"]}
    assert states["bad"]["state"] == "failed" and "400" in states["bad"]["error"]
    assert states["good"]["merged"] and states["child"]["state"] == "skipped"
    assert "dependency bad did not finish" in states["child"]["error"]

    server = scripted(script)
    server.inject(400, subtask="bad")
    result = run_json(swarm(repo, "run", "--plan", str(tmp_path / "p.json"), "--on-failure", "retry",
                            "--retries", "1", "--json", server=server))
    states = {s["id"]: s for s in result["subtasks"]}
    assert states["bad"]["state"] == "done" and states["bad"]["attempts"] == 2 and states["bad"]["merged"]
    assert states["child"]["state"] == "done"


def test_rate_limits_slow_down_and_every_subtask_completes(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    ids = [f"w{i}" for i in range(6)]
    plan = {"task": "t", "subtasks": [{"id": i, "instructions": "work", "files": [f"{i}.txt"]} for i in ids]}
    server = scripted({"workers": {i: writer(f"{i}.txt", f"{i}\n", delay=0.3, turns=5) for i in ids}})
    server.inject(0, subtask="w2", count=2)  # dropped connections
    run = _start_run(repo, write_plan(tmp_path / "p.json", plan), server, "--concurrency", "6")
    deadline = time.monotonic() + 30
    while len([r for r in server.requests if r["status"] == 200]) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    # The first wave is through at full width; now the endpoint pushes back.
    server.inject(429, count=2, retry_after=0.5)
    server.inject(529, count=2)
    out, err = run.communicate(timeout=90)
    proc = subprocess.CompletedProcess(run.args, run.returncode, out, err)
    assert proc.returncode == 0, proc.stderr
    result = run_json(proc)
    assert all(s["state"] == "done" and s["merged"] for s in result["subtasks"])
    requests = server.requests
    statuses = [r["status"] for r in requests]
    assert statuses.count(429) == 2 and statuses.count(529) == 2
    first_429 = min(r["end"] for r in requests if r["status"] == 429)
    before = max(r["in_flight"] for r in requests if r["start"] < first_429)
    after = max(r["in_flight"] for r in requests if r["start"] > first_429 + 0.5)
    assert before >= 4 and after < before
    events = (repo / ".swarm/runs" / result["run_id"] / "events.jsonl").read_text()
    assert '"throttle"' in events


def test_budget_stop_is_resumable_and_not_exceeded(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    ids = ["b0", "b1", "b2"]
    plan = {"task": "t", "subtasks": [{"id": i, "instructions": "work", "files": [f"{i}.txt"]} for i in ids]}
    script = {"workers": {i: writer(f"{i}.txt", f"{i}\n", delay=0.1, turns=4) for i in ids}}
    server = scripted(script)
    plan_path = write_plan(tmp_path / "p.json", plan)
    # claude-sonnet-5-5 costs 2/3 of the old sonnet prefix price: the same ceiling, in its money.
    proc = swarm(repo, "run", "--plan", str(plan_path), "--max-cost", "0.033", "--json", server=server)
    assert proc.returncode == 3, proc.stderr
    result = run_json(proc)
    assert result["state"] == "interrupted" and "cost ceiling" in result["stop_reason"]
    per_call = max(json.loads(line)["usage"]["cost_usd"] for line in
                   (repo / ".swarm/runs" / result["run_id"] / "events.jsonl").read_text().splitlines()
                   if '"turn"' in line)
    assert result["usage"]["cost_usd"] <= 0.033 + per_call
    assert "swarm resume" in proc.stderr

    resumed = swarm(repo, "resume", result["run_id"], "--max-cost", "5", "--json", server=server)
    assert resumed.returncode == 0, resumed.stderr
    final = run_json(resumed)
    assert final["state"] == "done" and all(s["merged"] for s in final["subtasks"])
    for i in ids:
        assert git(repo, "show", f"{final['merged_branch']}:{i}.txt") == i


def _start_run(repo: Path, plan_path: Path, server, *args: str) -> subprocess.Popen:
    env = dict(os.environ, ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="sk-test")
    return subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan", str(plan_path), "--json", *args],
                            cwd=repo,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_progress(repo: Path, server, done: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list((repo / ".swarm/runs").glob("*/events.jsonl"))
        if events and events[0].read_text().count('"state": "done"') >= done:
            return
        time.sleep(0.05)
    raise AssertionError("the run made no progress")


def _interrupt_then_resume(make_repo, scripted, tmp_path, sig: int) -> None:
    repo = make_repo(FILES)
    plan = {"task": "t", "subtasks": [
        {"id": "quick", "instructions": "fast", "files": ["quick.txt"]},
        *({"id": f"slow{i}", "instructions": "slow", "files": [f"slow{i}.txt"]} for i in range(3))]}
    script = {"workers": {"quick": writer("quick.txt", "q\n"),
                          **{f"slow{i}": writer(f"slow{i}.txt", f"{i}\n", delay=0.4, turns=6) for i in range(3)}}}
    server = scripted(script)
    proc = _start_run(repo, write_plan(tmp_path / "p.json", plan), server)
    _wait_for_progress(repo, server, done=1)
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    run_dir = next((repo / ".swarm/runs").iterdir())
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        result = json.loads(out)
        assert result["state"] == "interrupted"
        assert {s["id"]: s["state"] for s in result["subtasks"]}["slow0"] == "cancelled"
        assert f"swarm resume {run_dir.name}" in err
    else:
        assert proc.returncode == -signal.SIGKILL
        assert not (run_dir / "result.json").exists()
    quick_requests = len([r for r in server.requests if r["key"] == "quick"])
    resumed = swarm(repo, "resume", server=server, env={})
    assert resumed.returncode == 0, resumed.stderr
    assert "1 of 4 subtasks kept" in resumed.stderr
    final = json.loads((run_dir / "result.json").read_text())
    assert final["state"] == "done" and all(s["merged"] for s in final["subtasks"])
    # The finished subtask was kept, not run again.
    assert len([r for r in server.requests if r["key"] == "quick"]) == quick_requests
    for i in range(3):
        assert git(repo, "show", f"{final['merged_branch']}:slow{i}.txt") == str(i)


def test_sigint_then_resume(make_repo, scripted, tmp_path):
    _interrupt_then_resume(make_repo, scripted, tmp_path, signal.SIGINT)


def test_sigkill_then_resume(make_repo, scripted, tmp_path):
    _interrupt_then_resume(make_repo, scripted, tmp_path, signal.SIGKILL)


def test_price_table_is_overridable_in_config(make_repo, scripted, tmp_path):
    repo = make_repo({**FILES, "pyproject.toml": '[tool.swarm]\nprices = {"claude-sonnet-5" = [20.0, 100.0]}\n'})
    plan = {"task": "t", "subtasks": [{"id": "one", "instructions": "work", "files": ["one.txt"]}]}
    server = scripted({"workers": {"one": writer("one.txt", "1\n")}})
    plan_path = write_plan(tmp_path / "p.json", plan)
    # Subprocesses: the price table is still a module dict the settings change, which would outlive a run
    # made in this process.
    expensive = run_json(swarm_process(repo, "run", "--plan", str(plan_path), "--json", server=server))
    (repo / "pyproject.toml").unlink()
    git(repo, "commit", "-qam", "no prices")
    server = scripted({"workers": {"one": writer("one.txt", "1\n")}})  # a fresh cache, as in the first run
    cheap = run_json(swarm_process(repo, "run", "--plan", str(plan_path), "--json", server=server))
    ratio = expensive["usage"]["cost_usd"] / cheap["usage"]["cost_usd"]
    assert 9 < ratio < 11
    shown = swarm(repo, "config", env={"SWARM_PRICES": "claude-opus=1:2"})
    assert "prices" in shown.stdout and "SWARM_PRICES" in shown.stdout


def test_a_defect_inside_a_subtask_fails_it_loudly_instead_of_vanishing(make_repo, scripted, tmp_path, monkeypatch):
    import swarm.run.coordinator as coordinator

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in swarm")

    monkeypatch.setattr(coordinator, "first_message", broken)
    repo = make_repo(FILES)
    plan = {"task": "t", "subtasks": [{"id": "one", "instructions": "work", "files": ["one.txt"]},
                                      {"id": "two", "title": "cmd", "command": "echo two > two.txt"}]}
    server = scripted({"workers": {"one": writer("one.txt", "one\n")}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", plan)), "--json", server=server)
    assert proc.returncode == 1, proc.stderr
    states = {s["id"]: s for s in json.loads(proc.stdout)["subtasks"]}
    assert states["one"]["state"] == "failed" and "internal error: RuntimeError: a bug in swarm" in states["one"]["error"]
    assert states["two"]["state"] == "done" and states["two"]["merged"]
