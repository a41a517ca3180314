"""The sandbox (mode auto, bubblewrap) seen from inside an agent's shell, and the bounds on what a tool costs.

Sandbox tests skip with the reason bubblewrap gives where the machine refuses it; the bounds tests run in
mode `off` too, since they hold with or without a sandbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import git, swarm, text, tool, turn, write_plan
from swarm.agent.tools import Toolbox
from swarm.env.allowlist import tool_env
from swarm.env.sandbox import bwrap_problem

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no sandbox here: {bwrap_problem()}")


def call(box: Toolbox, command: str, **inputs):
    return asyncio.run(box.call("bash", {"command": command, **inputs}))


@pytest.fixture
def worktree(make_repo, tmp_path, monkeypatch) -> Path:
    """A real linked worktree of a real repository, where swarm puts worktrees."""
    monkeypatch.setenv("SWARM_SANDBOX", "auto")
    repo = make_repo({"a.py": "x = 1\n"})
    path = tmp_path / "xdg-cache" / "swarm" / "worktrees" / "repo-1" / "run" / "one"
    path.parent.mkdir(parents=True)
    git(repo, "worktree", "add", "-q", "-b", "swarm/run/one", str(path))
    return path


@needs_bwrap
def test_git_metadata_is_read_only_inside_the_sandbox(worktree):
    box = Toolbox(worktree, tool_env())
    before = (worktree / ".git").read_text()
    admin = Path(before.split(": ", 1)[1].strip())
    outcome = call(box, f"echo 'gitdir: /tmp' > .git; echo x > {admin}/HEAD")
    assert outcome.is_error and "Read-only file system" in outcome.content
    assert (worktree / ".git").read_text() == before
    assert len((admin / "HEAD").read_text().strip()) > 1 and "x" != (admin / "HEAD").read_text().strip()
    status = call(box, "git status --short && git log --oneline -1")
    assert not status.is_error and "initial" in status.content, status.content


@needs_bwrap
def test_own_pid_namespace_and_toolchains_work(worktree):
    box = Toolbox(worktree, tool_env({"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}))
    procs = call(box, "ls /proc | grep -c '^[0-9]'")
    assert not procs.is_error and int(procs.content.strip()) <= 5, procs.content
    py = call(box, "python -c 'import rich, anthropic; print(\"ok\")'")
    assert not py.is_error and py.content.strip() == "ok", py.content


@needs_bwrap
def test_no_job_of_a_shell_call_outlives_it(worktree):
    """What the staged commit relies on (swarm.git.snapshot): once a call has returned, nothing it started
    writes in the worktree, however the job tried to get away (background, nohup, setsid, double fork)."""
    import time

    box = Toolbox(worktree, tool_env())
    tries = ["(sleep 1; echo a > late-a.txt) &", "nohup sh -c 'sleep 1; echo b > late-b.txt' >/dev/null 2>&1 &",
             "setsid sh -c 'sleep 1; echo c > late-c.txt' &", "sh -c '(sleep 1; echo d > late-d.txt) &' &",
             "setsid -f sh -c 'sleep 1; echo e > late-e.txt'"]
    outcome = call(box, "\n".join([*tries, "echo started"]))
    assert not outcome.is_error and "started" in outcome.content, outcome.content
    time.sleep(2.5)
    assert sorted(p.name for p in worktree.glob("late-*")) == []


@needs_bwrap
def test_no_network_unless_the_setting_allows_it(worktree, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            while True:
                listener.accept()[0].close()
        except OSError:
            pass  # closed at the end of the test

    threading.Thread(target=serve, daemon=True).start()
    probe = f"(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo reached || echo unreachable"
    try:
        assert call(Toolbox(worktree, tool_env()), probe).content.strip() == "unreachable"
        monkeypatch.setenv("SWARM_NETWORK", "true")
        assert call(Toolbox(worktree, tool_env()), probe).content.strip() == "reached"
    finally:
        listener.close()


def test_huge_output_is_bounded_while_read_head_and_tail_kept(make_repo, scripted, tmp_path):
    """200 MB of output: swarm stays under 300 MB of memory, writes no big file, and the model gets head and tail."""
    repo = make_repo({"a.py": "x = 1\n"})
    loud = "echo FIRST-LINE; head -c 200000000 /dev/zero | tr '\\0' y; echo; echo LAST-LINE"
    server = scripted({"workers": {"loud": [turn(tool("bash", command=loud)), turn(text("Printed a lot."))]}})
    plan = write_plan(tmp_path / "plan.json", {"task": "Loud", "subtasks": [{"id": "loud", "instructions": "Shout."}]})
    # A fresh parent process, so its children's peak memory is swarm's own (and its tools').
    measure = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")
    env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test-secret-key-123456"}
    proc = subprocess.run([sys.executable, "-c", measure, sys.executable, "-m", "swarm", "run", "--plan", str(plan),
                           "--json"], cwd=repo, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    peak_kb = int(proc.stdout.strip().splitlines()[-1])
    assert peak_kb < 300 * 1024, f"swarm peaked at {peak_kb // 1024} MB"
    second = [r for r in server.requests if r["key"] == "loud" and r["turn"] == 1][0]["body"]
    result = json.dumps(second["messages"][-1]["content"])
    assert "FIRST-LINE" in result and "LAST-LINE" in result and "bytes left out of 2000000" in result
    assert len(result) < 40_000
    records = sum(p.stat().st_size for p in (repo / ".swarm").rglob("*") if p.is_file())
    assert records < 2_000_000


def test_command_subtask_timeout_is_a_setting(make_repo, tmp_path):
    repo = make_repo({"a.py": "x = 1\n"})
    plan = write_plan(tmp_path / "plan.json", {"task": "Slow", "subtasks": [
        {"id": "slow", "command": "sleep 30"}]})
    proc = swarm(repo, "run", "--plan", str(plan), "--json", env={"SWARM_COMMAND_TIMEOUT": "1"}, timeout=60)
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["subtasks"][0]["state"] == "failed"
    assert "timed out after 1s" in json.dumps(result)


@needs_bwrap
def test_command_subtasks_and_the_test_check_run_agents_code_sandboxed(make_repo, scripted, tmp_path, monkeypatch):
    """A command subtask, and the test check's run of the merged tree (where an agent's conftest.py runs on
    collection), cannot write outside their worktree: agents' code never runs with the user's rights."""
    monkeypatch.setenv("SWARM_SANDBOX", "auto")
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = make_repo({"a.py": "x = 1\n", "tests/test_a.py": "def test_a():\n    assert True\n"})
    conftest = f"import pathlib\ntry:\n    pathlib.Path({str(outside / 'from-conftest')!r}).write_text('x')\nexcept OSError:\n    pass\n"
    plan = write_plan(tmp_path / "plan.json", {"task": "t", "test_command": "python -m pytest -q tests", "subtasks": [
        {"id": "cmd", "title": "cmd", "command": f"echo x > {outside / 'from-command'} || echo refused > refused.txt",
         "files": ["refused.txt"]},
        {"id": "agent", "instructions": "add a conftest", "files": ["tests/conftest.py"]}]})
    server = scripted({"workers": {"agent": [turn(tool("write", file_path="tests/conftest.py", content=conftest)),
                                             turn(text("Done."))]}})
    swarm(repo, "run", "--plan", str(plan), "--json", server=server)
    result = json.loads((max((repo / ".swarm" / "runs").glob("*/result.json"))).read_text())
    assert {s["id"]: s["state"] for s in result["subtasks"]} == {"cmd": "done", "agent": "done"}
    assert "test" in result["checks"] or result["checks"]  # the test check ran on the merged tree
    assert list(outside.iterdir()) == []
    assert git(repo, "show", f"{result['merged_branch']}:refused.txt") == "refused"
