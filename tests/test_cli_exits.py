"""Exit codes a shell sees: a --max-cost stop (3, the planner's spend counted), a declined estimate on a terminal
(1, nothing spent), Ctrl-C in every command (130, one line, no traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import swarm, swarm_process, text, tool, turn, write_plan

# The planner's plan carries a command subtask with long notes: the planner's answer costs more than the agent.
NOTES = "Keep the formatting exactly as the project has it. " * 300
PLAN = {"task": "Write a.txt", "subtasks": [
    {"id": "a", "title": "Write a", "instructions": "Write a.txt", "files": ["a.txt"]},
    {"id": "fmt", "title": "Format", "instructions": NOTES, "command": "true", "depends_on": ["a"]}]}
WORKER = [turn(tool("write", file_path="a.txt", content="A\n")), turn(text("Wrote a.txt."))]


def test_the_planners_spend_counts_toward_max_cost_and_a_ceiling_stop_exits_3(make_repo, scripted, tmp_path):
    repo = make_repo({"README.md": "# r\n"})
    # The same plan from a file, without the planner, runs to its end under a $0.02 ceiling ...
    alone = scripted({"workers": {"a": WORKER}})
    fromfile = swarm_process(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", PLAN)), "--max-cost", "0.02",
                             "--json", server=alone)
    assert fromfile.returncode == 0, fromfile.stderr
    assert json.loads(fromfile.stdout)["usage"]["cost_usd"] < 0.02
    # ... but planned, the planner's answer (its long notes) has spent more than the ceiling already.
    server = scripted({"planner": PLAN, "workers": {"a": WORKER}})
    proc = swarm_process(repo, "run", "Write a.txt", "--max-cost", "0.02", server=server)
    assert proc.returncode == 3, proc.stderr
    assert not [r for r in server.requests if r["role"] == "worker"]  # no agent call was made
    line = re.search(r"stopped by the cost ceiling: spent \$([\d.]+) of --max-cost \$([\d.]+)[^\n]*", proc.stderr)
    assert line, proc.stderr
    assert float(line.group(1)) > 0.02 and float(line.group(2)) == 0.02
    rid = re.search(r"`swarm resume (\S+) --max-cost <higher>`", line.group(0)).group(1)
    result = json.loads((repo / ".swarm/runs" / rid / "result.json").read_text())
    assert result["state"] == "interrupted" and round(result["usage"]["cost_usd"], 4) == float(line.group(1))
    assert "Traceback" not in proc.stderr, proc.stderr
    # Raised, the run goes on from where it stopped.
    resumed = swarm_process(repo, "resume", rid, "--max-cost", "5", server=server)
    assert resumed.returncode == 0, resumed.stderr
