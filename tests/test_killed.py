"""Never lose work: a killed run reads `interrupted`, `clean` refuses it, `--force` keeps its uncommitted edits,
two Ctrl-C's exit 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import git, wait_for, swarm, text, tool, turn, write_plan


def _start(repo: Path, plan: Path, server) -> subprocess.Popen[str]:
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test-secret-key-123456"}
    return subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan", str(plan)], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_then_status_says_interrupted_and_clean_keeps_the_edit(make_repo, scripted, tmp_path):
    repo = make_repo({"a.py": "x = 1\n"})
    server = scripted({"workers": {"slow": [
        turn(tool("write", file_path="edit.txt", content="only here\n")),
        turn(text("never sent"), delay=60)]}})
    plan = write_plan(tmp_path / "plan.json", {"task": "Edit", "subtasks": [{"id": "slow", "instructions": "Edit."}]})
    proc = _start(repo, plan, server)
    worktrees = tmp_path / "xdg-cache" / "swarm" / "worktrees"
    try:
        wait_for(lambda: any(worktrees.rglob("edit.txt")))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    status = swarm(repo, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["state"] == "interrupted" and data["subtasks"][0]["state"] == "interrupted"
    shown = swarm(repo, "status")
    assert "interrupted" in shown.stdout and f"swarm resume {data['run_id']}" in shown.stdout
    # It could be resumed: clean refuses without --force, and removes nothing.
    refused = swarm(repo, "clean", data["run_id"])
    assert refused.returncode != 0 and f"swarm resume {data['run_id']}" in refused.stderr, refused.stderr
    assert "--force" in refused.stderr and any(worktrees.rglob("edit.txt"))
    cleaned = swarm(repo, "clean", data["run_id"], "--force")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "uncommitted edits" in cleaned.stdout
    assert not any(worktrees.rglob("edit.txt"))
    ref = f"refs/swarm-rescue/{data['run_id']}"
    assert git(repo, "show", f"{ref}^1:edit.txt") == "only here"
    # The user's branch, index and working tree are untouched.
    assert git(repo, "status", "--porcelain") == "" and git(repo, "log", "--format=%s") == "initial"


def test_two_ctrl_c_exit_130_like_one(make_repo, scripted, tmp_path):
    repo = make_repo({"a.py": "x = 1\n"})
    server = scripted({"workers": {"slow": [turn(text("never sent"), delay=60)]}})
    plan = write_plan(tmp_path / "plan.json", {"task": "Wait", "subtasks": [{"id": "slow", "instructions": "Wait."}]})
    # One press; two at once; two with the second landing while the first is being handled.
    for n, (presses, gap) in enumerate([(1, 0.0), (2, 0.05), (2, 0.4)], 1):
        proc = _start(repo, plan, server)
        try:
            wait_for(lambda: len([r for r in server.requests if r["key"] == "slow"]) >= n)
            for _ in range(presses):
                proc.send_signal(signal.SIGINT)
                time.sleep(gap)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 130, (presses, gap, err)
        assert "Traceback" not in err, err
