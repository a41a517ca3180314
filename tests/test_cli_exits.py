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


def _on_a_terminal(repo, *args: str, server, answer: bytes | None, env: dict[str, str] | None = None,
                   timeout: float = 60) -> tuple[int, str]:
    """Run `swarm` with a pseudo-terminal as its stdin, stdout, stderr and controlling terminal; type `answer`
    once it asks (None: never expected to ask). Returns the exit code and everything the terminal showed."""
    import fcntl
    import pty
    import select
    import termios
    import time

    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    full_env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test", "COLUMNS": "200",
                **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "swarm", *args], cwd=repo, env=full_env, stdin=slave,
                            stdout=slave, stderr=slave, preexec_fn=controlling_terminal)
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
                if answer is not None and b"Go on? [y/N]" in shown:
                    os.write(master, answer)
                    answer = None
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        proc.kill()
        os.close(master)
    return code, shown.decode(errors="replace").replace("\r\n", "\n")


CHEAP = {"SWARM_CONFIRM_ABOVE_USD": "0.001"}  # the agent's estimate (about $0.06) is above it


def test_on_a_terminal_a_run_above_the_threshold_asks_and_no_spends_nothing(make_repo, scripted, tmp_path):
    repo = make_repo({"README.md": "# r\n"})
    server = scripted({"workers": {"a": WORKER}})
    plan = str(write_plan(tmp_path / "plan.json", PLAN))
    code, shown = _on_a_terminal(repo, "run", "--plan", plan, server=server, answer=b"n\n", env=CHEAP)
    assert code == 1, shown
    assert re.search(r"Estimated \$\d+\.\d\d for 1 agent\. Go on\? \[y/N\]", shown), shown
    assert "not run: nothing spent on agents" in shown and "--yes" in shown and "Traceback" not in shown
    assert not server.requests and not (repo / ".swarm/runs").exists()
    # Yes: the run goes on, and merges.
    code, shown = _on_a_terminal(repo, "run", "--plan", plan, server=server, answer=b"y\n", env=CHEAP)
    assert code == 0, shown
    assert "Go on?" in shown and [r for r in server.requests if r["role"] == "worker"]


def test_a_declined_planned_run_keeps_the_plan_it_paid_for(make_repo, scripted):
    repo = make_repo({"README.md": "# r\n"})
    server = scripted({"planner": PLAN, "workers": {"a": WORKER}})
    code, shown = _on_a_terminal(repo, "run", "Write a.txt", server=server, answer=b"\n", env=CHEAP)  # Enter: no
    assert code == 1, shown
    assert "the planner's $" in shown and "swarm run --plan .swarm/declined-plan.json" in shown
    assert not [r for r in server.requests if r["role"] == "worker"]
    kept = json.loads((repo / ".swarm/declined-plan.json").read_text())
    assert [s["id"] for s in kept["subtasks"]] == ["a", "fmt"]
    assert swarm(repo, "run", "--plan", ".swarm/declined-plan.json", server=server).returncode == 0


def test_yes_zero_a_low_estimate_or_no_terminal_never_ask(make_repo, scripted, tmp_path):
    repo = make_repo({"README.md": "# r\n"})
    server = scripted({"workers": {"a": WORKER}})
    plan = str(write_plan(tmp_path / "plan.json", PLAN))
    for args, env in ((["--yes"], CHEAP), (["-y"], CHEAP), ([], {"SWARM_CONFIRM_ABOVE_USD": "0"}), ([], {})):
        code, shown = _on_a_terminal(repo, "run", "--plan", plan, *args, server=server, answer=None, env=env)
        assert code == 0 and "Go on?" not in shown, (args, env, shown)
    # Not on a terminal (a script, CI): never asked, whatever the estimate; stdin is not even read.
    piped = subprocess.run([sys.executable, "-m", "swarm", "run", "--plan", plan], cwd=repo, input="n\n",
                           env={**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "k", **CHEAP},
                           capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and "Go on?" not in piped.stderr + piped.stdout, piped.stderr


def test_a_bad_threshold_is_one_line_and_exit_2(make_repo, scripted, tmp_path):
    repo = make_repo({"README.md": "# r\n"})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", PLAN)),
                 env={"SWARM_CONFIRM_ABOVE_USD": "cheap"}, server=scripted({}))
    assert proc.returncode == 2 and "SWARM_CONFIRM_ABOVE_USD" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
