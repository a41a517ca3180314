"""`swarm watch` with no run going waits for the next run of this repository, follows it, and ends with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from conftest import swarm, write_plan

FILES = {"a.py": "A = 1\n"}


def test_watch_waits_for_a_run_started_after_it(make_repo, tmp_path):
    repo = make_repo(FILES)
    old = {"task": "Old", "subtasks": [{"id": "old", "title": "Old", "command": "echo old > old.txt"}]}
    earlier = json.loads(swarm(repo, "run", "--plan", str(write_plan(tmp_path / "old.json", old)), "--json").stdout)
    watcher = subprocess.Popen([sys.executable, "-m", "swarm", "watch"], cwd=repo, env=dict(os.environ),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.0)  # long enough for the watcher to have looked and found nothing going
        assert watcher.poll() is None, watcher.communicate()  # it waits instead of ending
        new = {"task": "New", "subtasks": [{"id": "slow", "title": "Slow", "command": "sleep 1; echo x > x.txt"}]}
        proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "new.json", new)), "--json")
        assert proc.returncode == 0, proc.stderr
        run_id = json.loads(proc.stdout)["run_id"]
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    assert "waiting for the next one" in err and f"following run {run_id}" in err
    assert f"run {run_id} done" in out and earlier["run_id"] not in out
    assert f"swarm review {run_id}" in out and f"swarm apply {run_id}" in out
