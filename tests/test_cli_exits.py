"""Exit codes a shell sees: a --max-cost stop (3, the planner's spend counted), a declined estimate on a terminal
(1, nothing spent), Ctrl-C in every command (130, one line, no traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Callable

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
                    # A person's pause: a Ctrl-C in the microseconds between the question and its read would
                    # wait for the read (Python checks for signals only when a read is interrupted).
                    time.sleep(0.3)
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
    (repo / "draft.txt").write_text("not committed\n")  # a note the user should read before answering
    server = scripted({"workers": {"a": WORKER}})
    plan = str(write_plan(tmp_path / "plan.json", PLAN))
    code, shown = _on_a_terminal(repo, "run", "--plan", plan, server=server, answer=b"n\n", env=CHEAP)
    assert code == 1, shown
    assert -1 < shown.find("note: 1 uncommitted change(s)") < shown.find("Go on?"), shown
    assert re.search(r"Estimated \$\d+\.\d\d for 1 agent\. Go on\? \[y/N\]", shown), shown
    assert "not run: nothing spent on agents" in shown and "--yes" in shown and "Traceback" not in shown
    assert not server.requests and not (repo / ".swarm/runs").exists()
    # Yes: the run goes on, and merges.
    code, shown = _on_a_terminal(repo, "run", "--plan", plan, server=server, answer=b"y\n", env=CHEAP)
    assert code == 0, shown
    assert "Go on?" in shown and [r for r in server.requests if r["role"] == "worker"]
    assert shown.count("uncommitted change(s)") == 1, shown  # said before the question, not again by the run


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


# -- Ctrl-C ----------------------------------------------------------------------------------------------------

def _slow_git(tmp_path, *, at_load: bool = False) -> tuple[dict[str, str], "os.PathLike[str]"]:
    """A PATH whose `git` marks that it was called, then hangs: the command is inside a git call when the
    terminal's Ctrl-C arrives (as in a slow repository). GitPython runs `git version` while swarm loads:
    that one hangs only `at_load`, the others only after it."""
    import shutil

    folder = tmp_path / ("slow-load" if at_load else "slow-git")
    folder.mkdir(exist_ok=True)
    mark = tmp_path / "git-called"
    real = shutil.which("git")
    passes = '[ "$1" != version ]' if at_load else '[ "$1" = version ]'
    script = folder / "git"
    script.write_text(f"#!/bin/sh\nif {passes}; then exec '{real}' \"$@\"; fi\ntouch '{mark}'\nsleep 60\n"
                      f"exec '{real}' \"$@\"\n")
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}, mark


def _ctrl_c(repo, *args: str, env: dict[str, str], ready: Callable[[str], bool],
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Start `swarm ARGS` in its own process group (stdin a pipe kept open, as a terminal would be), wait until
    `ready(what it printed so far)`, then send SIGINT to the whole group, as a terminal's Ctrl-C does."""
    import signal
    import threading
    import time

    proc = subprocess.Popen([sys.executable, "-m", "swarm", *args], cwd=repo, env={**os.environ, **env},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            process_group=0)
    streams: dict[str, list[str]] = {"out": [], "err": []}
    readers = [threading.Thread(target=lambda f=f, k=k: streams[k].extend(iter(lambda: f.read(1), "")), daemon=True)
               for k, f in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not ready("".join(streams["out"]) + "".join(streams["err"])):
            assert proc.poll() is None, f"exited {proc.returncode} first: {''.join(streams['err'])}"
            assert time.monotonic() < deadline, "timed out waiting"
            time.sleep(0.05)
        time.sleep(0.3)  # a person's pause (see _on_a_terminal)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout)
        for reader in readers:
            reader.join(timeout)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(streams["out"]), "".join(streams["err"]))


def _one_line_130(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 130, f"{proc.args[3:]} exited {proc.returncode}:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and "Aborted!" not in proc.stderr, proc.stderr
    assert "interrupted" in proc.stderr.strip().splitlines()[-1], proc.stderr


COMMANDS = [["run", "--plan", "{plan}"], ["plan", "Write a.txt", "-o", "p.json"], ["watch"], ["status"], ["runs"],
            ["show", "{run}", "a"], ["review"], ["review", "-i"], ["continue", "{run}", "a", "More."], ["apply"],
            ["resume", "{run}"], ["clean", "{run}"], ["config"], ["test", "--", "true"], ["doctor"], ["demo"]]


def test_ctrl_c_inside_any_command_exits_130_with_one_line(make_repo, scripted, tmp_path):
    repo = make_repo({"a.txt": "a\n"})
    server = scripted({"workers": {"a": WORKER}, "planner": PLAN})
    plan = write_plan(tmp_path / "plan.json", {"task": "t", "subtasks": [{"id": "a", "instructions": "Write a."}]})
    done = swarm(repo, "run", "--plan", str(plan), "--json", server=server)
    assert done.returncode == 0, done.stderr
    rid = json.loads(done.stdout)["run_id"]
    for at_load in (True, False):
        env, mark = _slow_git(tmp_path, at_load=at_load)
        env.update(ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="sk-test")
        for command in COMMANDS if not at_load else COMMANDS[:1]:
            mark.unlink(missing_ok=True)
            args = [a.format(plan=plan, run=rid) for a in command]
            _one_line_130(_ctrl_c(repo, *args, env=env, ready=lambda _: mark.exists()))
    # Nothing a Ctrl-C'd command had begun is left half done: the run is as it was.
    assert swarm(repo, "status", rid).returncode == 0


def _model_env(server) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test"}


def _snapshot(repo) -> tuple[str, list[str]]:
    """Every ref and every record file: what a command that changed nothing leaves as it was."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)"], cwd=repo,
                          capture_output=True, text=True, check=True).stdout
    return refs, sorted(str(p.relative_to(repo)) + f" {p.stat().st_size}" for p in (repo / ".swarm").rglob("*")
                        if p.is_file())


def test_ctrl_c_at_a_review_i_question_builds_nothing_and_changes_nothing(make_repo, tmp_path):
    repo = make_repo({"a.py": "def a():\n    return 1\n", "b.py": "def b():\n    return 2\n"})
    plan = write_plan(tmp_path / "plan.json", {"task": "Edits", "subtasks": [
        {"id": "left", "title": "A", "command": "sed -i 's/return 1/return 10/' a.py"},
        {"id": "right", "title": "B", "command": "sed -i 's/return 2/return 20/' b.py"}]})
    assert swarm(repo, "run", "--plan", str(plan)).returncode == 0
    before = _snapshot(repo)
    # Ctrl-C at the first question: like `git add -p`, nothing is kept, built or recorded.
    proc = _ctrl_c(repo, "review", "-i", env={}, ready=lambda shown: shown.count("keep this") >= 1)
    _one_line_130(proc)
    assert "reviewed" not in proc.stdout and _snapshot(repo) == before
    assert swarm(repo, "apply", "--stage").returncode == 0  # the merged result, all of it: no review was made
    assert subprocess.run(["git", "diff", "--cached", "--stat"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.count("|") == 2


def test_ctrl_c_while_planning_waiting_for_an_agent_watching_or_testing_exits_130(make_repo, scripted, tmp_path):
    repo = make_repo({"a.txt": "a\n"})
    server = scripted({"planner": PLAN, "delay": 0, "workers": {
        # The follow-up's answer (its third turn) is a minute away.
        "a": [turn(tool("write", file_path="a.txt", content="A\n")), turn(text("Wrote a.")),
              turn(text("never sent"), delay=60)]}})
    env = _model_env(server)
    planned = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", {"task": "t", "subtasks": [
        {"id": "a", "instructions": "Write a."}]})), "--json", server=server)
    rid = json.loads(planned.stdout)["run_id"]
    slow = scripted({"planner": [], "delay": 60})
    cases = [
        # The planner's answer is a minute away.
        (["plan", "Write a.txt", "-o", "p2.json"], _model_env(slow), lambda _: slow.requests),
        # The follow-up's agent is waiting for the model.
        (["continue", rid, "a", "More, please."], env,
         lambda _: len([r for r in server.requests if r["key"] == "a"]) >= 3),
        # No run going: watch waits for the next one.
        (["watch"], env, lambda shown: "waiting" in shown),
        # A shard is running the project's tests.
        (["test", "--", "sleep", "60"], env, lambda shown: "running" in shown),
    ]
    for args, case_env, ready in cases:
        before = len(slow.requests)
        proc = _ctrl_c(repo, *args, env=case_env, ready=lambda shown: ready(shown) and (
            args[0] != "plan" or len(slow.requests) > before))
        _one_line_130(proc)
    assert not (repo / "p2.json").exists()


def test_ctrl_c_at_the_spending_question_exits_130(make_repo, scripted, tmp_path):
    repo = make_repo({"README.md": "# r\n"})
    server = scripted({"workers": {"a": WORKER}})
    plan = str(write_plan(tmp_path / "plan.json", PLAN))
    code, shown = _on_a_terminal(repo, "run", "--plan", plan, server=server, answer=b"\x03", env=CHEAP)
    assert code == 130, shown
    assert "interrupted" in shown.strip().splitlines()[-1] and "Traceback" not in shown and "Aborted" not in shown
    assert not server.requests


def test_run_help_lists_the_exit_codes_and_names_its_values(make_repo):
    repo = make_repo({"a.txt": "a\n"})
    for command in ("run", "resume"):
        shown = swarm(repo, command, "--help", env={"COLUMNS": "100"}).stdout
        codes = shown.split("Exit codes:")[1]
        assert [line.split()[0] for line in codes.strip().splitlines()] == ["0", "1", "2", "3", "130"]
        assert "--max-cost" in codes and "Ctrl-C" in codes
        assert "INTEGER" not in shown and " TEXT " not in shown, shown
    shown = swarm(repo, "run", "--help").stdout
    assert "--base REF" in shown and "--concurrency N" in shown and "--model NAME" in shown and "-y, --yes" in shown
